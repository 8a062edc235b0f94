"""The LangGraph Server graph on a thread: the thread table holds there too.

LangGraph Server compiles ``make_graph``'s graph with its own checkpointer and applies a run's
input to the thread before any node runs, so ``Fusion.plan`` cannot sit in front of it: the
graph's ``messages`` reducer (``state.add_turn``) and its ``start`` node apply the rule instead.
These tests drive the same graph the way the server does (``ainvoke(input)`` for a run,
``ainvoke(None)`` to resume), on InMemorySaver and on a real SQLite file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from langchain_core.messages import HumanMessage
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver

from fusion_graph import JudgeFailed, ThreadConflict
from fusion_graph.server.langgraph_app import make_graph
from tests._pools import SwitchableJudgePool

RUN = {"configurable": {"thread_id": "t"}}
ANSWERS = {"alpha: no", "beta: no"}


class Pool(SwitchableJudgePool):
    def __init__(self) -> None:
        super().__init__(("alpha: no", "beta: no"), judge_name="judge")
        self.graph: Any = None

    async def turns(self) -> list[tuple[str, str]]:
        state = await self.graph.aget_state(RUN)
        return [(m.type, str(m.content)) for m in state.values["messages"]]


@pytest.fixture(params=["memory", "sqlite"])
async def pool(request, monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    """The pool make_graph serves (its file loader returns it), compiled as LangGraph Server does."""
    pool = Pool()
    monkeypatch.setenv("FUSION_LANGGRAPH_CONFIG", "fusions.toml")
    monkeypatch.setattr(
        "fusion_graph.server.langgraph_app.load_fusions", lambda path: {"fusion": pool.config}
    )
    if request.param == "memory":
        pool.graph = make_graph({}).compile(checkpointer=InMemorySaver())
        yield pool
        return
    async with AsyncSqliteSaver.from_conn_string(str(tmp_path / "threads.sqlite")) as saver:
        pool.graph = make_graph({}).compile(checkpointer=saver)
        yield pool


def ask(*texts: str) -> dict[str, Any]:
    return {"messages": [{"role": "user", "content": text} for text in texts]}


# --- a finished thread --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "again",
    [
        pytest.param(lambda answer: ask("Is 1001 prime?"), id="the prompt"),
        pytest.param(
            lambda answer: {
                "messages": [
                    {"role": "user", "content": "Is 1001 prime?"},
                    {"role": "assistant", "content": answer},
                ]
            },
            id="the thread, as an OpenAI client echoes it",
        ),
    ],
)
async def test_the_same_prompt_on_a_finished_thread_is_the_stored_state(pool, again):
    first = await pool.graph.ainvoke(ask("Is 1001 prime?"), RUN)
    calls = pool.model_calls()
    state = await pool.graph.ainvoke(again(first["answer"]), RUN)
    assert pool.model_calls() == calls  # no member, no judge
    assert state["answer"] == first["answer"]
    assert state["candidates"] == first["candidates"] and state["verdict"] == first["verdict"]
    assert [m.id for m in state["messages"]] == [m.id for m in first["messages"]]


async def test_the_last_turn_asked_again_is_stored_an_older_one_is_a_new_turn(pool):
    await pool.graph.ainvoke(ask("Is 1001 prime?"), RUN)
    await pool.graph.ainvoke(ask("And 1003?"), RUN)
    calls = pool.model_calls()
    await pool.graph.ainvoke(ask("And 1003?"), RUN)
    assert pool.model_calls() == calls
    members = pool.member_calls()
    await pool.graph.ainvoke(ask("Is 1001 prime?"), RUN)
    assert pool.member_calls() == members + 2
    humans = [text for kind, text in await pool.turns() if kind == "human"]
    assert humans == ["Is 1001 prime?", "And 1003?", "Is 1001 prime?"]


async def test_new_messages_on_a_finished_thread_are_the_next_turn(pool):
    await pool.graph.ainvoke(ask("Is 1001 prime?"), RUN)
    state = await pool.graph.ainvoke(ask("And 1003?"), RUN)
    assert [m.type for m in state["messages"]] == ["human", "ai", "human", "ai"]
    assert len(state["candidates"]) == 2  # only this turn's answers


async def test_a_whole_history_without_ids_appends_only_what_is_new(pool):
    first = await pool.graph.ainvoke(ask("Is 1001 prime?"), RUN)
    history = [
        {"role": "user", "content": "Is 1001 prime?"},
        {"role": "assistant", "content": first["answer"]},  # no name, no id: compared by role and text
        {"role": "user", "content": "And 1003?"},
    ]
    state = await pool.graph.ainvoke({"messages": history}, RUN)
    assert [m.type for m in state["messages"]] == ["human", "ai", "human", "ai"]
    assert state["messages"][0].id == first["messages"][0].id
    # the fusion was asked the conversation once, not the first question twice
    assert [m.text for m in pool.alpha.calls[-1] if m.type == "human"] == ["Is 1001 prime?", "And 1003?"]


async def test_messages_sent_back_with_their_ids_are_not_appended_again(pool):
    first = await pool.graph.ainvoke(ask("Is 1001 prime?"), RUN)
    echoed = [*first["messages"], HumanMessage("And 1003?")]  # what a client read from the thread
    state = await pool.graph.ainvoke({"messages": echoed}, RUN)
    assert [m.type for m in state["messages"]] == ["human", "ai", "human", "ai"]


# --- an interrupted or failed thread ------------------------------------------------------------


async def fail_at_the_judge(pool: Pool, *texts: str) -> int:
    pool.judge_down = True
    with pytest.raises(JudgeFailed):
        await pool.graph.ainvoke(ask(*texts), RUN)
    pool.judge_down = False
    return pool.member_calls()


async def test_a_failed_thread_resumes_with_no_input(pool):
    calls = await fail_at_the_judge(pool, "Is 1001 prime?")
    state = await pool.graph.ainvoke(None, RUN)  # runs.create(thread_id, "fusion", input=None)
    assert state["answer"] in ANSWERS
    assert pool.member_calls() == calls


async def test_the_same_prompt_on_a_failed_thread_answers_it_once(pool):
    """LangGraph drops an unfinished run's tasks when a run has input: the turn runs again."""
    calls = await fail_at_the_judge(pool, "Is 1001 prime?")
    state = await pool.graph.ainvoke(ask("Is 1001 prime?"), RUN)
    assert state["answer"] in ANSWERS
    assert [m.type for m in state["messages"]] == ["human", "ai"]  # the prompt is not added twice
    assert pool.member_calls() == calls + 2
    assert len(state["candidates"]) == 2


async def test_a_different_prompt_on_a_failed_thread_is_a_conflict_that_saves_nothing(pool):
    await pool.graph.ainvoke(ask("Is 1001 prime?"), RUN)
    await fail_at_the_judge(pool, "And 1003?")
    calls = pool.model_calls()
    with pytest.raises(ThreadConflict) as info:
        await pool.graph.ainvoke(ask("What is the capital of France?"), RUN)
    error = info.value
    assert error.thread_id == "t" and error.field == "messages"
    assert "interrupted before it answered 'And 1003?'" in str(error)
    assert "same messages again (or none)" in str(error) and "new thread" in str(error)
    assert pool.model_calls() == calls
    # the thread reads back (nothing replays the refused input) and holds none of it
    turns = await pool.turns()
    assert [kind for kind, _ in turns] == ["human", "ai", "human"]
    assert [text for kind, text in turns if kind == "human"] == ["Is 1001 prime?", "And 1003?"]
    # it still answers the pending turn: with no input, or with its prompt
    state = await pool.graph.ainvoke(None, RUN)
    assert state["answer"] in ANSWERS
    assert [text for kind, text in await pool.turns() if kind == "human"] == ["Is 1001 prime?", "And 1003?"]
    assert len(state["messages"]) == 4


async def test_a_conflict_then_the_pending_prompt_answers_it(pool):
    await fail_at_the_judge(pool, "Is 1001 prime?")
    with pytest.raises(ThreadConflict):
        await pool.graph.ainvoke(ask("And 1003?"), RUN)
    state = await pool.graph.ainvoke(ask("Is 1001 prime?"), RUN)
    assert [(m.type, m.text) for m in state["messages"]][0] == ("human", "Is 1001 prime?")
    assert [m.type for m in state["messages"]] == ["human", "ai"]


async def test_an_edit_by_id_is_langgraph_s_own_protocol(pool):
    """Studio edits a message by its id (update_state): applied as add_messages does."""
    await fail_at_the_judge(pool, "Is 1001 prime?")
    pending = (await pool.graph.aget_state(RUN)).values["messages"][0]
    await pool.graph.aupdate_state(RUN, {"messages": [HumanMessage("Is 1003 prime?", id=pending.id)]})
    assert await pool.turns() == [("human", "Is 1003 prime?")]


async def test_an_interrupted_thread_refuses_a_different_prompt_and_resumes(pool):
    """Interrupted (a breakpoint before the judge), not failed: the same rows hold."""
    await pool.graph.ainvoke(ask("Is 1001 prime?"), RUN, interrupt_before=["judge"])
    assert (await pool.graph.aget_state(RUN)).next == ("judge",)
    with pytest.raises(ThreadConflict, match="before it answered 'Is 1001 prime\\?'"):
        await pool.graph.ainvoke(ask("And 1003?"), RUN)
    assert await pool.turns() == [("human", "Is 1001 prime?")]
    state = await pool.graph.ainvoke(None, RUN)
    assert state["answer"] in ANSWERS and [m.type for m in state["messages"]] == ["human", "ai"]
