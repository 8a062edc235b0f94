"""Every request that goes to a ``mistral:`` member passes mistral-common's validation, debate included."""

from __future__ import annotations

import pytest
from langchain_core.messages import AIMessage, ToolCall
from mistral_common.protocol.instruct.request import ChatCompletionRequest
from mistral_common.protocol.instruct.validator import (
    MistralRequestValidatorV3,
    MistralRequestValidatorV11,
    MistralRequestValidatorV13,
    ValidationMode,
)

from fusion_graph import FusionConfig, Judge, Member, fuse
from fusion_graph.testing import ModelScript, OpenAIStubServer, ScriptedChatModel, Turn
from tool_registry import ToolRegistry


def _registry() -> ToolRegistry:
    registry = ToolRegistry()

    @registry.tool
    def lookup(city: str, unit: str | None = None) -> str:
        """Look up the weather of a city."""
        return f"{city}: 21 degrees {unit or 'C'}"

    return registry


def _peer() -> ScriptedChatModel:
    call = ToolCall(
        name="lookup", args={"city": "Oslo"}, id="call_7f3a9b1c2d4e5f60718293a4", type="tool_call"
    )
    return ScriptedChatModel(
        script=[AIMessage(content="Checking.", tool_calls=[call]), "Oslo: 21 C", "Oslo: 21 C."]
    )


@pytest.mark.parametrize(
    "validator", [MistralRequestValidatorV3, MistralRequestValidatorV11, MistralRequestValidatorV13]
)
async def test_requests_to_a_mistral_member_validate(validator):
    script = ModelScript(
        turns=[
            Turn(tool_calls=[{"name": "lookup", "arguments": {"city": "Paris"}}]),
            Turn(reply="Paris: 21 C."),
        ]
    )
    server = OpenAIStubServer(models={"mistral-small-latest": script})
    async with server:
        config = FusionConfig(
            pool=[
                Member(
                    "mistral:mistral-small-latest",
                    name="mistral",
                    base_url=server.base_url,
                    api_key="sk-test",
                    params={"max_retries": 0},
                ),
                Member(_peer(), name="peer"),
            ],
            judge=Judge(ScriptedChatModel()),
            mode="debate",
            rounds=1,
            consensus=None,
        )
        result = await fuse("Weather in Paris and Oslo?", config, tools=_registry())
        bodies = [r for r in server.requests if r.get("model") == "mistral-small-latest"]
    assert all(c.ok for c in result.candidates), [c.error for c in result.candidates]
    assert {c.round for c in result.candidates if c.member == "mistral"} == {0, 1}
    assert len(bodies) == 4  # two steps per round: tool call, then answer
    with_tools = [b for b in bodies if any(m.get("role") == "tool" for m in b["messages"])]
    assert with_tools, "the tool results reached the Mistral member"
    for body in bodies:
        for message in body["messages"]:
            for call in message.get("tool_calls") or []:
                assert len(call["id"]) == 9 and call["id"].isalnum()
            if message.get("role") == "tool":
                assert len(message["tool_call_id"]) == 9
        request = ChatCompletionRequest.from_openai(body["messages"], body.get("tools"), model=body["model"])
        validator(mode=ValidationMode.serving).validate_request(request)
    # the ids came back to the original form in the member's trace
    trace = next(c for c in result.candidates if c.member == "mistral").tool_trace
    assert trace[0].name == "lookup" and "Paris" in trace[0].result
