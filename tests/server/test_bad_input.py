"""Bad input never breaks `fusion serve`: the crash classes found by fuzzing, as regression tests.

Before: a ``thread_id`` outside Latin-1 was a 500 (the error handler copied it into a response
header), a NUL in it closed the connection without a response, ``"stream": null`` was a 400, a deep
or huge JSON body was a 500, and unknown fields vanished silently. Each is pinned here, against a
real uvicorn on 127.0.0.1.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from typing import Any, get_type_hints

import httpx
import pytest
from langgraph.checkpoint.memory import InMemorySaver
from openai.types.chat import completion_create_params

from fusion_graph.server import create_app
from fusion_graph.server._errors import header_value
from fusion_graph.server._schema import ChatRequest

from .conftest import ANSWERS, LiveServer, pool_config, serve

MODEL = "fusion/best-of"
PROMPT = [{"role": "user", "content": "Is 1001 prime?"}]


@pytest.fixture(scope="module")
def server() -> Iterator[LiveServer]:
    app = create_app({MODEL: pool_config()}, checkpointer=InMemorySaver())
    with serve(app) as live:
        yield live


def post(server: LiveServer, body: Any, *, raw: bytes | None = None) -> httpx.Response:
    content = raw if raw is not None else json.dumps(body).encode()
    return httpx.post(
        f"{server.base_url}/chat/completions",
        content=content,
        headers={"content-type": "application/json"},
        timeout=30,
    )


def openai_error(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    return error


# --- thread ids: never a header they break, one rule with the library ---------------------------


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "streaming"])
@pytest.mark.parametrize(
    "thread_id",
    ["\U0001f600", "a\x00b", "caf\u00e9", "line\nbreak", "x" * 201, "", "a/b", 42],
    ids=["emoji", "nul", "latin-1", "newline", "too-long", "empty", "slash", "number"],
)
def test_a_bad_thread_id_is_a_400_naming_it(server, thread_id, stream):
    body = {"model": MODEL, "messages": PROMPT, "thread_id": thread_id, "stream": stream}
    error = openai_error(post(server, body), 400)
    assert error["param"] == "thread_id" and error["code"] == "invalid_value"
    assert error["message"].startswith("thread_id: ")
    assert "ASCII letters, digits" in error["message"]


def test_a_valid_thread_id_comes_back_in_the_header(server):
    response = post(server, {"model": MODEL, "messages": PROMPT, "thread_id": "user:42@chat.7_a-b"})
    assert response.status_code == 200, response.text
    assert response.headers["x-fusion-thread-id"] == "user:42@chat.7_a-b"
    stored = httpx.get(f"{server.base_url}/fusions/user:42@chat.7_a-b", timeout=10)
    assert stored.status_code == 200 and stored.json()["status"] == "completed"


@pytest.mark.parametrize("path", ["%F0%9F%98%80", "a%00b", "a%20b"])
def test_a_bad_thread_id_in_the_path_is_a_400(server, path):
    error = openai_error(httpx.get(f"{server.base_url}/fusions/{path}", timeout=10), 400)
    assert error["param"] == "thread_id"


def test_header_values_encode_what_a_header_cannot_hold():
    assert header_value("fusion-1a2b") == "fusion-1a2b"
    assert header_value("a\x00b\U0001f600\ud800") == "a%00b%F0%9F%98%80%ED%A0%80"


# --- OpenAI's nullable fields ---------------------------------------------------------------------


def _openai_optional_fields() -> list[str]:
    """Every optional field of OpenAI's chat-completions request, from the official SDK's types."""
    hints = get_type_hints(completion_create_params.CompletionCreateParamsBase, include_extras=True)
    required = {name for name, hint in hints.items() if "Required[" in str(hint)}
    return sorted({*hints, "stream"} - required)


def test_every_optional_openai_field_is_known_and_nullable():
    fields = _openai_optional_fields()
    assert {"stream", "temperature", "max_tokens", "tools", "tool_choice", "stop", "seed"} <= set(fields)
    for name in fields:
        assert name in ChatRequest.model_fields, f"{name}: OpenAI's field is not in ChatRequest"
        ChatRequest.model_validate({"model": MODEL, "messages": PROMPT, name: None})


@pytest.mark.parametrize("stream", [None, False, True], ids=["null", "false", "true"])
def test_null_means_not_given(server, stream):
    nulls = dict.fromkeys(_openai_optional_fields())
    body = {**nulls, "model": MODEL, "messages": PROMPT, "stream": stream}
    body.update({"mode": None, "rounds": None, "members": None, "thread_id": None})
    response = post(server, body)
    assert response.status_code == 200, response.text
    if stream:
        assert response.headers["content-type"].startswith("text/event-stream")
        assert response.text.rstrip().endswith("data: [DONE]")
    else:
        assert response.json()["choices"][0]["message"]["content"] in ANSWERS


def test_unknown_fields_are_one_warning_line(server, caplog):
    body = {
        "model": MODEL,
        "messages": [{"role": "user", "content": "Is 1001 prime?", "colour": "red"}],
        "frobnicate": 1,
        "temperature": None,
    }
    with caplog.at_level(logging.WARNING, logger="fusion_graph.server"):
        assert post(server, body).status_code == 200
    lines = [r.getMessage() for r in caplog.records if r.name == "fusion_graph.server"]
    assert lines == ['POST /v1/chat/completions: ignored unknown fields ["frobnicate", "messages[0].colour"]']


def test_known_fields_are_typed_strictly(server):
    for field, value in [("stream", "yes"), ("temperature", "0.5"), ("seed", 1.5), ("stop", 3), ("n", True)]:
        error = openai_error(post(server, {"model": MODEL, "messages": PROMPT, field: value}), 400)
        assert error["param"] == field and error["message"].startswith(f"{field}: ")


# --- bodies that broke the JSON parser -------------------------------------------------------------


@pytest.mark.parametrize(
    "raw",
    [
        b"[" * 100_000 + b"]" * 100_000,
        b'{"model": ' + b"9" * 5_000 + b"}",
        b'{"model": "\\ud800", "messages": []}',
        b'{"model": NaN}',
        b'{"model": "\xff"}',
        b"",
    ],
    ids=["deep", "huge-number", "lone-surrogate", "nan", "not-utf-8", "empty"],
)
def test_bodies_that_are_not_json_are_400(server, raw):
    # A deep body was a RecursionError (500), a 5,000-digit number a ValueError (500).
    assert openai_error(post(server, None, raw=raw), 400)["code"] == "invalid_json"


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ([1, 2], None),
        ({"model": MODEL, "messages": [{"role": "robot", "content": "x"}]}, "messages"),
        ({"model": MODEL, "messages": [{"content": "x"}]}, "messages"),
        ({"model": MODEL, "messages": [{"role": "user", "content": [{"type": "video"}]}]}, "messages"),
        ({"model": MODEL, "messages": PROMPT, "tools": [{"type": "function", "function": {}}]}, "tools"),
        ({"model": MODEL, "messages": PROMPT, "tool_choice": {"type": "function"}}, "tool_choice"),
        ({"model": MODEL, "messages": PROMPT, "mode": "poll"}, "mode"),
    ],
    ids=["array", "role", "no-role", "part-type", "tool-name", "choice", "mode"],
)
def test_wrong_shapes_are_400_naming_the_field(server, body, param):
    error = openai_error(post(server, body), 400)
    assert error["param"] == param
    if param:
        assert error["message"].startswith(param)


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "streaming"])
@pytest.mark.parametrize(
    "arguments",
    ["{not json", '{"n": 1000000000000000000000000000000}', "[1, 2]", '{"n": 1e999}'],
    ids=["not-json", "huge-int", "not-an-object", "huge-float"],
)
def test_a_tool_call_whose_arguments_a_checkpoint_cannot_hold_is_kept_as_text(server, arguments, stream):
    # A 31-digit integer in a tool call's arguments was a 500 with a checkpointer (msgpack: 64 bits).
    call = {"id": "call_1", "type": "function", "function": {"name": "f", "arguments": arguments}}
    messages = [
        *PROMPT,
        {"role": "assistant", "content": None, "tool_calls": [call]},
        {"role": "tool", "tool_call_id": "call_1", "content": "3"},
    ]
    response = post(
        server,
        {"model": MODEL, "messages": messages, "thread_id": f"t-{stream}-{len(arguments)}", "stream": stream},
    )
    assert response.status_code == 200, response.text
    assert response.text.rstrip().endswith("data: [DONE]" if stream else "}")


def test_a_bug_is_still_an_openai_error(monkeypatch):
    from fusion_graph.server._service import FusionService

    def broken(self, request):
        raise RuntimeError("a bug")

    monkeypatch.setattr(FusionService, "prepare", broken)
    with serve(create_app({MODEL: pool_config()})) as live:
        error = openai_error(post(live, {"model": MODEL, "messages": PROMPT}), 500)
    assert error["code"] == "internal_error" and "a bug" in error["message"]
