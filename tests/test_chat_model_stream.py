"""``FusionChatModel.astream`` / ``stream``: the fused answer token by token, then its metadata."""

from __future__ import annotations

import asyncio
import time

from langchain_core.messages import AIMessage, AIMessageChunk, ToolCall

from fusion_graph import FusionChatModel
from fusion_graph._sync import _LOOP, iterate_sync
from fusion_graph.testing import ScriptedChatModel
from tests._builders import config, member

ANSWER_A = "Paris is the capital of France, and it has been for most of the last thousand years."
ANSWER_B = "The capital of France is Paris, on the Seine, home to about two million people today."
WRITTEN = "Paris is the capital of France, on the Seine."
ANALYSIS = {"consensus": ["Paris"], "contradictions": [], "unique_insights": [], "blind_spots": []}


def _model(mode: str = "best-of", **kwargs) -> FusionChatModel:
    judge = ScriptedChatModel(script=[WRITTEN], structured=ANALYSIS)
    return FusionChatModel(
        config(member("a", ANSWER_A, **kwargs), member("b", ANSWER_B, **kwargs), judge=judge, mode=mode)
    )


def _joined(chunks: list[AIMessageChunk]) -> AIMessageChunk:
    merged = chunks[0]
    for chunk in chunks[1:]:
        merged = merged + chunk
    return merged


async def test_astream_yields_the_answer_in_chunks_then_the_fusion_metadata():
    chunks = [chunk async for chunk in _model().astream("Capital of France?")]
    content = [c for c in chunks if c.content]
    assert len(content) >= 2
    merged = _joined(chunks)
    assert merged.content in {ANSWER_A, ANSWER_B}
    fusion = merged.response_metadata["fusion"]
    assert fusion["answer"] == merged.content and fusion["mode"] == "best-of"
    assert merged.usage_metadata and merged.usage_metadata["output_tokens"] > 0
    assert chunks[-1].chunk_position == "last" and chunks[-1].response_metadata["fusion"]


async def test_astream_of_a_merge_streams_the_writer_call():
    chunks = [chunk async for chunk in _model("merge").astream("Capital of France?")]
    assert len([c for c in chunks if c.content]) == len(WRITTEN.split())
    merged = _joined(chunks)
    assert merged.content == WRITTEN
    fusion = merged.response_metadata["fusion"]
    assert len(fusion["judge_calls"]) == 2 and fusion["verdict"]["answer"] == WRITTEN


async def test_astream_carries_a_fused_tool_call_in_the_standard_shape():
    def calls(name: str) -> AIMessage:
        call = ToolCall(name="lookup", args={"city": "Paris"}, id=f"call_{name}", type="tool_call")
        return AIMessage(content="", tool_calls=[call])

    model = FusionChatModel(config(member("a", calls("a")), member("b", calls("b"))))
    chunks = [chunk async for chunk in model.astream("Look up Paris.")]
    merged = _joined(chunks)
    assert merged.content == ""
    assert [(c["name"], c["args"]) for c in merged.tool_calls] == [("lookup", {"city": "Paris"})]
    assert merged.tool_calls[0]["id"] in {"call_a", "call_b"}


def test_stream_sync_yields_as_it_comes_and_a_consumer_may_stop_early():
    model = _model(latency=0.2)
    started = time.monotonic()
    chunks = list(model.stream("Capital of France?"))
    assert len([c for c in chunks if c.content]) >= 2
    assert _joined(chunks).content in {ANSWER_A, ANSWER_B}
    assert time.monotonic() - started >= 0.2  # the members really answered first
    for _ in range(3):  # stopping after the first chunk neither hangs nor leaves the fusion running
        stream = model.stream("Capital of France?")
        first = next(stream)
        stream.close()  # pyright: ignore[reportAttributeAccessIssue] - a generator
        assert isinstance(first, AIMessageChunk)
    _wait_until_idle()
    again = list(model.stream("Capital of France?"))  # the shared loop still serves
    assert _joined(again).content in {ANSWER_A, ANSWER_B}


def _wait_until_idle(timeout: float = 5.0) -> None:
    """Wait until the shared sync loop runs no task but this check (a stopped stream was cancelled)."""

    async def others() -> int:
        return len(asyncio.all_tasks()) - 1

    deadline = time.monotonic() + timeout
    while asyncio.run_coroutine_threadsafe(others(), _LOOP.loop()).result(timeout) > 0:
        assert time.monotonic() < deadline, "a stopped stream's fusion still runs"
        time.sleep(0.02)


def test_iterate_sync_cancels_the_async_side_when_the_consumer_stops():
    state = {"cancelled": False}

    async def endless():
        try:
            yield 1
            await asyncio.sleep(3600)
            yield 2
        except asyncio.CancelledError:
            state["cancelled"] = True
            raise

    items = iterate_sync(endless)
    assert next(items) == 1
    items.close()
    deadline = time.monotonic() + 5
    while not state["cancelled"]:
        assert time.monotonic() < deadline, "the async side still runs"
        time.sleep(0.01)


def test_iterate_sync_raises_the_async_sides_error_in_the_caller():
    async def failing():
        yield "first"
        raise ValueError("broken")

    items = iterate_sync(failing)
    assert next(items) == "first"
    try:
        next(items)
    except ValueError as exc:
        assert str(exc) == "broken"
    else:
        raise AssertionError("the error did not reach the caller")
