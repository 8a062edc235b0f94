"""Structured answers in the graph: members asked by their provider's method, the decision field by field."""

from __future__ import annotations

import json
from typing import Any

import pytest
from langchain_core.messages import AIMessage
from pydantic import BaseModel

from fusion_graph import Fusion, JudgeFailed, Member, StructuredOutputError
from fusion_graph.graph.nodes._structured import bind_structured, structured_reply
from fusion_graph.providers.profiles import profile_for
from fusion_graph.structured import ResponseFormat
from fusion_graph.testing import ScriptedChatModel

from ..._builders import config, member


class City(BaseModel):
    name: str
    population: int
    note: str


CITY = ResponseFormat.parse(City)
assert CITY is not None


def judge_picking(label: str, calls: list[int] | None = None) -> ScriptedChatModel:
    """A judge whose best-of verdict names ``label`` (labels follow the pool's order: no shuffle)."""

    def verdict(tool: dict[str, Any], messages: Any) -> dict[str, Any]:
        if calls is not None:
            calls.append(1)
        shown = sorted(
            {part for m in messages for part in str(m.content).split() if part.startswith("answer_")}
        )
        labels = sorted({label.strip("[]:,.") for label in shown if label.strip("[]:,.")[7:].isdigit()})
        return {
            "winner": label,
            "scores": [{"label": x, "score": 9 if x == label else 3, "reason": "r"} for x in labels],
            "rationale": "r",
        }

    return ScriptedChatModel(structured=verdict)


def city(name: str, population: float, note: str) -> str:
    return json.dumps({"name": name, "population": population, "note": note})


async def test_unanimous_fields_need_no_judge_and_the_answer_is_checked_json():
    calls: list[int] = []
    cfg = config(
        member("a", city("Paris", 2100000, "big")),
        member("b", "```json\n" + city(" paris ", 2.1e6, "Big.") + "\n```"),
        judge=judge_picking("answer_1", calls),
        shuffle=False,
    )
    result = await Fusion(cfg).run("Capital of France?", response_format=City)
    assert City.model_validate_json(result.answer) == City(name="Paris", population=2100000, note="big")
    assert result.decided_by == "fields:unanimous"
    assert calls == []


async def test_comparable_fields_are_voted_and_free_text_goes_to_the_judge():
    calls: list[int] = []
    cfg = config(
        member("a", city("Lyon", 520000, "Lyon is the largest city in the Rhone valley region.")),
        member("b", city("Paris", 2100000, "Paris, on the Seine, has been the capital for ages.")),
        member("c", city("paris", 2100000.0, "The capital is Paris and the figure is the city proper.")),
        judge=judge_picking("answer_3", calls),
        shuffle=False,
    )
    result = await Fusion(cfg).run("Capital of France?", response_format=City)
    answer = City.model_validate_json(result.answer)
    # name and population by the field's vote, spelt as the judge's first-ranked; the note: the judge's
    assert (answer.name, answer.population) == ("paris", 2100000)
    assert answer.note.startswith("The capital is Paris")
    assert calls == [1]
    assert result.decided_by == "fields+judge:" + (cfg.effective_judge.name or cfg.effective_judge.label)


async def test_a_tied_field_is_settled_by_the_judges_ranking():
    cfg = config(
        member("a", city("Paris", 2100000, "x")),
        member("b", city("Paris", 2200000, "x")),
        judge=judge_picking("answer_2"),
        shuffle=False,
    )
    result = await Fusion(cfg).run("Capital of France?", response_format=City)
    assert json.loads(result.answer)["population"] == 2200000
    assert result.decided_by.startswith("fields+judge:")


async def test_answers_not_in_the_schema_are_left_out_with_an_issue():
    cfg = config(
        member("a", city("Paris", 2100000, "x")),
        member("b", json.dumps({"name": "Paris", "population": "many", "note": "x"})),
        member("c", "Paris, about two million."),
        shuffle=False,
    )
    result = await Fusion(cfg).run("Capital of France?", response_format=City)
    assert json.loads(result.answer) == {"name": "Paris", "population": 2100000, "note": "x"}
    issues = " | ".join(result.verdict_issues)
    assert "answer_2 (b) is not valid under the response_format: population: 'many' is not of type" in issues
    assert "answer_3 (c) is not valid under the response_format: not a JSON object" in issues


async def test_no_answer_in_the_schema_is_a_typed_error_with_the_raw_text():
    cfg = config(member("a", "Paris."), member("b", json.dumps({"name": "Paris"})), shuffle=False)
    with pytest.raises(StructuredOutputError) as caught:
        await Fusion(cfg).run("Capital of France?", response_format=City)
    assert caught.value.raw == "Paris."
    assert caught.value.causes[0].startswith("a: not a JSON object")
    assert "'population' is a required property" in caught.value.causes[1]


async def test_a_mix_that_breaks_the_schema_falls_back_to_one_whole_answer():
    # a and b agree on x, c and d on y, but x = 1 with y = 1 is forbidden: the vote's mix is invalid
    schema = {
        "type": "object",
        "properties": {"x": {"type": "integer"}, "y": {"type": "integer"}},
        "required": ["x", "y"],
        "not": {"properties": {"x": {"const": 1}, "y": {"const": 1}}, "required": ["x", "y"]},
    }
    replies = [{"x": 1, "y": 2}, {"x": 1, "y": 3}, {"x": 2, "y": 1}, {"x": 3, "y": 1}]
    cfg = config(*(member(n, json.dumps(r)) for n, r in zip("abcd", replies, strict=True)), shuffle=False)
    fmt = {"type": "json_schema", "json_schema": {"name": "pair", "schema": schema}}
    result = await Fusion(cfg).run("Pick two numbers.", response_format=fmt)
    assert json.loads(result.answer) == {"x": 1, "y": 2}
    assert result.decided_by == "fields:vote:whole"
    assert any("broke the schema" in issue for issue in result.verdict_issues)


def _judge_down(*_: Any) -> dict[str, Any]:
    raise RuntimeError("judge down")


async def test_a_failing_judge_without_the_fallback_raises_judge_failed():
    cfg = config(
        member("a", city("Paris", 2100000, "one note")),
        member("b", city("Paris", 2100000, "another note")),
        judge=ScriptedChatModel(structured=_judge_down),
        shuffle=False,
        judge_free_fallback=False,
    )
    with pytest.raises(JudgeFailed):
        await Fusion(cfg).run("Capital of France?", response_format=City)
    fallback = cfg.replace(judge_free_fallback=True)
    result = await Fusion(fallback).run("Capital of France?", response_format=City)
    assert result.decided_by == "fields+judge-free"
    assert json.loads(result.answer)["note"] in ("one note", "another note")


async def test_fake_provider_members_answer_by_a_forced_call_of_the_schema():
    cfg = config(Member("fake:x", name="a"), Member("fake:y", name="b"), shuffle=False)
    fusion = Fusion(cfg)
    result = await fusion.run("Capital of France?", response_format=City)
    City.model_validate_json(result.answer)
    assert all(json.loads(c.text).keys() == {"name", "population", "note"} for c in result.candidates)


async def test_a_fusion_with_tools_refuses_a_response_format():
    tool = {"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}
    fusion = Fusion(config(member("a", "x")), bound_tools=[tool])
    with pytest.raises(Exception, match="response_format: a fusion with tools cannot answer in a schema"):
        await fusion.run("hi", response_format=City)


async def test_a_stored_answer_that_is_not_in_the_schema_is_not_returned_as_one():
    from langgraph.checkpoint.memory import InMemorySaver

    fusion = Fusion(config(member("a", "plain text")), checkpointer=InMemorySaver())
    await fusion.run("hi", thread_id="t")
    with pytest.raises(StructuredOutputError):
        await fusion.run("hi", thread_id="t", response_format={"type": "json_object"})
    with pytest.raises(StructuredOutputError):
        async for _ in fusion.stream("hi", thread_id="t", response_format={"type": "json_object"}):
            pass


@pytest.mark.parametrize(
    ("provider", "expect"),
    [
        ("openai", "response_format"),
        ("openrouter", "response_format"),
        ("vllm", "response_format"),
        ("ollama", "format"),
        ("anthropic", "forced"),
        ("mistral", "forced"),
        ("google", "forced"),
        ("local", "forced"),
        ("fake", "forced"),
    ],
)
def test_each_profile_asks_by_its_own_method(provider: str, expect: str):
    model = ScriptedChatModel()
    profile = profile_for(provider)
    bound: Any = bind_structured(model, profile, CITY)
    kwargs = bound.kwargs
    if expect == "response_format":
        assert kwargs["response_format"] == CITY.openai()
    elif expect == "format":
        assert kwargs["format"] == CITY.schema
    else:
        assert kwargs["tools"][0]["function"]["name"] == "City"
        assert kwargs["tool_choice"] == "City"


def test_a_forced_call_becomes_the_answer_text():
    call = {"name": "City", "args": {"name": "Paris", "population": 1, "note": "n"}, "id": "c1"}
    reply = structured_reply(AIMessage(content="", tool_calls=[call]), CITY)  # type: ignore[list-item]
    assert json.loads(reply.text) == call["args"] and reply.tool_calls == []
    assert structured_reply(AIMessage(content="{}"), CITY).text == "{}"
