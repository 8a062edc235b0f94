"""``FusionChatModel.with_structured_output``: the fused path, not a forced tool call; members over HTTP."""

from __future__ import annotations

import json
from typing import Any

import pytest
from pydantic import BaseModel

from fusion_graph import ConfigError, FusionChatModel, FusionConfig, Judge, Member, StructuredOutputError
from fusion_graph.testing import ModelScript, OpenAIStubServer
from tests._builders import config, member


class City(BaseModel):
    name: str
    population: int


def _stub_member(stub: OpenAIStubServer, name: str) -> dict[str, Any]:
    return {
        "model": f"openai:{name}",
        "base_url": stub.base_url,
        "api_key": "x",
        "params": {"max_retries": 0},
    }


def test_members_over_http_are_asked_for_the_schema_and_the_result_is_the_model():
    stub = OpenAIStubServer(
        models={
            "alpha": ModelScript(reply=json.dumps({"name": "Paris", "population": 2100000})),
            "beta": ModelScript(reply=json.dumps({"name": "Paris", "population": 2100000.0})),
            "judge": ModelScript(judge=True),
        }
    )
    with stub:
        cfg = FusionConfig(
            pool=[Member(**_stub_member(stub, "alpha")), Member(**_stub_member(stub, "beta"))],
            judge=Judge(**_stub_member(stub, "judge")),
        )
        structured = FusionChatModel(cfg).with_structured_output(City)
        assert structured.invoke("Capital of France?") == City(name="Paris", population=2100000)
        members = [body for body in stub.requests if body["model"] in ("alpha", "beta")]
        assert [body["response_format"]["json_schema"]["name"] for body in members] == ["City", "City"]
        assert all("tools" not in body for body in members)  # not a forced tool call
        assert stub.calls("judge") == 0  # unanimous: no judge call


async def test_dict_schemas_include_raw_and_streams():
    schema = {"title": "pair", "type": "object", "properties": {"x": {"type": "integer"}}, "required": ["x"]}
    model = FusionChatModel(config(member("a", '{"x": 3}'), member("b", '{"x": 3.0}')))
    assert await model.with_structured_output(schema).ainvoke("x?") == {"x": 3}
    raw = await model.with_structured_output(schema, include_raw=True).ainvoke("x?")
    assert raw["parsed"] == {"x": 3} and raw["parsing_error"] is None
    assert json.loads(raw["raw"].content) == {"x": 3}
    assert [chunk async for chunk in model.with_structured_output(schema).astream("x?")] == [{"x": 3}]


def test_no_valid_answer_raises_and_is_never_parsed_from_text():
    model = FusionChatModel(config(member("a", "three"), member("b", "3")))
    with pytest.raises(StructuredOutputError):
        model.with_structured_output(City).invoke("x?")


def test_bind_response_format_is_the_same_path():
    model = FusionChatModel(config(member("a", '{"name": "Paris", "population": 1}')))
    message = model.bind(response_format={"type": "json_object"}).invoke("x?")
    assert json.loads(message.text) == {"name": "Paris", "population": 1}


def test_bad_arguments_are_config_errors():
    model = FusionChatModel(config(member("a", "x")))
    with pytest.raises(ConfigError, match="method"):
        model.with_structured_output(City, method="xml")
    with pytest.raises(ConfigError, match="tools"):
        model.with_structured_output(City, tools=[])
