"""A hypothesis fuzzer for `POST /v1/chat/completions` on a real uvicorn (127.0.0.1), fixed seed.

Bodies: valid requests with fields replaced by junk of every JSON type (odd unicode, NULs, lone
surrogates, huge numbers, deep nesting), junk messages and tools, unknown fields, bytes that are
not JSON; streamed and not. The bar is ``_fuzz.check_response``: no 5xx, no dropped connection,
every error OpenAI-shaped, and nothing logged at ERROR by the server.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fusion_graph._threads import THREAD_ID_PATTERN
from fusion_graph.server._schema import ChatRequest

from ._fuzz import MEMBERS, MODELS, check_response, fuzz_app, server_errors
from .conftest import LiveServer, serve

pytestmark = [pytest.mark.fuzz, pytest.mark.timeout(120)]

FUZZ = settings(
    max_examples=70,
    derandomize=True,  # a fixed seed: CI runs the same cases every time
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
)

ODD = [
    "",
    " ",
    "\x00",
    "a\x00b",
    "\U0001f600",
    "caf\u00e9",
    "\u202e\u200b\ufeff",
    "\U0010ffff",
    "\r\n",
    "%00",
    "../../etc",
    "x" * 300,
    "fusion/best-of",
    "alpha",
    "user:42",
    "{",
]
TEXT = st.text(max_size=20) | st.sampled_from(ODD)
NUMBER = (
    st.integers(-(2**80), 2**80)
    | st.sampled_from([0, -1, 1, 2, 21, 2**31, 2**63, 10**30])
    | st.floats(allow_nan=False, allow_infinity=False)
)
LEAF = st.none() | st.booleans() | NUMBER | TEXT
JSON = st.recursive(
    LEAF, lambda kids: st.lists(kids, max_size=3) | st.dictionaries(TEXT, kids, max_size=3), max_leaves=8
)
FIELDS = sorted(ChatRequest.model_fields)


def nested(depth: int) -> bytes:
    """JSON nested ``depth`` deep, objects and arrays in turn (written out: no recursion here)."""
    opening = "".join('{"k": ' if index % 2 else "[" for index in range(depth))
    closing = "".join("}" if index % 2 else "]" for index in reversed(range(depth)))
    return f'{{"model": "fusion/best-of", "messages": {opening}"deep"{closing}}}'.encode()


PART = st.fixed_dictionaries(
    {"type": st.sampled_from(["text", "image_url", "input_audio", "file", "refusal"]) | JSON},
    optional={"text": TEXT | JSON, "image_url": JSON, "input_audio": JSON, "file": JSON},
)
CALL = st.fixed_dictionaries(
    {
        "id": TEXT | JSON,
        "type": st.just("function") | JSON,
        "function": st.fixed_dictionaries({"name": TEXT | JSON, "arguments": TEXT | JSON}) | JSON,
    }
)
MESSAGE = st.fixed_dictionaries(
    {"role": st.sampled_from(["system", "developer", "user", "assistant", "tool", "function"]) | JSON},
    optional={
        "content": TEXT | st.lists(PART, max_size=3) | JSON,
        "name": TEXT | JSON,
        "tool_call_id": TEXT | JSON,
        "tool_calls": st.lists(CALL, max_size=2) | JSON,
        "refusal": TEXT | JSON,
    },
)
TOOL = st.fixed_dictionaries(
    {
        "type": st.just("function") | JSON,
        "function": st.fixed_dictionaries(
            {"name": st.sampled_from(["get_weather", "f", "a b", ""]) | TEXT},
            optional={
                "description": TEXT | JSON,
                "parameters": st.just({"type": "object"}) | st.dictionaries(TEXT, JSON, max_size=3) | JSON,
                "strict": JSON,
            },
        )
        | JSON,
    }
)
CHOICE = st.sampled_from(["none", "auto", "required", "any"]) | st.fixed_dictionaries(
    {"type": st.just("function") | JSON, "function": st.fixed_dictionaries({"name": TEXT | JSON}) | JSON}
)
EXTENSIONS = st.fixed_dictionaries(
    {},
    optional={
        "mode": st.sampled_from(["best-of", "merge", "debate", "vote", "poll"]) | JSON,
        "rounds": NUMBER | JSON,
        "members": st.lists(st.sampled_from([*MEMBERS, "zeta"]), max_size=4) | JSON,
        "thread_id": TEXT | JSON,
        "stream_options": st.fixed_dictionaries({"include_usage": JSON}) | JSON,
    },
)
STREAM = st.sampled_from([True, False, None]) | JSON


@st.composite
def bodies(draw: st.DrawFn) -> Any:
    body: dict[str, Any] = {
        "model": draw(st.sampled_from(MODELS) | JSON),
        "messages": draw(st.lists(MESSAGE, min_size=1, max_size=3) | JSON),
        "stream": draw(STREAM),
    }
    if draw(st.booleans()):
        body["tools"] = draw(st.lists(TOOL, max_size=2) | JSON)
        body["tool_choice"] = draw(CHOICE | JSON)
    body.update(draw(EXTENSIONS))
    body.update(draw(st.dictionaries(st.sampled_from(FIELDS) | TEXT, JSON, max_size=3)))
    return body


CONTENT = (
    st.text(max_size=40)
    | st.sampled_from(ODD)
    | st.lists(
        st.fixed_dictionaries({"type": st.just("text"), "text": st.text(max_size=20)}), min_size=1, max_size=2
    )
)
TYPED = st.fixed_dictionaries(
    {},
    optional={
        "temperature": st.floats(allow_nan=False) | st.none(),
        "max_tokens": NUMBER.filter(lambda n: isinstance(n, int)) | st.none(),
        "seed": st.integers(-(2**70), 2**70) | st.none(),
        "stop": st.text(max_size=5) | st.lists(st.text(max_size=5), max_size=4) | st.none(),
        "user": TEXT | st.none(),
        "metadata": st.dictionaries(st.text(max_size=5), st.text(max_size=5), max_size=2) | st.none(),
        "mode": st.sampled_from(["best-of", "merge", "debate", "vote"]) | st.none(),
        "rounds": st.integers(1, 2) | st.none(),
        "members": st.lists(st.sampled_from(MEMBERS), min_size=1, max_size=3, unique=True) | st.none(),
        "thread_id": st.from_regex(THREAD_ID_PATTERN, fullmatch=True) | TEXT | st.none(),
        "stream_options": st.fixed_dictionaries({"include_usage": st.booleans() | st.none()}) | st.none(),
        "tools": st.lists(
            st.fixed_dictionaries(
                {
                    "type": st.just("function"),
                    "function": st.fixed_dictionaries(
                        {"name": st.from_regex(r"[A-Za-z0-9_-]{1,64}", fullmatch=True)},
                        optional={
                            "description": TEXT,
                            "parameters": st.just(
                                {"type": "object", "properties": {"x": {"type": "string"}}}
                            ),
                        },
                    ),
                }
            ),
            max_size=2,
        )
        | st.none(),
        "tool_choice": st.sampled_from(["none", "auto", "required", None]),
        "frobnicate": JSON,
    },
)


@st.composite
def near_valid(draw: st.DrawFn) -> Any:
    """A valid request, with values of the right type (odd text, huge numbers) or one junk field.

    Most reach the fusion; the junk ones test one validation at a time.
    """
    body: dict[str, Any] = {
        "model": draw(st.sampled_from(MODELS)),
        "messages": [{"role": "user", "content": draw(CONTENT)}],
        "stream": draw(st.booleans() | st.none()),
    }
    target = draw(st.sampled_from(["typed", "typed", "typed", "top", "message", "tool", "extension"]))
    if target == "typed":
        body.update(draw(TYPED))
        if draw(st.booleans()):  # an earlier tool call, with arguments of any JSON, and its result
            arguments = json.dumps(draw(st.dictionaries(TEXT, JSON, max_size=3) | JSON))
            call = {"id": "call_1", "type": "function", "function": {"name": "f", "arguments": arguments}}
            body["messages"] += [
                {"role": "assistant", "content": draw(st.none() | CONTENT), "tool_calls": [call]},
                {"role": "tool", "tool_call_id": "call_1", "content": draw(CONTENT)},
            ]
        return body
    if target == "top":
        body[draw(st.sampled_from(FIELDS))] = draw(JSON)
    elif target == "message":
        body["messages"].append(
            {"role": draw(st.sampled_from(["assistant", "tool", "user"])), **draw(MESSAGE)}
        )
    elif target == "tool":
        body["tools"] = [draw(TOOL)]
        body["tool_choice"] = draw(CHOICE)
    else:
        body.update(draw(EXTENSIONS))
    return body


RAW = (
    st.binary(max_size=64)
    | st.integers(1, 3_000).map(nested)
    | st.integers(1, 30_000).map(lambda depth: b"[" * depth + b"]" * depth)
    | st.integers(300, 6_000).map(lambda digits: b'{"model": ' + b"7" * digits + b"}")
    | st.sampled_from([b'{"model": NaN}', b'{"model": 1e999}', b'{"a": "\\ud800"}', b'"\\u0000"', b"null"])
    | bodies().map(lambda body: json.dumps(body).encode()[:-1])  # cut short
    | st.sampled_from(["\ud800", "\udfff", "a\udc00b"]).map(
        lambda lone: json.dumps(
            {"model": MODELS[0], "messages": [{"role": "user", "content": lone}]}
        ).encode()
    )
)


@pytest.fixture(scope="module")
def server() -> Iterator[LiveServer]:
    with serve(fuzz_app()) as live:
        yield live


@pytest.fixture(scope="module")
def client(server: LiveServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.base_url, timeout=30) as http:
        yield http


def send(client: httpx.Client, content: bytes) -> None:
    """POST one body and hold the answer to the bar (a dropped connection raises here)."""
    headers = {"content-type": "application/json"}
    with client.stream("POST", "/chat/completions", content=content, headers=headers) as response:
        text = response.read().decode("utf-8")
    check_response(response, text, f"POST {content[:300]!r}")


def encode(body: Any) -> bytes:
    return json.dumps(body).encode()  # lone surrogates go out as \ud800 escapes


@FUZZ
@given(body=bodies())
def test_junk_bodies_never_break_the_server(client, body):
    with server_errors() as errors:
        send(client, encode(body))
    assert not errors.records, errors.records


@FUZZ
@given(body=near_valid())
def test_one_junk_field_in_a_valid_request_never_breaks_the_server(client, body):
    with server_errors() as errors:
        send(client, encode(body))
    assert not errors.records, errors.records


@settings(FUZZ, max_examples=40)
@given(
    thread_id=TEXT | st.text(st.characters(codec="latin-1"), max_size=8) | JSON,
    stream=st.booleans(),
    model=st.sampled_from(MODELS),
)
def test_any_thread_id_never_breaks_the_server(client, thread_id, stream, model):
    # the thread id is echoed in a response header: it once broke it (a 500, or no response at all)
    body = {"model": model, "messages": [{"role": "user", "content": "Is 1001 prime?"}], "stream": stream}
    with server_errors() as errors:
        send(client, encode({**body, "thread_id": thread_id}))
    assert not errors.records, errors.records


@settings(FUZZ, max_examples=50)
@given(raw=RAW)
def test_bytes_that_are_not_a_request_never_break_the_server(client, raw):
    with server_errors() as errors:
        send(client, raw)
    assert not errors.records, errors.records
