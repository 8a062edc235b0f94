"""`fusion serve` threads through the official openai SDK, plain and streaming, against real uvicorn.

OpenAI clients send the whole conversation each time, and its messages carry no ids. The table:

- the same conversation on a finished thread → the stored result, no model called;
- the conversation plus new messages → the next turn, only the new messages appended;
- a conversation that does not continue the thread's → 409 ``thread_conflict``;
- an interrupted or failed thread, the same conversation → resume at the step that stopped;
- a different conversation on an interrupted thread → 409 saying how to resume or start anew.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import openai
import pytest
from langgraph.checkpoint.memory import InMemorySaver

from fusion_graph import Fusion
from fusion_graph.server import create_app
from tests._pools import SwitchableJudgePool

from .conftest import LiveServer, serve

MODEL = "fusion/best-of"
Q1 = {"role": "user", "content": "Is 1001 prime?"}
Q2 = {"role": "user", "content": "And 1003?"}
ANSWERS = {"alpha: no", "beta: no"}


class Pool(SwitchableJudgePool):
    """Scripted members and a judge that can be switched off (a run then fails at the judge)."""

    def __init__(self) -> None:
        super().__init__(("alpha: no", "beta: no"), judge_name="judge")
        self.saver = InMemorySaver()

    def thread(self, thread_id: str) -> list[tuple[str, str]]:
        fusion = Fusion(self.config, checkpointer=self.saver)
        state = asyncio.run(fusion.graph.aget_state({"configurable": {"thread_id": thread_id}}))
        return [(m.type, str(m.content)) for m in state.values["messages"]]


@pytest.fixture
def pool() -> Pool:
    return Pool()


@pytest.fixture
def server(pool: Pool) -> Iterator[LiveServer]:
    with serve(create_app({MODEL: pool.config}, checkpointer=pool.saver)) as live:
        yield live


@pytest.fixture(params=[False, True], ids=["plain", "streaming"])
def stream(request: pytest.FixtureRequest) -> bool:
    return request.param


def ask(server: LiveServer, messages: list[dict[str, Any]], thread_id: str, *, stream: bool) -> str:
    """The answer to a chat completion on a thread, streamed or not."""
    client = openai.OpenAI(base_url=server.base_url, api_key="none", max_retries=0, timeout=30)
    extra = {"thread_id": thread_id}
    if not stream:
        response = client.chat.completions.create(model=MODEL, messages=messages, extra_body=extra)  # type: ignore[arg-type]
        assert (response.model_extra or {})["fusion"]["thread_id"] == thread_id
        return response.choices[0].message.content or ""
    chunks = list(
        client.chat.completions.create(model=MODEL, messages=messages, stream=True, extra_body=extra)  # type: ignore[arg-type]
    )
    final = [c for c in chunks if c.choices and c.choices[0].finish_reason]
    assert len(final) == 1 and (final[0].model_extra or {})["fusion"]["thread_id"] == thread_id
    return "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)


def fail_once(server: LiveServer, pool: Pool, messages: list[dict[str, Any]], thread_id: str) -> None:
    """Leave the thread failed at its judge step (a 502), with the members' answers checkpointed."""
    pool.judge_down = True
    with pytest.raises(openai.InternalServerError) as caught:
        ask(server, messages, thread_id, stream=False)
    assert caught.value.status_code == 502
    pool.judge_down = False


def test_the_same_conversation_on_a_finished_thread_is_the_stored_result(server, pool, stream):
    first = ask(server, [Q1], "t", stream=False)
    calls = pool.member_calls()
    assert ask(server, [Q1], "t", stream=stream) == first
    # the answer sent back with nothing new after it: still the stored result
    assert ask(server, [Q1, {"role": "assistant", "content": first}], "t", stream=stream) == first
    assert pool.member_calls() == calls


def test_a_continued_conversation_appends_only_the_new_messages(server, pool, stream):
    first = ask(server, [Q1], "t", stream=stream)
    second = ask(server, [Q1, {"role": "assistant", "content": first}, Q2], "t", stream=stream)
    assert second in ANSWERS
    assert [t for t, _ in pool.thread("t")] == ["human", "ai", "human", "ai"]
    # each member saw the conversation once, not the history appended to itself
    asked = [str(m.content) for m in pool.alpha.calls[-1] if m.type == "human"]
    assert asked.count("Is 1001 prime?") == 1 and asked.count("And 1003?") == 1


@pytest.mark.parametrize(
    "history",
    [
        [Q2],  # only the new question: the thread holds more
        [Q1, {"role": "assistant", "content": "something else"}, Q2],  # an edited answer
        [{"role": "system", "content": "Be brief."}, Q1, Q2],  # a different start
    ],
    ids=["new-only", "edited-answer", "other-start"],
)
def test_a_conversation_that_does_not_continue_the_thread_is_409(server, pool, stream, history):
    ask(server, [Q1], "t", stream=False)
    calls = pool.member_calls()
    with pytest.raises(openai.ConflictError) as caught:
        ask(server, history, "t", stream=stream)
    body = caught.value.body
    assert isinstance(body, dict) and body["code"] == "thread_conflict" and body["param"] == "messages"
    assert "does not continue thread 't'" in body["message"] and "new thread" in body["message"]
    assert caught.value.response.headers["x-fusion-thread-id"] == "t"
    assert pool.member_calls() == calls
    assert len(pool.thread("t")) == 2


def test_a_failed_thread_resumes_with_the_same_conversation(server, pool, stream):
    fail_once(server, pool, [Q1], "t")
    calls = pool.member_calls()
    assert ask(server, [Q1], "t", stream=stream) in ANSWERS
    assert pool.member_calls() == calls  # resumed at the judge
    assert [t for t, _ in pool.thread("t")] == ["human", "ai"]


def test_a_different_conversation_on_an_interrupted_thread_is_409(server, pool, stream):
    fail_once(server, pool, [Q1], "t")
    calls = pool.member_calls()
    with pytest.raises(openai.ConflictError) as caught:
        ask(server, [Q2], "t", stream=stream)
    body = caught.value.body
    assert isinstance(body, dict) and body["code"] == "thread_conflict"
    message = body["message"]
    assert "was interrupted before it answered 'Is 1001 prime?'" in message
    assert "same messages again" in message and "new thread" in message
    assert pool.member_calls() == calls
    assert pool.thread("t") == [("human", "Is 1001 prime?")]
    # the thread still resumes afterwards
    assert ask(server, [Q1], "t", stream=stream) in ANSWERS


def test_a_second_turn_that_failed_resumes_with_the_whole_conversation(server, pool, stream):
    first = ask(server, [Q1], "t", stream=False)
    history = [Q1, {"role": "assistant", "content": first}, Q2]
    fail_once(server, pool, history, "t")
    calls = pool.member_calls()
    assert ask(server, history, "t", stream=stream) in ANSWERS
    assert pool.member_calls() == calls
    assert [t for t, _ in pool.thread("t")] == ["human", "ai", "human", "ai"]
