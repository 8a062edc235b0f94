"""The LangGraph Server graph on a thread: which rows of the thread table hold there, and how.

LangGraph Server compiles ``make_graph``'s graph with its own checkpointer and applies a run's
input to the thread before any fusion code runs, so the rule of ``Fusion.plan`` cannot be put in
front of it. These tests drive the same graph the way the server does (``ainvoke(input)`` for a
run, ``ainvoke(None)`` to resume) and pin what ``langgraph_app``'s docstring says about each row.
"""

from __future__ import annotations

from typing import Any

import pytest
from langchain_core.messages import HumanMessage
from langgraph.checkpoint.memory import InMemorySaver

from fusion_graph import FusionConfig, Judge, JudgeFailed, Member
from fusion_graph.server.langgraph_app import make_graph
from fusion_graph.testing import ScriptedChatModel

RUN = {"configurable": {"thread_id": "t"}}


class Pool:
    def __init__(self) -> None:
        self.alpha = ScriptedChatModel(script=["alpha: no"], cycle=True)
        self.beta = ScriptedChatModel(script=["beta: no"], cycle=True)
        self.judge_down = False
        self.config = FusionConfig(
            pool=[Member(self.alpha, name="alpha"), Member(self.beta, name="beta")],
            judge=Judge(ScriptedChatModel(structured=self._verdict), name="judge"),
            judge_free_fallback=False,
        )

    def _verdict(self, schema: dict[str, Any], messages: list[Any]) -> None:
        if self.judge_down:
            raise RuntimeError("judge down")
        return None

    def member_calls(self) -> int:
        return len(self.alpha.calls) + len(self.beta.calls)


@pytest.fixture
def pool(monkeypatch: pytest.MonkeyPatch) -> Pool:
    """The pool make_graph serves (its file loader returns it), compiled as LangGraph Server does."""
    pool = Pool()
    monkeypatch.setenv("FUSION_LANGGRAPH_CONFIG", "fusions.toml")
    monkeypatch.setattr(
        "fusion_graph.server.langgraph_app.load_fusions", lambda path: {"fusion": pool.config}
    )
    pool.graph = make_graph({}).compile(checkpointer=InMemorySaver())  # type: ignore[attr-defined]
    return pool


def ask(text: str) -> dict[str, Any]:
    return {"messages": [{"role": "user", "content": text}]}


async def test_new_messages_on_a_finished_thread_are_the_next_turn(pool):
    await pool.graph.ainvoke(ask("Is 1001 prime?"), RUN)
    state = await pool.graph.ainvoke(ask("And 1003?"), RUN)
    assert [m.type for m in state["messages"]] == ["human", "ai", "human", "ai"]
    assert len(state["candidates"]) == 2  # only this turn's answers


async def test_messages_sent_back_with_their_ids_are_not_appended_again(pool):
    first = await pool.graph.ainvoke(ask("Is 1001 prime?"), RUN)
    echoed = [*first["messages"], HumanMessage("And 1003?")]  # what a client read from the thread
    state = await pool.graph.ainvoke({"messages": echoed}, RUN)
    assert [m.type for m in state["messages"]] == ["human", "ai", "human", "ai"]


async def test_a_failed_thread_resumes_with_no_input(pool):
    pool.judge_down = True
    with pytest.raises(JudgeFailed):
        await pool.graph.ainvoke(ask("Is 1001 prime?"), RUN)
    pool.judge_down = False
    calls = pool.member_calls()
    state = await pool.graph.ainvoke(None, RUN)  # runs.create(thread_id, "fusion", input=None)
    assert state["answer"] in {"alpha: no", "beta: no"}
    assert pool.member_calls() == calls


async def test_what_langgraph_server_does_where_the_rule_cannot_apply(pool):
    """Documented in langgraph_app: input is applied to the thread before the graph runs."""
    await pool.graph.ainvoke(ask("Is 1001 prime?"), RUN)
    calls = pool.member_calls()
    # the same prompt again is another turn (read a stored result with threads.get_state instead)
    state = await pool.graph.ainvoke(ask("Is 1001 prime?"), RUN)
    assert pool.member_calls() == calls + 2
    assert [m.type for m in state["messages"]] == ["human", "ai", "human", "ai"]
    # new input on a failed thread drops its unfinished run: the pending prompt is answered
    # together with the new one, the members asked again (resume with input=None instead)
    pool.judge_down = True
    with pytest.raises(JudgeFailed):
        await pool.graph.ainvoke(ask("And 1003?"), RUN)
    pool.judge_down = False
    calls = pool.member_calls()
    state = await pool.graph.ainvoke(ask("And 1007?"), RUN)
    assert pool.member_calls() == calls + 2
    assert [m.content for m in state["messages"][-3:-1]] == ["And 1003?", "And 1007?"]
