"""``response_format`` through a real ``fusion serve`` process, with the official ``openai`` SDK.

The members are models of an ``OpenAIStubServer`` over loopback HTTP, scripted to answer in the
schema (as a provider honouring ``response_format`` does; the stub records that they were asked),
and its judge answers structured-output requests from the schema. The answer is JSON valid under the
schema, fused field by field, or the request fails with an OpenAI error naming ``response_format``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import pytest
from pydantic import BaseModel

from fusion_graph.testing import ModelScript, OpenAIStubServer

from ._serve_process import ServeProcess, fusions_file, serve_process

PROMPT = [{"role": "user", "content": "Which city is the capital of France, and how many people live there?"}]
NOTES = {
    "Paris has been the capital since the tenth century, on the Seine.",
    "The capital is Paris; the figure is for the city proper.",
    "Lyon is larger than people think, and it is a fine city.",
}


class City(BaseModel):
    name: str
    population: int
    note: str


def _reply(name: str, population: float, note: str) -> str:
    return json.dumps({"name": name, "population": population, "note": note})


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[OpenAIStubServer, ServeProcess]]:
    notes = sorted(NOTES)
    stub = OpenAIStubServer(
        {
            "judge": ModelScript(judge=True),
            # two of three reach Paris and 2,100,000 (one writes it as a float, in a code fence)
            "alpha": ModelScript(reply=_reply("Paris", 2100000, notes[1])),
            "beta": ModelScript(reply="```json\n" + _reply("paris", 2100000.0, notes[2]) + "\n```"),
            "gamma": ModelScript(reply=_reply("Lyon", 520000, notes[0])),
            "prose": ModelScript(reply="Paris, with about two million people."),
        }
    )
    stub.start_in_thread()
    tmp: Path = tmp_path_factory.mktemp("structured")
    pools = {"fusion/city": ["alpha", "beta", "gamma"], "fusion/prose": ["prose"]}
    config = fusions_file(tmp / "fusions.toml", stub.base_url, pools)
    for process in serve_process(stub, config):  # stops both and checks the log for tracebacks after
        yield stub, process


@pytest.fixture
def server(served: tuple[OpenAIStubServer, ServeProcess]) -> ServeProcess:
    return served[1]


def _sdk(server: ServeProcess) -> openai.OpenAI:
    return openai.OpenAI(base_url=server.base_url, api_key="x", max_retries=0, timeout=30)


def test_parse_with_a_pydantic_model_gets_a_schema_valid_fused_answer(
    served: tuple[OpenAIStubServer, ServeProcess],
):
    stub, server = served
    stub.reset()
    completion = _sdk(server).chat.completions.parse(
        model="fusion/city",
        messages=PROMPT,
        response_format=City,  # type: ignore[arg-type]
    )
    city = completion.choices[0].message.parsed
    assert isinstance(city, City)
    # field by field: the majority's name and population, whoever's note the judge ranked first
    assert (city.name.lower(), city.population) == ("paris", 2100000)
    assert city.note in NOTES
    fusion = completion.model_extra["fusion"]  # type: ignore[index]
    assert fusion["decided_by"].startswith("fields")
    # every member was asked for the schema, as the SDK sent it (strict kept)
    asked = [body for body in stub.requests if body["model"] in ("alpha", "beta", "gamma")]
    assert len(asked) == 3
    for body in asked:
        spec = body["response_format"]["json_schema"]
        assert body["response_format"]["type"] == "json_schema"
        assert spec["name"] == "City" and spec["strict"] is True
        assert set(spec["schema"]["properties"]) == {"name", "population", "note"}


def test_json_object_answers_a_json_object(server: ServeProcess):
    completion = _sdk(server).chat.completions.create(
        model="fusion/city",
        messages=PROMPT,
        response_format={"type": "json_object"},  # type: ignore[arg-type]
    )
    answer = json.loads(completion.choices[0].message.content or "")
    assert isinstance(answer, dict) and answer["name"].lower() == "paris"


def test_a_streamed_structured_answer_is_the_fused_json(server: ServeProcess):
    stream = _sdk(server).chat.completions.create(
        model="fusion/city",
        messages=PROMPT,  # type: ignore[arg-type]
        response_format={
            "type": "json_schema",
            "json_schema": {"name": "City", "schema": City.model_json_schema()},
        },
        stream=True,
    )
    text = "".join(chunk.choices[0].delta.content or "" for chunk in stream if chunk.choices)
    assert City.model_validate_json(text).population == 2100000


def test_no_member_in_the_schema_is_an_error_not_text(server: ServeProcess):
    with pytest.raises(openai.APIStatusError) as caught:
        _sdk(server).chat.completions.parse(
            model="fusion/prose",
            messages=PROMPT,
            response_format=City,  # type: ignore[arg-type]
        )
    assert caught.value.status_code == 502
    body = caught.value.body
    assert isinstance(body, dict)
    assert body["code"] == "invalid_structured_output" and body["param"] == "response_format"
    assert "not a JSON object" in body["message"]


@pytest.mark.parametrize(
    ("response_format", "where"),
    [
        ({"type": "xml"}, "response_format.type"),
        ({"type": "json_schema"}, "response_format.json_schema"),
        ({"type": "json_schema", "json_schema": {"name": "x", "schema": {"type": "array"}}}, "schema"),
        (
            {
                "type": "json_schema",
                "json_schema": {"name": "x", "schema": {"properties": {"a": {"type": 7}}}},
            },
            "response_format.json_schema.schema.properties.a.type",
        ),
        ({"type": "json_schema", "json_schema": {"name": "x", "shape": {}}}, "json_schema.shape"),
        ("json", "response_format"),
    ],
)
def test_a_response_format_that_cannot_be_honoured_is_a_400_naming_it(
    server: ServeProcess, response_format, where
):
    body = {"model": "fusion/city", "messages": PROMPT, "response_format": response_format}
    reply = httpx.post(f"{server.base_url}/chat/completions", json=body, timeout=30)
    assert reply.status_code == 400, reply.text
    error = reply.json()["error"]
    assert error["param"] == "response_format"
    assert where in error["message"]


def test_response_format_with_tools_is_a_400_not_a_dropped_field(server: ServeProcess):
    parameters = {"type": "object", "properties": {}, "additionalProperties": False}
    tool = {"type": "function", "function": {"name": "lookup", "strict": True, "parameters": parameters}}
    with pytest.raises(openai.BadRequestError) as caught:
        _sdk(server).chat.completions.parse(
            model="fusion/city",
            messages=PROMPT,
            response_format=City,
            tools=[tool],  # type: ignore[arg-type,list-item]
        )
    assert caught.value.param == "response_format"
    assert "tools" in caught.value.message
