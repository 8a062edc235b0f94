"""A scriptable OpenAI-compatible HTTP server on 127.0.0.1 for tests and benchmarks.

The server speaks just enough HTTP/1.1 (keep-alive, ``Content-Length`` and chunked
bodies, ``Connection: close``) on plain :mod:`asyncio` streams to serve the OpenAI
Chat Completions API to real clients (the ``openai`` SDK, ``langchain-openai``,
``httpx``). It has no dependencies and can inject low-level faults: error statuses,
hangs, connection resets, malformed bodies and streams that stall or are cut.

Endpoints:

* ``GET /v1/models``: the scripted model names.
* ``POST /v1/chat/completions``: JSON or SSE (``stream=True``) answers, with
  ``stream_options.include_usage`` honoured by a final usage chunk.

Errors use OpenAI's format ``{"error": {"message", "type", "param", "code"}}``; an
unknown model is a 404, a missing or wrong ``Authorization: Bearer`` key (when the
server has ``api_key=``) a 401.

Token usage is deterministic: a token is a whitespace-separated word. Prompt tokens
are the words of every message's text content; completion tokens are the words of
the reply, or of the JSON arguments of the tool calls. ``ModelScript`` can fix both.

Example:
    ```python
    server = OpenAIStubServer(models={
        "alpha": ModelScript(reply="The answer is 7.", latency=0.2),
        "beta": ModelScript(replies=["first", "second"]),
        "gamma": ModelScript(faults=[Fault.HTTP_500, None]),
        "caller": ModelScript(turns=[
            Turn(tool_calls=[{"name": "add", "arguments": {"a": 1, "b": 2}}]),
            Turn(reply="3"),
        ]),
        "judge": ModelScript(judge=True),
    })
    async with server:
        llm = ChatOpenAI(base_url=server.base_url, api_key="sk-test", model="alpha")
        assert (await llm.ainvoke("hi")).content == "The answer is 7."
        assert server.calls("alpha") == 1
    ```

Run ``python -m fusion_graph.testing.openai_server --model alpha="hello"`` for a
manual server.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import enum
import itertools
import json
import re
import socket
import struct
import threading
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any

from fusion_graph.providers.schema_examples import (
    DEFAULT_LABEL_PATTERN,
    JudgePick,
    consistent_verdict,
    example_from_schema,
)

__all__ = [
    "DEFAULT_LABEL_PATTERN",
    "Fault",
    "ModelScript",
    "OpenAIStubServer",
    "Turn",
    "example_from_schema",
]

ReplyText = str | Callable[[dict[str, Any]], str]
"""A reply: fixed text, or a callable ``(request_body) -> str`` for dynamic replies."""

_MAX_HEADER_BYTES = 64 * 1024
# Not JSON, and not completable into JSON by lenient partial parsers either.
_BROKEN_ARGS = "<<not json>>"
_STREAM_LIMIT = 16 * 1024 * 1024


class Fault(enum.Enum):
    """A fault injected into one chat completion call.

    Error statuses answer in OpenAI's error format. Hanging faults (``TIMEOUT``,
    ``STREAM_STALL``) wait until the client disconnects or the server stops, so they
    never outlive :meth:`OpenAIStubServer.aclose`.
    """

    HTTP_429 = "http_429"
    """429 rate limit, with a ``Retry-After`` header (``ModelScript.retry_after``)."""
    HTTP_500 = "http_500"
    """500 internal server error."""
    HTTP_503 = "http_503"
    """503 service unavailable (overloaded)."""
    HTTP_401 = "http_401"
    """401 invalid API key."""
    HTTP_400 = "http_400"
    """400 invalid request."""
    TIMEOUT = "timeout"
    """Send nothing and hang, past any client timeout."""
    CONNECTION_RESET = "connection_reset"
    """Close the socket (RST) without a response."""
    MALFORMED_JSON = "malformed_json"
    """200 with a body (or, streaming, an SSE event) that is not valid JSON."""
    EMPTY_CONTENT = "empty_content"
    """A normal answer whose content is the empty string."""
    INVALID_TOOL_ARGS = "invalid_tool_args"
    """A tool call whose ``arguments`` string is not valid JSON."""
    STREAM_STALL = "stream_stall"
    """Streaming: send a couple of chunks, then hang. Non-streaming: headers, then hang."""
    STREAM_CUT = "stream_cut"
    """Streaming: send a couple of chunks, then close the socket. Non-streaming: half a body."""


@dataclass
class Turn:
    """One assistant turn of a multi-turn script.

    Attributes:
        reply: The text reply, or a callable ``(request_body) -> str``.
        tool_calls: Tool calls to make instead, each ``{"name": str, "arguments": dict |
            str}`` (optionally with an ``"id"``).
    """

    reply: ReplyText | None = None
    tool_calls: Sequence[Mapping[str, Any]] | None = None


@dataclass
class ModelScript:
    """What one model name answers.

    The reply of a call is chosen in this order: a judge answer (``judge=True`` and a
    structured-output request), the turn (``turns``), ``tool_calls``, ``replies``,
    ``reply``, and finally ``"ok"``.

    Attributes:
        reply: Fixed text, or a callable ``(request_body) -> str``.
        replies: Replies used in turn, cycling, one per answered (not faulted) call.
        turns: Turns of a conversation. The turn index is the number of assistant
            messages after the last user message of the request, clamped to the last
            turn, so concurrent conversations each get the right turn.
        tool_calls: Tool calls made on every call (with ``reply`` too: tool calls first,
            then the reply once the conversation holds a tool result).
        judge: Answer structured-output requests (``response_format`` json_schema, or
            tools with a forced ``tool_choice``) with an object generated from the schema.
        judge_pick: How the judge picks labels for enum fields and for string fields
            named like ``winner``/``label``, from the prompt (the text of the user
            messages): a regex whose first match (its first non-empty group, if it has
            groups) is the label, or a callable ``(prompt, options) -> label`` where
            ``options`` are the enum values or ``None``. By default an enum takes the
            option that occurs first in the prompt, a free field the first match of
            :data:`DEFAULT_LABEL_PATTERN` (``"A"`` when nothing matches).
        judge_fields: Fixed judge output values by property name, at any depth; a
            callable value is called with the prompt.
        faults: Faults per call: entry ``i`` applies to call ``i`` (0-based) of this
            model, ``None`` means a normal answer; calls past the list are normal.
        latency: Seconds to wait before answering.
        token_delay: Seconds to wait between streamed chunks.
        prompt_tokens: Fixed prompt token count (counted words otherwise).
        completion_tokens: Fixed completion token count (counted words otherwise).
        retry_after: ``Retry-After`` seconds sent with :attr:`Fault.HTTP_429`.
        cost: A cost in US dollars reported in ``usage.cost`` (as OpenRouter does), or none.
        finish_reason: The ``finish_reason`` to report instead of ``stop`` / ``tool_calls``
            (e.g. ``"length"``: the answer stopped at its token limit).
    """

    reply: ReplyText | None = None
    replies: Sequence[ReplyText] | None = None
    turns: Sequence[Turn] | None = None
    tool_calls: Sequence[Mapping[str, Any]] | None = None
    judge: bool = False
    judge_pick: JudgePick | None = None
    judge_fields: Mapping[str, Any] | None = None
    faults: Sequence[Fault | None] = ()
    latency: float = 0.0
    token_delay: float = 0.0
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    retry_after: float = 1.0
    cost: float | None = None
    finish_reason: str | None = None


@dataclass
class _Answer:
    content: str | None
    tool_calls: list[dict[str, Any]]

    @property
    def finish_reason(self) -> str:
        return "tool_calls" if self.tool_calls else "stop"


class _HTTPError(Exception):
    def __init__(self, status: int, message: str, type_: str, code: str | None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = type_
        self.code = code


@dataclass
class _Request:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    keep_alive: bool


_REASONS = {
    200: "OK",
    400: "Bad Request",
    401: "Unauthorized",
    404: "Not Found",
    405: "Method Not Allowed",
    429: "Too Many Requests",
    500: "Internal Server Error",
    503: "Service Unavailable",
}

_FAULT_ERRORS: dict[Fault, tuple[int, str, str, str | None]] = {
    Fault.HTTP_429: (429, "Rate limit reached (injected).", "requests", "rate_limit_exceeded"),
    Fault.HTTP_500: (500, "The server had an error (injected).", "server_error", None),
    Fault.HTTP_503: (503, "The engine is overloaded (injected).", "server_error", "overloaded"),
    Fault.HTTP_401: (
        401,
        "Incorrect API key (injected).",
        "invalid_request_error",
        "invalid_api_key",
    ),
    Fault.HTTP_400: (400, "Invalid request (injected).", "invalid_request_error", None),
}


# --------------------------------------------------------------------------- schema


def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = []
        for part in content:
            if isinstance(part, str):
                parts.append(part)
            elif isinstance(part, Mapping) and isinstance(part.get("text"), str):
                parts.append(part["text"])
        return "\n".join(parts)
    return ""


def _prompt_text(body: Mapping[str, Any], *, user_only: bool = False) -> str:
    messages = [m for m in body.get("messages") or [] if isinstance(m, Mapping)]
    if user_only:
        users = [m for m in messages if m.get("role") == "user"]
        if users:
            messages = users
    return "\n".join(_text_of(m.get("content")) for m in messages)


def _count_words(text: str) -> int:
    return len(text.split())


# --------------------------------------------------------------------------- server


class OpenAIStubServer:
    """A scripted OpenAI-compatible Chat Completions server on 127.0.0.1.

    Use ``async with server:`` inside a running event loop, or ``with server:`` /
    :meth:`start_in_thread` and :meth:`stop` from sync code (it then runs its own
    loop in a daemon thread). Stopping cancels hanging handlers and closes every
    connection, so it never hangs on stalled streams.

    Args:
        models: The scripts by model name; unknown names get a 404. The mapping is
            read on each request, so it can be changed while the server runs.
        api_key: If set, requests must send ``Authorization: Bearer <api_key>``.
        host: The address to bind (loopback by default).
        port: The port to bind; 0 picks a free one.

    Attributes:
        models: The scripts by model name.
        requests: Every chat completion request body received, in order.
        connections: How many TCP connections were accepted (to check keep-alive reuse).
        errors: Exceptions raised by scripts (a reply callable, a bad schema); each
            was answered with a 500 whose message names it.

    Example:
        ```python
        with OpenAIStubServer(models={"m": ModelScript(reply="hi")}) as server:
            client = openai.OpenAI(base_url=server.base_url, api_key="x")
        ```
    """

    def __init__(
        self,
        models: Mapping[str, ModelScript] | None = None,
        *,
        api_key: str | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self.models: dict[str, ModelScript] = dict(models or {})
        self.api_key = api_key
        self.host = host
        self.requests: list[dict[str, Any]] = []
        self.connections = 0
        self.errors: list[Exception] = []
        self._port = port
        self._calls: dict[str, int] = {}
        self._served: dict[str, int] = {}
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._writers: set[asyncio.StreamWriter] = set()
        self._ids = itertools.count(1)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------------ lifecycle

    @property
    def port(self) -> int:
        """The bound port (the requested one before :meth:`start`)."""
        return self._port

    @property
    def base_url(self) -> str:
        """The OpenAI base URL, ``http://127.0.0.1:PORT/v1``."""
        if self._server is None:
            raise RuntimeError("the server is not started")
        return f"http://{self.host}:{self._port}/v1"

    def calls(self, model: str) -> int:
        """Return how many chat completion calls ``model`` received (faulted ones too)."""
        return self._calls.get(model, 0)

    def reset(self) -> None:
        """Forget recorded requests, call counts and reply positions."""
        self.requests.clear()
        self.connections = 0
        self.errors.clear()
        self._calls.clear()
        self._served.clear()

    async def start(self) -> None:
        """Bind and start serving in the running event loop.

        Raises:
            RuntimeError: If the server is already started.
        """
        if self._server is not None:
            raise RuntimeError("the server is already started")
        self._server = await asyncio.start_server(self._handle, self.host, self._port, limit=_STREAM_LIMIT)
        self._port = self._server.sockets[0].getsockname()[1]

    async def aclose(self) -> None:
        """Stop serving: cancel every handler, close every connection. Idempotent."""
        server, self._server = self._server, None
        if server is None:
            return
        server.close()
        for writer in list(self._writers):
            _abort(writer)
        tasks = [t for t in self._tasks if t is not asyncio.current_task()]
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=5)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(server.wait_closed(), timeout=5)

    async def __aenter__(self) -> OpenAIStubServer:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    def start_in_thread(self, timeout: float = 10.0) -> OpenAIStubServer:
        """Start the server in its own event loop on a daemon thread.

        Args:
            timeout: Seconds to wait for the server to bind.

        Returns:
            The server itself, started.

        Raises:
            RuntimeError: If it is already started or does not start in time.
        """
        if self._thread is not None or self._server is not None:
            raise RuntimeError("the server is already started")
        started = threading.Event()
        failure: list[BaseException] = []
        loop = asyncio.new_event_loop()

        def run() -> None:
            asyncio.set_event_loop(loop)
            try:
                loop.run_until_complete(self.start())
            except BaseException as exc:  # noqa: BLE001 - handed to the caller
                failure.append(exc)
                started.set()
                loop.close()
                return
            started.set()
            try:
                loop.run_forever()
            finally:
                loop.run_until_complete(self.aclose())
                loop.close()

        self._loop = loop
        self._thread = threading.Thread(target=run, name="openai-stub-server", daemon=True)
        self._thread.start()
        if not started.wait(timeout) or failure:
            self._thread = None
            self._loop = None
            if failure:
                raise RuntimeError("the server did not start") from failure[0]
            raise RuntimeError("the server did not start in time")
        return self

    def stop(self, timeout: float = 10.0) -> None:
        """Stop a server started by :meth:`start_in_thread`. Idempotent.

        Args:
            timeout: Seconds to wait for the thread to finish.
        """
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        with contextlib.suppress(RuntimeError):
            future = asyncio.run_coroutine_threadsafe(self.aclose(), loop)
            with contextlib.suppress(Exception):
                future.result(timeout)
            loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout)
        self._loop = None
        self._thread = None

    def __enter__(self) -> OpenAIStubServer:
        return self.start_in_thread()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # ------------------------------------------------------------------ HTTP

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
        self._writers.add(writer)
        self.connections += 1
        try:
            while True:
                request = await _read_request(reader, writer)
                if request is None:
                    break
                keep = await self._dispatch(request, reader, writer)
                if not (keep and request.keep_alive):
                    break
        except (
            ConnectionError,
            asyncio.IncompleteReadError,
            asyncio.LimitOverrunError,
            ValueError,
        ):
            pass
        except asyncio.CancelledError:
            # Cancelled by aclose(): end quietly. asyncio's stream callback would log a
            # cancelled connection task as an error, and nobody awaits this task.
            _abort(writer)
        finally:
            self._writers.discard(writer)
            if task is not None:
                self._tasks.discard(task)
            with contextlib.suppress(Exception):
                writer.close()

    async def _dispatch(
        self, request: _Request, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> bool:
        """Answer one request; return False when the connection must close."""
        close = not request.keep_alive
        try:
            if self.api_key is not None:
                auth = request.headers.get("authorization", "")
                if auth != f"Bearer {self.api_key}":
                    raise _HTTPError(
                        401,
                        "Incorrect API key provided.",
                        "invalid_request_error",
                        "invalid_api_key",
                    )
            path = request.path.split("?", 1)[0].rstrip("/")
            if path in ("/v1/models", "/models"):
                if request.method != "GET":
                    raise _HTTPError(405, "Method not allowed.", "invalid_request_error", None)
                data = [
                    {"id": name, "object": "model", "created": 0, "owned_by": "fusion-graph"}
                    for name in self.models
                ]
                await _send_json(writer, 200, {"object": "list", "data": data}, close=close)
                return True
            if path in ("/v1/chat/completions", "/chat/completions"):
                if request.method != "POST":
                    raise _HTTPError(405, "Method not allowed.", "invalid_request_error", None)
                return await self._chat(request, reader, writer)
            raise _HTTPError(404, f"Unknown path {path!r}.", "invalid_request_error", None)
        except _HTTPError as exc:
            await _send_error(writer, exc, close=close)
            return True
        except (ConnectionError, asyncio.CancelledError):
            raise
        except Exception as exc:  # noqa: BLE001 - a script bug, shown to the client
            self.errors.append(exc)
            error = _HTTPError(500, f"{type(exc).__name__}: {exc}", "stub_script_error", None)
            await _send_error(writer, error, close=True)
            return False

    async def _chat(
        self, request: _Request, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> bool:
        close = not request.keep_alive
        try:
            body = json.loads(request.body or b"null")
        except (ValueError, UnicodeDecodeError) as exc:
            raise _HTTPError(
                400, f"The body is not valid JSON: {exc}", "invalid_request_error", None
            ) from exc
        if not isinstance(body, dict):
            raise _HTTPError(400, "The body must be a JSON object.", "invalid_request_error", None)
        self.requests.append(body)
        model = body.get("model")
        if not isinstance(model, str) or not model:
            raise _HTTPError(400, "'model' is required.", "invalid_request_error", "missing")
        call_index = self._calls.get(model, 0)
        self._calls[model] = call_index + 1
        script = self.models.get(model)
        if script is None:
            raise _HTTPError(
                404,
                f"The model `{model}` does not exist or you do not have access to it.",
                "invalid_request_error",
                "model_not_found",
            )
        fault = script.faults[call_index] if call_index < len(script.faults) else None
        stream = bool(body.get("stream"))

        if script.latency > 0:
            await asyncio.sleep(script.latency)
        if fault in _FAULT_ERRORS:
            status, text, type_, code = _FAULT_ERRORS[fault]  # type: ignore[index]
            headers = {"Retry-After": _num(script.retry_after)} if status == 429 else {}
            await _send_error(writer, _HTTPError(status, text, type_, code), close=close, headers=headers)
            return True
        if fault is Fault.TIMEOUT:
            await _hang(reader)
            return False
        if fault is Fault.CONNECTION_RESET:
            _reset(writer)
            return False

        served = self._served.get(model, 0)
        self._served[model] = served + 1
        answer = self._answer(script, body, fault, served)
        prompt_tokens = (
            script.prompt_tokens if script.prompt_tokens is not None else _count_words(_prompt_text(body))
        )
        if script.completion_tokens is not None:
            completion_tokens = script.completion_tokens
        else:
            completion_tokens = _count_words(answer.content or "") + sum(
                _count_words(tc["function"]["arguments"]) for tc in answer.tool_calls
            )
        usage = {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        }
        if script.cost is not None:  # as OpenRouter reports the cost of a call in its usage
            usage["cost"] = script.cost  # type: ignore[assignment]
        completion_id = f"chatcmpl-{next(self._ids):08d}{uuid.uuid4().hex[:12]}"
        created = int(time.time())
        if stream:
            return await self._stream(
                writer,
                reader,
                body,
                script,
                fault,
                answer,
                usage,
                completion_id,
                created,
                close=close,
            )
        message: dict[str, Any] = {
            "role": "assistant",
            "content": answer.content,
            "refusal": None,
        }
        if answer.tool_calls:
            message["tool_calls"] = answer.tool_calls
        payload = {
            "id": completion_id,
            "object": "chat.completion",
            "created": created,
            "model": model,
            "system_fingerprint": "fp_stub",
            "choices": [
                {
                    "index": 0,
                    "message": message,
                    "logprobs": None,
                    "finish_reason": script.finish_reason or answer.finish_reason,
                }
            ],
            "usage": usage,
        }
        data = json.dumps(payload).encode()
        if fault is Fault.MALFORMED_JSON:
            data = data[: max(1, len(data) // 2)]
        if fault is Fault.STREAM_STALL:
            await _write_head(
                writer,
                200,
                {"Content-Type": "application/json", "Content-Length": str(len(data))},
                close=close,
            )
            await _hang(reader)
            return False
        if fault is Fault.STREAM_CUT:
            await _write_head(
                writer,
                200,
                {"Content-Type": "application/json", "Content-Length": str(len(data))},
                close=close,
            )
            writer.write(data[: len(data) // 2])
            await writer.drain()
            _reset(writer)
            return False
        await _send(writer, 200, {"Content-Type": "application/json"}, data, close=close)
        return True

    async def _stream(
        self,
        writer: asyncio.StreamWriter,
        reader: asyncio.StreamReader,
        body: Mapping[str, Any],
        script: ModelScript,
        fault: Fault | None,
        answer: _Answer,
        usage: dict[str, int],
        completion_id: str,
        created: int,
        *,
        close: bool,
    ) -> bool:
        include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
        base = {
            "id": completion_id,
            "object": "chat.completion.chunk",
            "created": created,
            "model": body.get("model"),
            "system_fingerprint": "fp_stub",
        }

        def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
            out = {
                **base,
                "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
            }
            if include_usage:
                out["usage"] = None
            return out

        events: list[dict[str, Any]] = [chunk({"role": "assistant", "content": "", "refusal": None})]
        if answer.content:
            for piece in re.findall(r"\s*\S+\s*", answer.content) or [answer.content]:
                events.append(chunk({"content": piece}))
        for index, call in enumerate(answer.tool_calls):
            function = call["function"]
            events.append(
                chunk(
                    {
                        "tool_calls": [
                            {
                                "index": index,
                                "id": call["id"],
                                "type": "function",
                                "function": {"name": function["name"], "arguments": ""},
                            }
                        ]
                    }
                )
            )
            args = function["arguments"]
            step = max(1, len(args) // 3)
            for start in range(0, len(args), step):
                events.append(
                    chunk(
                        {
                            "tool_calls": [
                                {
                                    "index": index,
                                    "function": {"arguments": args[start : start + step]},
                                }
                            ]
                        }
                    )
                )
        events.append(chunk({}, script.finish_reason or answer.finish_reason))
        if include_usage:
            events.append({**base, "choices": [], "usage": usage})

        await _write_head(
            writer,
            200,
            {
                "Content-Type": "text/event-stream; charset=utf-8",
                "Cache-Control": "no-cache",
                "Transfer-Encoding": "chunked",
            },
            close=close,
        )
        broken = fault in (Fault.STREAM_STALL, Fault.STREAM_CUT)
        if broken:
            events = events[: min(2, len(events) - 1)]
        for number, event in enumerate(events):
            if number and script.token_delay > 0:
                await asyncio.sleep(script.token_delay)
            data = json.dumps(event)
            if fault is Fault.MALFORMED_JSON and number == len(events) // 2:
                data = data[: len(data) // 2]
            await _write_chunk(writer, f"data: {data}\n\n".encode())
        if fault is Fault.STREAM_STALL:
            await _hang(reader)
            return False
        if fault is Fault.STREAM_CUT:
            _reset(writer)
            return False
        await _write_chunk(writer, b"data: [DONE]\n\n")
        writer.write(b"0\r\n\r\n")
        await writer.drain()
        return True

    # ------------------------------------------------------------------ answers

    def _answer(self, script: ModelScript, body: dict[str, Any], fault: Fault | None, served: int) -> _Answer:
        answer = self._judge_answer(script, body) if script.judge else None
        if answer is None:
            answer = self._scripted_answer(script, body, served)
        if fault is Fault.EMPTY_CONTENT:
            return _Answer(content="", tool_calls=[])
        if fault is Fault.INVALID_TOOL_ARGS:
            calls = answer.tool_calls or [self._tool_call(_first_tool_name(body), {})]
            broken = [{**c, "function": {**c["function"], "arguments": _BROKEN_ARGS}} for c in calls]
            return _Answer(content=None, tool_calls=broken)
        return answer

    def _scripted_answer(self, script: ModelScript, body: dict[str, Any], served: int) -> _Answer:
        turns: list[Turn] = list(script.turns or [])
        if not turns and script.tool_calls:
            turns = [Turn(tool_calls=script.tool_calls)]
            if script.reply is not None:
                turns.append(Turn(reply=script.reply))
        if turns:
            turn = turns[min(_assistant_turns(body), len(turns) - 1)]
            if turn.tool_calls:
                return _Answer(
                    content=None,
                    tool_calls=[
                        self._tool_call(str(c["name"]), c.get("arguments", {}), c.get("id"))
                        for c in turn.tool_calls
                    ],
                )
            return _Answer(content=_render(turn.reply, body), tool_calls=[])
        if script.replies:
            reply = script.replies[served % len(script.replies)]
            return _Answer(content=_render(reply, body), tool_calls=[])
        return _Answer(content=_render(script.reply, body), tool_calls=[])

    def _judge_answer(self, script: ModelScript, body: dict[str, Any]) -> _Answer | None:
        prompt = _prompt_text(body, user_only=True)

        def generate(schema: Mapping[str, Any]) -> Any:
            value = example_from_schema(
                schema, prompt=prompt, pick=script.judge_pick, fields=script.judge_fields
            )
            if "scores" in (script.judge_fields or {}):
                return value  # the script fixes the scores itself
            return consistent_verdict(value)

        response_format = body.get("response_format")
        if isinstance(response_format, Mapping):
            kind = response_format.get("type")
            if kind == "json_schema":
                spec = response_format.get("json_schema") or {}
                schema = spec.get("schema") or {"type": "object"}
                return _Answer(content=json.dumps(generate(schema)), tool_calls=[])
            if kind == "json_object":
                text = _render(script.reply, body)
                try:
                    json.loads(text)
                except ValueError:
                    text = json.dumps({"answer": text})
                return _Answer(content=text, tool_calls=[])
        tool = _forced_tool(body)
        if tool is not None:
            function = tool.get("function") or {}
            schema = function.get("parameters") or {"type": "object", "properties": {}}
            call = self._tool_call(str(function.get("name", "tool")), generate(schema))
            return _Answer(content=None, tool_calls=[call])
        return None

    @staticmethod
    def _tool_call(name: str, arguments: Any, call_id: Any = None) -> dict[str, Any]:
        args = arguments if isinstance(arguments, str) else json.dumps(arguments)
        return {
            "id": str(call_id) if call_id else f"call_{uuid.uuid4().hex[:24]}",
            "type": "function",
            "function": {"name": name, "arguments": args},
        }


def _render(reply: ReplyText | None, body: dict[str, Any]) -> str:
    if reply is None:
        return "ok"
    if callable(reply):
        return str(reply(body))
    return reply


def _assistant_turns(body: Mapping[str, Any]) -> int:
    messages = [m for m in body.get("messages") or [] if isinstance(m, Mapping)]
    count = 0
    for message in reversed(messages):
        role = message.get("role")
        if role == "user":
            break
        if role == "assistant":
            count += 1
    return count


def _first_tool_name(body: Mapping[str, Any]) -> str:
    for tool in body.get("tools") or []:
        if isinstance(tool, Mapping) and isinstance(tool.get("function"), Mapping):
            return str(tool["function"].get("name", "tool"))
    return "tool"


def _forced_tool(body: Mapping[str, Any]) -> Mapping[str, Any] | None:
    tools = [t for t in body.get("tools") or [] if isinstance(t, Mapping)]
    choice = body.get("tool_choice")
    if not tools or choice in (None, "none", "auto"):
        return None
    if isinstance(choice, Mapping):
        name = (choice.get("function") or {}).get("name")
        for tool in tools:
            if (tool.get("function") or {}).get("name") == name:
                return tool
        return None
    if choice in ("required", "any") and len(tools) == 1:
        return tools[0]
    return None


def _num(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


# --------------------------------------------------------------------------- wire


async def _read_request(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> _Request | None:
    """Read one HTTP/1.1 request; None on a clean end of the connection."""
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError as exc:
        if exc.partial.strip():
            raise
        return None
    except asyncio.LimitOverrunError:
        await _send_error(
            writer,
            _HTTPError(431, "Headers too large.", "invalid_request_error", None),
            close=True,
        )
        return None
    if len(head) > _MAX_HEADER_BYTES:
        await _send_error(
            writer,
            _HTTPError(431, "Headers too large.", "invalid_request_error", None),
            close=True,
        )
        return None
    lines = head.decode("latin-1").split("\r\n")
    try:
        method, target, version = lines[0].split(" ", 2)
    except ValueError:
        await _send_error(
            writer,
            _HTTPError(400, "Bad request line.", "invalid_request_error", None),
            close=True,
        )
        return None
    headers: dict[str, str] = {}
    for line in lines[1:]:
        if ":" in line:
            key, value = line.split(":", 1)
            headers[key.strip().lower()] = value.strip()
    if headers.get("transfer-encoding", "").lower() == "chunked":
        parts = []
        while True:
            size_line = await reader.readuntil(b"\r\n")
            size = int(size_line.split(b";", 1)[0].strip() or b"0", 16)
            if size == 0:
                await reader.readuntil(b"\r\n")
                break
            parts.append(await reader.readexactly(size))
            await reader.readexactly(2)
        body = b"".join(parts)
    else:
        length = int(headers.get("content-length", "0") or 0)
        body = await reader.readexactly(length) if length else b""
    connection = headers.get("connection", "").lower()
    if version.upper() == "HTTP/1.0":
        keep_alive = "keep-alive" in connection
    else:
        keep_alive = "close" not in connection
    return _Request(method.upper(), target, headers, body, keep_alive)


async def _write_head(
    writer: asyncio.StreamWriter, status: int, headers: Mapping[str, str], *, close: bool
) -> None:
    lines = [f"HTTP/1.1 {status} {_REASONS.get(status, 'Error')}"]
    all_headers = {
        "Server": "fusion-graph-openai-stub",
        "Date": time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime()),
        **headers,
        "Connection": "close" if close else "keep-alive",
    }
    lines.extend(f"{k}: {v}" for k, v in all_headers.items())
    writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
    await writer.drain()


async def _send(
    writer: asyncio.StreamWriter,
    status: int,
    headers: Mapping[str, str],
    body: bytes,
    *,
    close: bool,
) -> None:
    await _write_head(writer, status, {**headers, "Content-Length": str(len(body))}, close=close)
    writer.write(body)
    await writer.drain()


async def _send_json(writer: asyncio.StreamWriter, status: int, payload: Any, *, close: bool) -> None:
    await _send(
        writer,
        status,
        {"Content-Type": "application/json"},
        json.dumps(payload).encode(),
        close=close,
    )


async def _send_error(
    writer: asyncio.StreamWriter,
    error: _HTTPError,
    *,
    close: bool,
    headers: Mapping[str, str] | None = None,
) -> None:
    payload = {
        "error": {
            "message": error.message,
            "type": error.type,
            "param": None,
            "code": error.code,
        }
    }
    await _send(
        writer,
        error.status,
        {"Content-Type": "application/json", **(headers or {})},
        json.dumps(payload).encode(),
        close=close,
    )


async def _write_chunk(writer: asyncio.StreamWriter, data: bytes) -> None:
    writer.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
    await writer.drain()


async def _hang(reader: asyncio.StreamReader) -> None:
    """Wait until the client disconnects (or the task is cancelled)."""
    with contextlib.suppress(ConnectionError):
        while await reader.read(65536):
            pass


def _reset(writer: asyncio.StreamWriter) -> None:
    """Close the connection with a TCP RST rather than a clean FIN."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    _abort(writer)


def _abort(writer: asyncio.StreamWriter) -> None:
    transport = writer.transport
    with contextlib.suppress(Exception):
        transport.abort()


# --------------------------------------------------------------------------- CLI


def _main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m fusion_graph.testing.openai_server",
        description="Serve scripted OpenAI-compatible chat models on 127.0.0.1.",
    )
    parser.add_argument("--port", type=int, default=0, help="port (0: a free one)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--api-key", default=None, help="require this bearer key")
    parser.add_argument(
        "--model",
        action="append",
        default=[],
        metavar="NAME=REPLY",
        help="a model answering REPLY (repeatable)",
    )
    parser.add_argument(
        "--judge",
        action="append",
        default=[],
        metavar="NAME",
        help="a judge model answering structured-output requests (repeatable)",
    )
    parser.add_argument("--latency", type=float, default=0.0, help="seconds per answer")
    parser.add_argument("--token-delay", type=float, default=0.0, help="seconds per chunk")
    args = parser.parse_args(argv)
    models: dict[str, ModelScript] = {}
    for spec in args.model:
        name, _, reply = spec.partition("=")
        models[name] = ModelScript(reply=reply or "ok", latency=args.latency, token_delay=args.token_delay)
    for name in args.judge:
        models[name] = ModelScript(judge=True, latency=args.latency, token_delay=args.token_delay)
    if not models:
        models["stub"] = ModelScript(reply="ok")

    async def serve() -> None:
        server = OpenAIStubServer(models, api_key=args.api_key, host=args.host, port=args.port)
        async with server:
            print(f"serving {', '.join(models)} at {server.base_url}", flush=True)
            await asyncio.Event().wait()

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve())


if __name__ == "__main__":
    _main()
