"""The one thread rule (fusion_graph._threads) and the library's entry points, Fusion.run and Fusion.stream.

The table every entry point follows:

- same prompt (or none) on a finished thread → the stored result, no model called;
- a new prompt on a finished thread → the next turn, only the new messages appended;
- an interrupted or failed thread, same prompt (or none) → resume from the checkpoint;
- a different prompt on an interrupted thread → ThreadConflict, naming how to resume or start anew.
"""

from __future__ import annotations

import pickle
import re
from typing import Any

import pytest
from langchain_core.messages import AIMessage, AnyMessage, HumanMessage, SystemMessage, ToolMessage
from langgraph.checkpoint.memory import InMemorySaver

from fusion_graph import ConfigError, Fusion, JudgeFailed, ThreadConflict
from fusion_graph._threads import (
    THREAD_ID_FIX,
    THREAD_ID_PATTERN,
    check_thread_id,
    plan_thread,
    same_messages,
)
from tests._pools import SwitchableJudgePool

Q1 = HumanMessage("Is 1001 prime?")
A1 = AIMessage("No: 7 x 11 x 13.", name="fusion")
Q2 = HumanMessage("And 1003?")


def finished(*messages: AnyMessage) -> dict[str, Any]:
    return {"messages": list(messages), "answer": str(messages[-1].content)}


# --- the rule itself, as a table ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("values", "given", "history", "action", "appended"),
    [
        ({}, [Q1], False, "new", [Q1]),
        ({}, [Q1], True, "new", [Q1]),
        (finished(Q1, A1), [Q1], False, "stored", []),
        (finished(Q1, A1), [Q1], True, "stored", []),
        (finished(Q1, A1), None, False, "stored", []),
        (finished(Q1, A1), [Q1, A1], True, "stored", []),  # the answer sent back with nothing new
        (finished(Q1, A1), [Q2], False, "next", [Q2]),
        (finished(Q1, A1), [Q1, A1, Q2], False, "next", [Q2]),  # a whole history: only what is new
        (finished(Q1, A1), [Q1, A1, Q2], True, "next", [Q2]),
        # an OpenAI client echoes the answer back as a plain assistant message, without a name
        (finished(Q1, A1), [Q1, AIMessage("No: 7 x 11 x 13."), Q2], True, "next", [Q2]),
        # the last turn of a longer thread, asked again: stored; an older turn asked again: next turn
        (finished(Q1, A1, Q2, AIMessage("1003 = 17 x 59.", name="fusion")), [Q2], False, "stored", []),
        (finished(Q1, A1, Q2, AIMessage("1003 = 17 x 59.", name="fusion")), [Q1], False, "next", [Q1]),
        ({"messages": [Q1], "answer": None}, [Q1], False, "resume", []),
        ({"messages": [Q1], "answer": None}, None, False, "resume", []),
        ({"messages": [Q1], "answer": None}, [Q1], True, "resume", []),
        # a second turn cut short: its own prompt resumes it, as does the whole history
        ({"messages": [Q1, A1, Q2], "answer": "No: 7 x 11 x 13."}, [Q2], False, "resume", []),
        ({"messages": [Q1, A1, Q2], "answer": "No: 7 x 11 x 13."}, [Q1, A1, Q2], True, "resume", []),
    ],
)
def test_the_rule(values, given, history, action, appended):
    plan = plan_thread(values, given, thread_id="t", history=history)
    assert plan.action == action
    assert same_messages(plan.messages, appended)
    # the next turn is sent with the thread's messages before it, so the graph's reducer appends
    # exactly the new ones (see test_langgraph_threads for the graph side of the rule)
    inputs = {"new": plan.messages, "next": [*values.get("messages", []), *plan.messages]}.get(action)
    assert plan.inputs == (None if inputs is None else {"messages": inputs})


@pytest.mark.parametrize(
    ("values", "given", "history", "words"),
    [
        ({"messages": [Q1], "answer": None}, [Q2], False, ["interrupted before it answered 'Is 1001"]),
        ({"messages": [Q1], "answer": None}, [Q1, Q2], True, ["interrupted", "same messages again"]),
        (finished(Q1, A1), [Q2], True, ["does not continue thread 't'", "message 0 differs"]),
        (finished(Q1, A1), [Q1, AIMessage("Yes."), Q2], True, ["message 1 differs"]),
        (finished(SystemMessage("Be brief."), Q1, A1), [Q1, A1, Q2], True, ["message 0 differs"]),
    ],
)
def test_conflicts_say_how_to_resume_or_start_a_new_thread(values, given, history, words):
    with pytest.raises(ThreadConflict) as info:
        plan_thread(values, given, thread_id="t", history=history, field="messages" if history else "prompt")
    message = str(info.value)
    for word in [*words, "new thread"]:
        assert word in message
    assert info.value.thread_id == "t"
    assert info.value.field == ("messages" if history else "prompt")


def test_nothing_to_resume_on_an_empty_thread_is_a_config_error():
    with pytest.raises(ConfigError, match="has no run to resume"):
        plan_thread({}, None, thread_id="t")


def test_messages_compare_by_role_text_and_tool_calls():
    call = {"name": "add", "args": {"a": 1}, "id": "x"}
    other_id = AIMessage("", tool_calls=[{**call, "id": "y"}])
    assert same_messages([AIMessage("", tool_calls=[call])], [other_id])
    assert not same_messages([AIMessage("", tool_calls=[call])], [AIMessage("")])
    assert same_messages([HumanMessage([{"type": "text", "text": "hi "}])], [HumanMessage("hi")])
    assert not same_messages([HumanMessage("hi")], [AIMessage("hi")])
    assert same_messages([ToolMessage("3", tool_call_id="x")], [ToolMessage("3", tool_call_id="x")])


def test_thread_conflict_pickles_and_is_a_config_error():
    error = ThreadConflict("prompt", "it was interrupted", "resume it", "t-1")
    again = pickle.loads(pickle.dumps(error))
    assert isinstance(again, ConfigError)
    assert (again.field, again.problem, again.fix) == ("prompt", "it was interrupted", "resume it")
    assert again.thread_id == "t-1"
    assert str(again) == str(error)


# --- Fusion.run and Fusion.stream against the table ----------------------------------------------


class Pool(SwitchableJudgePool):
    """Two scripted members and a judge that can be switched off (so a run fails at the judge)."""

    def __init__(self) -> None:
        super().__init__(("alpha says no", "beta says no"))
        self.fusion = Fusion(self.config, checkpointer=InMemorySaver())

    async def messages(self, thread: str) -> list[tuple[str, str]]:
        state = await self.fusion.graph.aget_state({"configurable": {"thread_id": thread}})
        return [(m.type, str(m.content)) for m in state.values["messages"]]


async def _stream_result(fusion: Fusion, prompt: Any, **kwargs: Any):
    final = None
    async for mode, chunk in fusion.stream(prompt, stream_mode=("values", "custom"), **kwargs):
        if mode == "values":
            final = chunk
    assert final is not None
    return fusion.result(final)


@pytest.fixture(params=["run", "stream"])
def entry(request):
    """Fusion.run, or Fusion.stream read to its last ``values`` chunk."""
    if request.param == "run":
        return lambda fusion, prompt, **kw: fusion.run(prompt, **kw)
    return _stream_result


async def test_same_prompt_on_a_finished_thread_is_the_stored_result(entry):
    pool = Pool()
    first = await entry(pool.fusion, "Is 1001 prime?", thread_id="t")
    calls, judged = pool.member_calls(), len(pool.judge.calls)
    assert await entry(pool.fusion, "Is 1001 prime?", thread_id="t") == first
    assert await entry(pool.fusion, None, thread_id="t") == first
    assert (pool.member_calls(), len(pool.judge.calls)) == (calls, judged)


async def test_a_new_prompt_on_a_finished_thread_is_the_next_turn_appended_once(entry):
    pool = Pool()
    first = await entry(pool.fusion, "Is 1001 prime?", thread_id="t")
    await entry(pool.fusion, "And 1003?", thread_id="t")
    turns = await pool.messages("t")
    assert [t for t, _ in turns] == ["human", "ai", "human", "ai"]
    assert turns[2] == ("human", "And 1003?")
    # the whole conversation, as a chat UI keeps it: only the new question is appended
    history = [
        ("user", "Is 1001 prime?"),
        ("assistant", first.answer),
        ("user", "And 1003?"),
        ("assistant", turns[3][1]),
        ("user", "And 1007?"),
    ]
    await entry(pool.fusion, history, thread_id="t", history=True)
    turns = await pool.messages("t")
    assert [c for _, c in turns if _ == "human"] == ["Is 1001 prime?", "And 1003?", "And 1007?"]
    assert len(turns) == 6


async def test_an_interrupted_thread_resumes_with_the_same_prompt_or_none(entry):
    for again in ["Is 1001 prime?", None]:
        pool = Pool()
        pool.judge_down = True
        with pytest.raises(JudgeFailed):
            await entry(pool.fusion, "Is 1001 prime?", thread_id="t")
        calls = pool.member_calls()
        assert calls == 2
        pool.judge_down = False
        result = await entry(pool.fusion, again, thread_id="t")
        assert result.answer in {"alpha says no", "beta says no"}
        assert pool.member_calls() == calls  # resumed at the judge: no member asked again
        assert [t for t, _ in await pool.messages("t")] == ["human", "ai"]


async def test_a_different_prompt_on_an_interrupted_thread_is_a_conflict(entry):
    pool = Pool()
    pool.judge_down = True
    with pytest.raises(JudgeFailed):
        await entry(pool.fusion, "Is 1001 prime?", thread_id="t")
    pool.judge_down = False
    calls = pool.member_calls()
    with pytest.raises(ThreadConflict) as info:
        await entry(pool.fusion, "What is the capital of France?", thread_id="t")
    assert "same prompt again (or none)" in str(info.value) and "new thread" in str(info.value)
    assert pool.member_calls() == calls
    assert [t for t, _ in await pool.messages("t")] == ["human"]  # the new prompt was not dropped in
    # the thread is intact: it still resumes
    assert (await entry(pool.fusion, None, thread_id="t")).answer


async def test_a_second_turn_cut_short_resumes_that_turn():
    pool = Pool()
    await pool.fusion.run("Is 1001 prime?", thread_id="t")
    pool.judge_down = True
    with pytest.raises(JudgeFailed):
        await pool.fusion.run("And 1003?", thread_id="t")
    pool.judge_down = False
    with pytest.raises(ThreadConflict, match="before it answered 'And 1003\\?'"):
        await pool.fusion.run("Is 1001 prime?", thread_id="t")
    calls = pool.member_calls()
    await pool.fusion.run("And 1003?", thread_id="t")
    assert pool.member_calls() == calls
    assert [t for t, _ in await pool.messages("t")] == ["human", "ai", "human", "ai"]


async def test_a_plan_runs_as_planned_and_config_names_the_thread():
    pool = Pool()
    await pool.fusion.run("Is 1001 prime?", config={"configurable": {"thread_id": "t"}})
    plan = await pool.fusion.plan("Is 1001 prime?", thread_id="t")
    assert plan.action == "stored" and plan.thread_id == "t"
    calls = pool.member_calls()
    assert (await pool.fusion.run(plan)).answer == plan.values["answer"]
    assert pool.member_calls() == calls
    assert (await pool.fusion.plan("And 1003?", thread_id="t")).action == "next"


async def test_no_prompt_without_a_thread_is_a_config_error():
    with pytest.raises(ConfigError, match="prompt: the prompt is empty"):
        await Pool().fusion.run(None)


async def test_a_history_whose_new_turn_repeats_the_last_one_runs_it_as_a_new_turn(entry):
    """The graph's reducer applies the rule too: it is given the thread before the new turn."""
    pool = Pool()
    first = await entry(pool.fusion, "Is 1001 prime?", thread_id="t")
    calls = pool.member_calls()
    history = [("user", "Is 1001 prime?"), ("assistant", first.answer), ("user", "Is 1001 prime?")]
    await entry(pool.fusion, history, thread_id="t", history=True)
    assert pool.member_calls() == calls + 2
    assert [t for t, _ in await pool.messages("t")] == ["human", "ai", "human", "ai"]


# --- thread ids: one rule for the library, the CLI and the server --------------------------------


@pytest.mark.parametrize(
    "thread_id",
    ["t", "fusion-0123abcd", "3f2b1c4e-9d8a-4b7c-8e6f-5a4b3c2d1e0f", "user:42", "chat.7@team_a", "x" * 200],
)
def test_a_thread_id_of_the_documented_alphabet_is_accepted(thread_id):
    assert check_thread_id(thread_id) == thread_id
    assert re.fullmatch(THREAD_ID_PATTERN, thread_id)


@pytest.mark.parametrize(
    ("thread_id", "words"),
    [
        ("\U0001f600", "holds '\U0001f600'"),
        ("a\x00b", "holds '\\x00'"),
        ("a b", "holds ' '"),
        ("a/b", "holds '/'"),
        ("", "is empty"),
        ("x" * 201, "201 characters long"),
        (7, "must be a string, not int"),
    ],
)
def test_a_thread_id_outside_the_alphabet_is_a_config_error(thread_id, words):
    with pytest.raises(ConfigError) as caught:
        check_thread_id(thread_id)
    assert caught.value.field == "thread_id" and words in caught.value.problem
    assert caught.value.fix == THREAD_ID_FIX
    assert not isinstance(thread_id, str) or not re.fullmatch(THREAD_ID_PATTERN, thread_id)


async def test_fusion_run_and_stream_refuse_a_bad_thread_id_before_running(entry):
    pool = Pool()
    with pytest.raises(ConfigError) as caught:
        await entry(pool.fusion, "Is 1001 prime?", thread_id="caf\u00e9")
    assert caught.value.field == "thread_id"
    assert pool.member_calls() == 0
