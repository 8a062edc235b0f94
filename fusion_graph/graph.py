"""The fusion as a LangGraph ``StateGraph``."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from langchain_core.tools import BaseTool
from langgraph.graph import END, START, StateGraph

from fusion_graph._runtime import FusionRuntime, ToolSource, build_runtime
from fusion_graph.config import FusionConfig
from fusion_graph.nodes.gather import fan_out, make_gather_node, make_router
from fusion_graph.nodes.judge import make_judge_node
from fusion_graph.nodes.member import make_member_node
from fusion_graph.state import FusionInput, FusionState

__all__ = ["build_graph", "create_fusion_graph"]


def create_fusion_graph(
    config: FusionConfig,
    *,
    tools: ToolSource | Sequence[BaseTool | Callable[..., Any]] | None = None,
) -> StateGraph[FusionState, None, FusionInput, FusionState]:
    """Build the fusion graph, uncompiled, so the caller chooses checkpointer and embedding.

    ::

        START ─▶ start ─Send×N─▶ member ─▶ gather ─┬─(debate, not agreed, round < rounds)─Send×N─▶ member
                                          └─▶ judge ─▶ END

    Args:
        config: The pool, the judge and the mode.
        tools: A ``ToolRegistry`` (each member gets the tools it is allowed) or a list of LangChain
            tools / plain functions given to every member.

    Returns:
        The uncompiled graph. Its input is ``{"messages": [...]}``; it appends one ``AIMessage`` with
        the fused answer to ``messages`` and keeps candidates, verdict and usage in its state.

    Raises:
        ConfigError: A model cannot be resolved (unknown provider, missing extra or API key).

    Example:
        >>> graph = create_fusion_graph(config).compile()
        >>> state = await graph.ainvoke({"messages": [("user", "Is 1001 prime?")]})
    """
    return build_graph(build_runtime(config, tools))


def start_run(state: FusionState) -> dict[str, Any]:
    """Clear what a previous run on the same thread left, so each run fuses only its own answers."""
    return {
        "candidates": None,
        "judge_calls": None,
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


def build_graph(runtime: FusionRuntime) -> StateGraph[FusionState, None, FusionInput, FusionState]:
    """Build the graph from resolved models."""
    graph = StateGraph(FusionState, input_schema=FusionInput)
    graph.add_node("start", start_run)
    graph.add_node("member", make_member_node(runtime))  # pyright: ignore[reportArgumentType]
    graph.add_node("gather", make_gather_node(runtime))  # pyright: ignore[reportArgumentType]
    graph.add_node("judge", make_judge_node(runtime))  # pyright: ignore[reportArgumentType]
    graph.add_edge(START, "start")
    graph.add_conditional_edges("start", fan_out(runtime), ["member"])
    graph.add_edge("member", "gather")
    if runtime.config.mode == "debate" or runtime.config.scouts:
        graph.add_conditional_edges("gather", make_router(runtime), ["member", "judge"])
    else:
        graph.add_edge("gather", "judge")
    graph.add_edge("judge", END)
    return graph
