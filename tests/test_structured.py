"""``fusion_graph.structured``: every form of a response format read into one, bad ones named."""

from __future__ import annotations

from typing import TypedDict

import pytest
from pydantic import BaseModel

from fusion_graph import ConfigError, StructuredOutputError
from fusion_graph.structured import RESPONSE_FORMAT, ResponseFormat, run_format, with_format


class City(BaseModel):
    """A city."""

    name: str
    population: int


class Point(TypedDict):
    x: int
    y: int


def test_every_form_reads_into_one_format():
    from_model = ResponseFormat.parse(City)
    assert from_model is not None
    assert (from_model.name, from_model.description) == ("City", "A city.")
    assert from_model.schema["required"] == ["name", "population"]
    typed = ResponseFormat.parse(Point)
    assert typed is not None and set(typed.schema["properties"]) == {"x", "y"}
    bare = ResponseFormat.parse({"type": "object", "properties": {"a": {"type": "integer"}}})
    assert bare is not None and bare.name == "answer"
    wire = {"type": "json_schema", "json_schema": {"name": "c", "schema": {"type": "object"}, "strict": True}}
    parsed = ResponseFormat.parse(wire)
    assert parsed is not None and parsed.openai() == wire
    assert ResponseFormat.parse({"type": "json_object"}) == ResponseFormat(
        "json_object", "json_object", {"type": "object"}
    )
    assert ResponseFormat.parse({"type": "text"}) is None and ResponseFormat.parse(None) is None


@pytest.mark.parametrize(
    ("value", "field", "words"),
    [
        ({"type": "yaml"}, "response_format.type", "'yaml' is not a response format type"),
        ({"type": "json_object", "schema": {}}, "response_format.schema", "is not a field"),
        ({"type": "json_schema", "json_schema": {"schema": {}}}, "response_format.json_schema.name", "None"),
        (
            {"type": "json_schema", "json_schema": {"name": "a b"}},
            "response_format.json_schema.name",
            "'a b'",
        ),
        (
            {"type": "json_schema", "json_schema": {"name": "a", "strict": "yes"}},
            "response_format.json_schema.strict",
            "'yes'",
        ),
        (
            {"type": "json_schema", "json_schema": {"name": "a", "schema": {"type": "string"}}},
            "response_format.json_schema.schema",
            "must describe an object",
        ),
        (
            {"type": "json_schema", "json_schema": {"name": "a", "schema": {"required": "a"}}},
            "response_format.json_schema.schema.required",
            "not a valid JSON schema",
        ),
    ],
)
def test_a_bad_format_names_its_field(value, field, words):
    with pytest.raises(ConfigError) as caught:
        ResponseFormat.parse(value)
    assert caught.value.field == field
    assert words in caught.value.problem


def test_not_a_schema_at_all_is_a_config_error():
    with pytest.raises(ConfigError, match="schema"):
        ResponseFormat.parse(42)


def test_check_returns_the_object_or_raises_with_the_text_kept():
    fmt = ResponseFormat.parse(City)
    assert fmt is not None
    assert fmt.check('```json\n{"name": "Paris", "population": 2}\n```') == {"name": "Paris", "population": 2}
    with pytest.raises(StructuredOutputError) as caught:
        fmt.check('{"name": "Paris"}')
    assert "'population' is a required property" in str(caught.value)
    assert caught.value.raw == '{"name": "Paris"}'
    assert fmt.read("[1, 2]") == (None, "not a JSON object: '[1, 2]'")


def test_the_format_rides_in_configurable_as_plain_json():
    fmt = ResponseFormat.parse(City)
    config = with_format({"configurable": {"thread_id": "t"}}, fmt)
    assert config["configurable"][RESPONSE_FORMAT]["json_schema"]["name"] == "City"
    assert run_format(config) == fmt
    assert run_format(with_format(config, None)) is None
    assert with_format(config, None)["configurable"] == {"thread_id": "t"}
