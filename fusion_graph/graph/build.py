"""The fusion as a LangGraph ``StateGraph``."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from langchain_core.runnables import RunnableConfig
from langchain_core.tools import BaseTool
from langgraph.graph import END, START, StateGraph
from langgraph.types import Overwrite, Send

from fusion_graph._threads import is_finished, thread_conflict
from fusion_graph.config import FusionConfig
from fusion_graph.graph._runtime import FusionRuntime, ToolSource, build_runtime
from fusion_graph.graph.nodes.gather import fan_out, make_gather_node, make_router, needs_gather_node
from fusion_graph.graph.nodes.judge import make_judge_node
from fusion_graph.graph.nodes.member import make_member_node
from fusion_graph.state import FusionInput, FusionState, MemberTask, RefusedTurn

__all__ = ["build_graph", "create_fusion_graph"]


def create_fusion_graph(
    config: FusionConfig,
    *,
    tools: ToolSource | Sequence[BaseTool | Callable[..., Any]] | None = None,
    bound_tools: Sequence[dict[str, Any]] | None = None,
    tool_choice: Any = None,
    keeps_state: bool = True,
) -> StateGraph[FusionState, None, FusionInput, FusionState]:
    """Build the fusion graph, uncompiled, so the caller chooses checkpointer and embedding.

    ::

        START ─▶ start ─Send×N─▶ member ─▶ gather ─┬─(scouts disagreed: the rest of the pool)─▶ member
                                                    ├─(debate, not agreed, round < rounds)─Send×N─▶ member
                                                    └─▶ judge ─▶ END

    Without debate rounds or scouts there is nothing to route: ``member ─▶ judge`` and the judge
    ends the round (quorum check) itself. On a thread whose last turn is answered already (the
    same prompt sent again), ``start`` goes straight to ``END`` and the run returns the stored
    state; see :func:`~fusion_graph.state.add_turn` for how input joins a thread.

    Args:
        config: The pool, the judge and the mode.
        tools: A ``ToolRegistry`` (each member gets the tools it is allowed) or a list of LangChain
            tools / plain functions given to every member.
        bound_tools: OpenAI-format tool schemas the fused answer may call, asked for and not
            executed (what ``FusionChatModel.bind_tools`` binds): the answer's tool calls are
            returned to the caller, as a chat model's are.
        tool_choice: The ``tool_choice`` that goes with ``bound_tools`` (``"auto"``, ``"any"``,
            ``"required"``, a tool name or an OpenAI tool-choice dict).
        keeps_state: Whether state may outlive a run (a checkpointer, or embedding in a graph that
            has one): then a ``start`` node clears what the previous run on the thread left, or
            ends the run on a thread already answered. ``False`` only for a graph compiled without
            a checkpointer and not embedded: every run starts from empty state, one superstep fewer.

    Returns:
        The uncompiled graph. Its input is ``{"messages": [...]}``; it appends one ``AIMessage`` with
        the fused answer to ``messages`` and keeps candidates, verdict and usage in its state.

    Raises:
        ConfigError: A model cannot be resolved (unknown provider, missing extra or API key).

    Example:
        >>> graph = create_fusion_graph(config).compile()
        >>> state = await graph.ainvoke({"messages": [("user", "Is 1001 prime?")]})
    """
    runtime = build_runtime(config, tools, bound_tools=list(bound_tools or []), tool_choice=tool_choice)
    return build_graph(runtime, keeps_state=keeps_state)


def start_run(state: FusionState, config: RunnableConfig) -> dict[str, Any]:
    """Clear what a previous run on the same thread left, so each run fuses only its own answers.

    The thread rule's graph side (see :func:`~fusion_graph.state.add_turn`): a thread whose last
    turn is answered keeps its state (the run ends on the stored answer), and input that the
    ``messages`` reducer refused is a :class:`~fusion_graph.ThreadConflict`. The lists that
    parallel branches append to (``candidates``, ``judge_calls``) are emptied with LangGraph's
    ``Overwrite``, which passes their ``operator.add`` reducer by.

    Raises:
        ThreadConflict: The thread's turn is unfinished and the run's input asks something else.
    """
    messages = state["messages"]
    if isinstance(messages, RefusedTurn):
        thread_id = str((config.get("configurable") or {}).get("thread_id", ""))
        raise thread_conflict(
            messages, messages.rejected, finished=False, thread_id=thread_id, field="messages"
        )
    if is_finished(dict(state)):
        return {}
    return {
        "candidates": Overwrite([]),
        "judge_calls": Overwrite([]),
        "round": 0,
        "agreement": None,
        "converged": False,
        "labels": {},
        "verdict": None,
        "winner_member": None,
        "answer_tool_calls": [],
        "escalated": None,
        "evidence": None,
    }


def route_start(runtime: FusionRuntime) -> Callable[[FusionState], list[Send] | str]:
    """After ``start``: the members' first round, or the end when the thread is answered already."""
    first_round = fan_out(runtime)

    def route(state: FusionState) -> list[Send] | str:
        return END if is_finished(dict(state)) else first_round(state)

    return route


def build_graph(
    runtime: FusionRuntime, *, keeps_state: bool = True
) -> StateGraph[FusionState, None, FusionInput, FusionState]:
    """Build the graph from resolved models.

    Args:
        runtime: The resolved models and settings.
        keeps_state: Whether state may outlive a run (a checkpointer, or embedding in a graph that
            has one): then a ``start`` node clears what the previous run on the thread left
            (or ends the run on a thread already answered, see :func:`start_run`). A
            :class:`~fusion_graph.Fusion` without a checkpointer starts from empty state every run
            and saves that superstep.
    """
    graph = StateGraph(FusionState, input_schema=FusionInput)
    graph.add_node("member", make_member_node(runtime), input_schema=MemberTask)
    graph.add_node("judge", make_judge_node(runtime))
    if keeps_state:
        graph.add_node("start", start_run)
        graph.add_edge(START, "start")
        graph.add_conditional_edges("start", route_start(runtime), ["member", END])
    else:
        graph.add_conditional_edges(START, fan_out(runtime), ["member"])
    if needs_gather_node(runtime):
        graph.add_node("gather", make_gather_node(runtime))
        graph.add_edge("member", "gather")
        graph.add_conditional_edges("gather", make_router(runtime), ["member", "judge"])
    else:  # one round and no routing: the judge ends the round itself, one superstep fewer
        graph.add_edge("member", "judge")
    graph.add_edge("judge", END)
    return graph
