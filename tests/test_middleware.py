"""FusionMiddleware with the real ``create_agent``: which steps are fused, what they cost, what streams."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from langchain.agents import create_agent
from langchain_core.messages import AIMessage, AIMessageChunk

from fusion_graph import ConfigError, FusionConfig, FusionMiddleware, Member
from fusion_graph.testing import Fault, ModelScript, OpenAIStubServer, Turn
from tests import _builders as builders
from tests._agent_pool import MULTIPLY, Multiply, caller, calls, own_model, pool_config, stub_models

QUESTION: Any = {"messages": [("user", "What is 6 x 7?")]}
MEMBER_ANSWERS = {"Member one says 42", "Member two says 42"}


def _agent(server: OpenAIStubServer, tool: Multiply, when, **kwargs):
    middleware = FusionMiddleware(pool_config(server), when=when, **kwargs)
    return create_agent(own_model(server), [tool.tool()], middleware=[middleware])


def _tokens(usage: dict) -> int:
    return usage["input_tokens"] + usage["output_tokens"]


def _kinds(out) -> list[str]:
    return [m.type for m in out["messages"]]


async def test_always_fuses_every_step_and_never_calls_the_agents_model():
    tool = Multiply()
    async with OpenAIStubServer(models=stub_models()) as server:
        out = await _agent(server, tool, "always").ainvoke(QUESTION)
        assert calls(server) == {"agent": 0, "m1": 2, "m2": 2, "judge": 2}
    assert _kinds(out) == ["human", "ai", "tool", "ai"]
    assert tool.runs == [{"a": 6, "b": 7}]  # two members asked for it; the agent ran it once
    final = out["messages"][-1]
    assert final.content in MEMBER_ANSWERS
    fusion = final.response_metadata["fusion"]
    assert fusion["decided_by"] and {c["member"] for c in fusion["candidates"]} == {"m1", "m2"}
    assert _tokens(fusion["usage"]["total"]) == final.usage_metadata["total_tokens"] > 0
    assert final.response_metadata["fusion_step"] == {"when": "always", "fused": True, "reason": "always"}


async def test_final_fuses_only_the_answer_without_tool_calls():
    tool = Multiply()
    async with OpenAIStubServer(models=stub_models()) as server:
        out = await _agent(server, tool, "final").ainvoke(QUESTION)
        assert calls(server) == {"agent": 2, "m1": 1, "m2": 1, "judge": 1}
        # the members were asked the last step with the agent's tools and the tool's result
        request = next(r for r in server.requests if r["model"] == "m1")
        assert [t["function"]["name"] for t in request["tools"]] == ["multiply"]
        assert any(m.get("role") == "tool" and m.get("content") == "42" for m in request["messages"])
    tool_step, final = out["messages"][1], out["messages"][-1]
    assert "fusion" not in tool_step.response_metadata  # the agent's own call, kept as it was
    assert final.content in MEMBER_ANSWERS
    step = final.response_metadata["fusion_step"]
    assert step["reason"] == "final answer"
    assert step["dropped"][0]["content"] == "The agent's own answer: 6 x 7 = 42"
    # the step's usage counts the dropped answer too
    dropped = step["dropped"][0]["usage"]["total_tokens"]
    fused = _tokens(final.response_metadata["fusion"]["usage"]["total"])
    assert dropped > 0 and final.usage_metadata["total_tokens"] == fused + dropped


async def test_tools_fuses_the_steps_that_call_tools():
    tool = Multiply()
    async with OpenAIStubServer(models=stub_models()) as server:
        out = await _agent(server, tool, "tools").ainvoke(QUESTION)
        assert calls(server) == {"agent": 2, "m1": 1, "m2": 1, "judge": 1}
    tool_step, final = out["messages"][1], out["messages"][-1]
    assert tool_step.response_metadata["fusion_step"]["reason"] == "tool calls"
    assert [c["name"] for c in tool_step.tool_calls] == ["multiply"]
    assert final.content == "The agent's own answer: 6 x 7 = 42"
    assert tool.runs == [{"a": 6, "b": 7}]


async def test_disagree_fuses_only_when_the_second_opinion_differs():
    tool = Multiply()
    async with OpenAIStubServer(models=stub_models()) as server:
        out = await _agent(server, tool, "disagree").ainvoke(QUESTION)
        # step 1: agent and m1 ask for the same call, nothing fused; step 2: the texts differ, fused
        assert calls(server) == {"agent": 2, "m1": 1 + 1 + 1, "m2": 1, "judge": 1}
    tool_step, final = out["messages"][1], out["messages"][-1]
    agreed = tool_step.response_metadata["fusion_step"]
    assert agreed["fused"] is False and agreed["reason"] == "agreed"
    assert agreed["second_opinion"]["tool_calls"] == [{"name": "multiply", "args": {"a": 6, "b": 7}}]
    assert tool_step.usage_metadata["total_tokens"] > agreed["second_opinion"]["usage"]["total_tokens"]
    assert final.response_metadata["fusion_step"]["reason"] == "disagreed"
    assert final.content in MEMBER_ANSWERS
    assert tool.runs == [{"a": 6, "b": 7}]


async def test_disagree_compares_tool_calls_by_their_arguments():
    tool = Multiply()
    other = {"name": "multiply", "arguments": {"a": 7, "b": 6}}
    models = stub_models(m1=caller("Member one says 42", other), m2=caller("42.", other))
    models["agent"] = caller("42")
    async with OpenAIStubServer(models=models) as server:
        out = await _agent(server, tool, "disagree", second_opinion="m2").ainvoke(QUESTION)
        # step 1 differs (6,7 against 7,6): fused; step 2 both say "42": kept
        assert server.calls("judge") == 1
    assert out["messages"][1].response_metadata["fusion_step"]["reason"] == "disagreed"
    assert out["messages"][-1].content == "42"
    assert out["messages"][-1].response_metadata["fusion_step"]["reason"] == "agreed"


async def test_a_callable_decides_before_the_model_is_called():
    tool = Multiply()
    seen: list[int] = []

    def first_step_only(request) -> bool:
        seen.append(len(request.messages))
        return len(request.messages) == 1

    async with OpenAIStubServer(models=stub_models()) as server:
        out = await _agent(server, tool, first_step_only).ainvoke(QUESTION)
        assert calls(server) == {"agent": 1, "m1": 1, "m2": 1, "judge": 1}
    assert seen == [1, 3]
    assert out["messages"][1].response_metadata["fusion_step"]["reason"] == "asked"
    assert out["messages"][-1].content == "The agent's own answer: 6 x 7 = 42"


async def test_a_callable_that_raises_is_logged_and_the_step_is_not_fused(caplog):
    def broken(request) -> bool:
        raise RuntimeError("no idea")

    with caplog.at_level(logging.WARNING, logger="fusion_graph.middleware"):
        async with OpenAIStubServer(models=stub_models()) as server:
            out = await _agent(server, Multiply(), broken).ainvoke(QUESTION)
            assert calls(server) == {"agent": 2, "m1": 0, "m2": 0, "judge": 0}
    assert out["messages"][-1].content == "The agent's own answer: 6 x 7 = 42"
    assert "when= callable raised" in caplog.text and "no idea" in caplog.text


def test_bad_settings_are_config_errors_naming_the_field():
    config = builders.config(builders.member("m1"), builders.member("m2"))
    with pytest.raises(ConfigError) as unknown:
        FusionMiddleware(config, when="sometimes")  # type: ignore[arg-type]
    assert unknown.value.field == "when" and "sometimes" in str(unknown.value)
    with pytest.raises(ConfigError) as nobody:
        FusionMiddleware(config, when="disagree", second_opinion="m9")
    assert nobody.value.field == "second_opinion"
    with pytest.raises(ConfigError) as stray:
        FusionMiddleware(config, when="final", second_opinion="m1")
    assert stray.value.field == "second_opinion"
    with pytest.raises(ConfigError) as no_config:
        FusionMiddleware({"pool": []})  # type: ignore[arg-type]
    assert no_config.value.field == "config"


# -------------------------------------------------------------------------------------- streaming


def _streamed(parts) -> list[AIMessage | AIMessageChunk]:
    return [message for message, _ in parts if isinstance(message, AIMessage | AIMessageChunk)]


@pytest.mark.parametrize("when", ["always", "final", "disagree"])
async def test_the_messages_stream_shows_the_fused_message_once_and_no_members_tokens(when):
    slow = {name: caller(f"{name} answers with many words: 42", token_delay=0.001) for name in ("m1", "m2")}
    async with OpenAIStubServer(models=stub_models(**slow)) as server:
        agent = _agent(server, Multiply(), when)
        parts: list[Any] = [part async for part in agent.astream(QUESTION, stream_mode="messages")]
    texts = [str(m.content) for m in _streamed(parts) if m.content]
    assert len(texts) == 1 and texts[0] in {f"{m} answers with many words: 42" for m in ("m1", "m2")}
    fused = _streamed(parts)[-1]
    assert fused.response_metadata["fusion"]["decided_by"]  # the metadata rides along
    assert all(meta["langgraph_node"] in {"model", "tools"} for _, meta in parts)


async def test_an_unfused_step_streams_the_agents_own_tokens():
    async with OpenAIStubServer(models=stub_models()) as server:
        agent = _agent(server, Multiply(), lambda request: False)
        parts = [part async for part in agent.astream(QUESTION, stream_mode="messages")]
    pieces = [m for m in _streamed(parts) if isinstance(m, AIMessageChunk) and m.content]
    assert len(pieces) > 1  # token by token, as without the middleware
    assert "".join(str(p.content) for p in pieces) == "The agent's own answer: 6 x 7 = 42"


# -------------------------------------------------------------------------------------------- sync


@pytest.mark.parametrize("when", ["always", "final", "tools", "disagree"])
def test_sync_invoke_and_stream(when):
    tool = Multiply()
    with OpenAIStubServer(models=stub_models()) as server:
        agent = _agent(server, tool, when)
        out = agent.invoke(QUESTION)
        parts = list(agent.stream(QUESTION, stream_mode="messages"))
    assert _kinds(out) == ["human", "ai", "tool", "ai"]
    assert tool.runs == [{"a": 6, "b": 7}] * 2
    texts = [str(m.content) for m in _streamed(parts) if m.content]
    expected = {"The agent's own answer: 6 x 7 = 42"} if when == "tools" else MEMBER_ANSWERS
    assert len(texts) == 1 and texts[0] in expected
    assert out["messages"][-1].content in expected


def test_a_member_failure_inside_a_fused_step_is_the_fusions_business():
    failing = ModelScript(turns=[Turn(reply="x")], faults=[Fault.HTTP_500] * 20)
    with OpenAIStubServer(models=stub_models(m2=failing)) as server:
        out = _agent(server, Multiply(), "always").invoke(QUESTION)
    final = out["messages"][-1]
    assert final.content == "Member one says 42"
    failed = [c["member"] for c in final.response_metadata["fusion"]["candidates"] if c["error"]]
    assert failed == ["m2"]


@pytest.mark.parametrize("sync", [False, True], ids=["async", "sync"])
async def test_a_failed_second_opinion_fuses_the_step(sync, caplog):
    failing = ModelScript(reply="x", faults=[Fault.HTTP_500] * 50)
    with OpenAIStubServer(models=stub_models(m1=failing)) as server:
        agent = _agent(server, Multiply(), "disagree")
        with caplog.at_level(logging.WARNING, logger="fusion_graph.middleware"):
            out = agent.invoke(QUESTION) if sync else await agent.ainvoke(QUESTION)
    steps = [m.response_metadata["fusion_step"] for m in out["messages"] if m.type == "ai"]
    assert [s["reason"] for s in steps] == ["second opinion failed"] * 2
    assert out["messages"][-1].content == "Member two says 42"  # the fusion's surviving member
    assert "the second opinion failed" in caplog.text


async def test_a_step_with_structured_output_is_left_to_the_agents_model(caplog):
    from langchain.agents.structured_output import ToolStrategy
    from pydantic import BaseModel

    class Product(BaseModel):
        value: int

    product = {"name": "Product", "arguments": {"value": 42}}
    answers = ModelScript(turns=[Turn(tool_calls=[MULTIPLY]), Turn(tool_calls=[product])])
    with caplog.at_level(logging.WARNING, logger="fusion_graph.middleware"):
        async with OpenAIStubServer(models=stub_models(agent=answers)) as server:
            middleware = FusionMiddleware(pool_config(server), when="always")
            agent = create_agent(
                own_model(server),
                [Multiply().tool()],
                middleware=[middleware],
                response_format=ToolStrategy(Product),
            )
            out = await agent.ainvoke(QUESTION)
            assert calls(server) == {"agent": 2, "m1": 0, "m2": 0, "judge": 0}
    assert out["structured_response"] == Product(value=42)
    assert caplog.text.count("response_format") == 1  # warned once, not per step


async def test_a_cached_step_is_answered_again_without_calling_the_pool():
    from langgraph.cache.memory import InMemoryCache

    tool = Multiply()
    async with OpenAIStubServer(models=stub_models()) as server:
        agent = _agent(server, tool, "final", cache=InMemoryCache())
        first = await agent.ainvoke(QUESTION)
        before = calls(server)
        again = await agent.ainvoke(QUESTION)
        after = calls(server)
    assert after["m1"] == before["m1"] and after["m2"] == before["m2"] and after["judge"] == before["judge"]
    assert after["agent"] == before["agent"] + 2  # the agent's own steps still run
    final = again["messages"][-1]
    assert final.content == first["messages"][-1].content
    assert final.response_metadata["fusion"]["cached"] is True


def test_a_cache_that_is_not_a_langgraph_cache_is_a_config_error():
    with pytest.raises(ConfigError) as caught:
        FusionMiddleware(FusionConfig(pool=[Member("fake:a"), Member("fake:b")]), cache=object())
    assert caught.value.field == "cache"
