"""Provider adaptation, checked against mistral-common's own request validation."""

import json
import re

import pytest
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage, ToolMessage
from langchain_mistralai.chat_models import _convert_message_to_mistral_chat_message
from mistral_common.exceptions import MistralCommonException
from mistral_common.protocol.instruct.request import ChatCompletionRequest
from mistral_common.protocol.instruct.validator import (
    MistralRequestValidatorV3,
    MistralRequestValidatorV11,
    MistralRequestValidatorV13,
    ValidationMode,
)
from pydantic import ValidationError

from fusion_graph.providers.profiles import ToolCallIdMap, adapt_messages, map_tool_choice, restore_message
from tool_registry import ToolRegistry
from tool_registry.adapt import adapt_tool_schema
from tool_registry.mistral_native import parse_mistral_tool_calls

MISTRAL_ID = re.compile(r"^[a-zA-Z0-9]{9}$")


def call(name: str, cid: str, **args) -> dict:
    return {"name": name, "args": args, "id": cid, "type": "tool_call"}


def debate_transcript() -> list[BaseMessage]:
    """Two rounds, three members from three providers, each with its own tool traces."""
    return [
        SystemMessage("You are member 2 of a debate. Revise your answer."),
        HumanMessage("What time is it in Tokyo, and what is 2 + 40?"),
        # member alice (OpenAI-style ids), two parallel calls
        AIMessage(
            "Let me check.",
            name="alice",
            tool_calls=[
                call("time__get_current_time", "call_Xy12abCD34efGH56", timezone="Asia/Tokyo"),
                call("add", "call_Zz98", a=2, b=40),
            ],
        ),
        ToolMessage(
            "2026-11-29T01:50:01+09:00", tool_call_id="call_Xy12abCD34efGH56", name="time__get_current_time"
        ),
        ToolMessage(
            [{"type": "text", "text": "42"}, {"type": "image", "base64": "iVBO", "mime_type": "image/png"}],
            tool_call_id="call_Zz98",
            name="add",
        ),
        AIMessage("It is 01:50 in Tokyo; 2 + 40 = 42.", name="alice"),
        # member bob (Anthropic-style ids)
        AIMessage("", name="bob", tool_calls=[call("add", "toolu_01A09q90qw90lq917835lq9", a=2, b=40)]),
        ToolMessage("42", tool_call_id="toolu_01A09q90qw90lq917835lq9", name="add"),
        AIMessage("42, and I did not check the time.", name="bob"),
        # member carol (a local model with uuid ids, one call left without a result)
        AIMessage(
            "",
            name="carol",
            tool_calls=[
                call("time__get_current_time", "5f0c6a52-4b8e-4b8f-9a57-1f0e2d3c4b5a", timezone="UTC"),
                call("add", "already9A", a=1, b=1),
            ],
        ),
        ToolMessage(
            "16:50 UTC", tool_call_id="5f0c6a52-4b8e-4b8f-9a57-1f0e2d3c4b5a", name="time__get_current_time"
        ),
        AIMessage(""),  # an empty turn (a member that produced nothing)
        ToolMessage("stray", tool_call_id="orphan-id"),  # answers no call
        HumanMessage("Round 2: the other members said … Revise."),
        # round 2 reuses an id already seen in round 1 (a fake model counting from 0)
        AIMessage("", name="alice", tool_calls=[call("add", "call_Zz98", a=40, b=2)]),
        ToolMessage("42", tool_call_id="call_Zz98", name="add"),
    ]


def to_mistral_common(messages: list[BaseMessage], tools: list[dict]) -> ChatCompletionRequest:
    """A literal converter (ids and structure passed through untouched)."""
    out: list[dict] = []
    for m in messages:
        if isinstance(m, SystemMessage):
            out.append({"role": "system", "content": m.content})
        elif isinstance(m, HumanMessage):
            out.append({"role": "user", "content": m.content})
        elif isinstance(m, AIMessage):
            item: dict = {"role": "assistant", "content": m.content or None}
            if m.tool_calls:
                item["tool_calls"] = [
                    {"id": c["id"], "function": {"name": c["name"], "arguments": json.dumps(c["args"])}}
                    for c in m.tool_calls
                ]
            out.append(item)
        elif isinstance(m, ToolMessage):
            out.append({"role": "tool", "content": m.content, "tool_call_id": m.tool_call_id, "name": m.name})
    return ChatCompletionRequest.model_validate(
        {"model": "mistral-large-latest", "messages": out, "tools": tools}
    )


def registry_tools() -> list[dict]:
    registry = ToolRegistry()

    @registry.tool
    def add(a: int, b: int) -> int:
        """Add two integers."""
        return a + b

    @registry.tool(name="time__get_current_time")
    def now(timezone: str | None = None) -> str:
        """Current time."""
        return "now"

    return [
        {
            **s,
            "function": {
                **s["function"],
                "parameters": adapt_tool_schema(s["function"]["parameters"], "mistral"),
            },
        }
        for s in registry.openai_schemas()
    ]


VALIDATORS = [MistralRequestValidatorV3, MistralRequestValidatorV11, MistralRequestValidatorV13]


@pytest.mark.parametrize("validator", VALIDATORS, ids=lambda v: v.__name__)
def test_adapted_debate_transcript_passes_mistral_validation(validator):
    transcript = debate_transcript()
    ids = ToolCallIdMap()
    adapted = adapt_messages(transcript, "mistral", ids)
    request = to_mistral_common(adapted, registry_tools())
    validator(mode=ValidationMode.serving).validate_request(request)
    # the same request through langchain-mistralai's converter is valid too, ids untouched
    converted = [_convert_message_to_mistral_chat_message(m) for m in adapted]
    sent_ids = {c["id"] for m in converted for c in m.get("tool_calls", [])}
    assert sent_ids == {c["id"] for m in adapted if isinstance(m, AIMessage) for c in m.tool_calls}
    assert transcript == debate_transcript()  # input untouched


def test_unadapted_transcript_is_rejected():
    with pytest.raises((MistralCommonException, ValidationError)):
        MistralRequestValidatorV11(mode=ValidationMode.serving).validate_request(
            to_mistral_common(debate_transcript(), registry_tools())
        )
    simple = [HumanMessage("hi"), AIMessage("", tool_calls=[call("add", "call_1", a=1, b=2)])]
    simple.append(ToolMessage("3", tool_call_id="call_1", name="add"))
    with pytest.raises(MistralCommonException, match="Tool call id"):
        MistralRequestValidatorV11(mode=ValidationMode.serving).validate_request(
            to_mistral_common(simple, registry_tools())
        )
    adapted = adapt_messages(simple, "mistral", ToolCallIdMap())
    MistralRequestValidatorV11(mode=ValidationMode.serving).validate_request(
        to_mistral_common(adapted, registry_tools())
    )


def test_adapt_rules_for_mistral():
    ids = ToolCallIdMap()
    adapted = adapt_messages(debate_transcript(), "mistral", ids)
    all_ids = [c["id"] for m in adapted if isinstance(m, AIMessage) for c in m.tool_calls]
    all_ids += [m.tool_call_id for m in adapted if isinstance(m, ToolMessage)]
    assert all(MISTRAL_ID.match(i) for i in all_ids)
    assert ids.to_provider("already9A", "mistral") == "already9A"  # valid ids are kept
    tool_msgs = [m for m in adapted if isinstance(m, ToolMessage)]
    assert all(isinstance(m.content, str) for m in tool_msgs)
    assert "[image content omitted]" in tool_msgs[1].content
    placeholder = [m for m in tool_msgs if m.status == "error"]
    assert len(placeholder) == 1 and placeholder[0].tool_call_id == "already9A"
    assert "stray" not in [m.content for m in tool_msgs]
    assert not any(isinstance(m, AIMessage) and not m.content and not m.tool_calls for m in adapted)


def test_id_map_is_deterministic_consistent_and_reversible():
    a, b = ToolCallIdMap(), ToolCallIdMap()
    originals = [f"call_{i}" for i in range(2000)] + ["toolu_01A09q90qw90lq917835lq9", "x" * 200]
    mapped = [a.to_provider(o, "mistral") for o in originals]
    assert len(set(mapped)) == len(originals)  # injective
    assert mapped == [b.to_provider(o, "mistral") for o in originals]  # deterministic
    assert mapped == [a.to_provider(o, "mistralai") for o in originals]  # stable over rounds
    assert [a.to_original(m, "mistral") for m in mapped] == originals
    assert a.to_original("NewByMstr", "mistral") == "NewByMstr"  # provider-made ids pass
    assert a.to_provider("call_1", "openai") == "call_1"
    anth = a.to_provider("id with spaces", "anthropic")
    assert re.match(r"^call_[A-Za-z0-9]{20}$", anth) and a.to_original(anth, "anthropic") == "id with spaces"


def test_restore_round_trip_across_rounds():
    ids = ToolCallIdMap()
    original = AIMessage("", tool_calls=[call("add", "call_abc", a=1, b=2)])
    sent = adapt_messages([HumanMessage("hi"), original], "mistral", ids)[1]
    assert isinstance(sent, AIMessage)
    back_from_mistral = AIMessage(
        "", tool_calls=[call("add", sent.tool_calls[0]["id"], a=1, b=2), call("add", "Mst0new01", a=3, b=4)]
    )
    restored = restore_message(back_from_mistral, "mistral", ids)
    assert [c["id"] for c in restored.tool_calls] == ["call_abc", "Mst0new01"]
    # round 2: the restored transcript adapts to the very same ids
    again = adapt_messages([HumanMessage("hi"), restored], "mistral", ids)[1]
    assert isinstance(again, AIMessage)
    assert again.tool_calls[0]["id"] == sent.tool_calls[0]["id"]


def test_restore_parses_native_mistral_text():
    ids = ToolCallIdMap()
    raw = AIMessage('Sure.[TOOL_CALLS]add[ARGS]{"a": 1, "b": 2}[TOOL_CALLS]time__get_current_time[ARGS]{}')
    restored = restore_message(raw, "mistral", ids)
    assert restored.content == "Sure."
    assert [(c["name"], c["args"]) for c in restored.tool_calls] == [
        ("add", {"a": 1, "b": 2}),
        ("time__get_current_time", {}),
    ]
    assert all(MISTRAL_ID.match(c["id"] or "") for c in restored.tool_calls)


def test_parse_native_formats():
    _, calls, bad = parse_mistral_tool_calls(
        '[TOOL_CALLS][{"name": "add", "arguments": {"a": 1, "b": 2}}, '
        '{"name": "mul", "arguments": "{\\"a\\": 3}"}]</s>'
    )
    assert [(c["name"], c["args"]) for c in calls] == [
        ("add", {"a": 1, "b": 2}),
        ("mul", {"a": 3}),
    ] and not bad
    content, calls, bad = parse_mistral_tool_calls(
        'Thinking…[TOOL_CALLS]add[CALL_ID]abcDEF123[ARGS]{"a": 1}[TOOL_CALLS]broken[ARGS]{"a": '
    )
    assert content == "Thinking…" and calls[0]["id"] == "abcDEF123" and calls[0]["args"] == {"a": 1}
    assert len(bad) == 1 and bad[0]["name"] == "broken"
    assert parse_mistral_tool_calls("plain answer") == ("plain answer", [], [])
    one = parse_mistral_tool_calls('[TOOL_CALLS]f[ARGS]{"x": [1, {"y": "]"}]}')[1][0]
    assert one["args"] == {"x": [1, {"y": "]"}]}
    assert one["id"] == parse_mistral_tool_calls('[TOOL_CALLS]f[ARGS]{"x": [1, {"y": "]"}]}')[1][0]["id"]


SCHEMA = {
    "type": "object",
    "$defs": {
        "Point": {"type": "object", "properties": {"x": {"type": "number", "default": 0}}, "required": ["x"]}
    },
    "properties": {
        "p": {"$ref": "#/$defs/Point"},
        "when": {"anyOf": [{"type": "string", "format": "date-time"}, {"type": "null"}], "default": None},
        "tag": {"type": ["string", "null"], "const": "a"},
    },
    "required": ["p"],
}


def test_schema_downgrades_per_provider():
    mistral = adapt_tool_schema(SCHEMA, "mistral")
    assert "$defs" not in mistral and mistral["properties"]["p"]["properties"]["x"] == {"type": "number"}
    assert mistral["properties"]["when"] == {"type": "string"}
    assert mistral["properties"]["tag"]["type"] == "string"
    google = adapt_tool_schema(SCHEMA, "gemini")
    assert google["properties"]["when"] == {"type": "string", "format": "date-time", "nullable": True}
    assert google["properties"]["tag"] == {"type": "string", "nullable": True, "enum": ["a"]}
    assert "$ref" not in json.dumps(adapt_tool_schema(SCHEMA, "ollama"))
    assert adapt_tool_schema(SCHEMA, "openai") == SCHEMA and adapt_tool_schema(SCHEMA, "openai") is not SCHEMA
    recursive = {
        "type": "object",
        "$defs": {"N": {"type": "object", "properties": {"next": {"$ref": "#/$defs/N"}}}},
        "properties": {"n": {"$ref": "#/$defs/N"}},
    }
    assert "$ref" not in json.dumps(adapt_tool_schema(recursive, "mistral"))


def test_tool_choice_mapping():
    assert map_tool_choice("any", "openai") == "required"
    assert map_tool_choice("required", "mistral") == "any"
    assert map_tool_choice("required", "anthropic") == "any"
    assert map_tool_choice("any", "ollama") == "required"
    assert map_tool_choice("auto", "mistral") == "auto"
    assert map_tool_choice("add", "openai") == "add"
    assert map_tool_choice(None, "openai") is None
    assert map_tool_choice({"type": "function"}, "mistral") == {"type": "function"}
