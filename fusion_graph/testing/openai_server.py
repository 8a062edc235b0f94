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

import asyncio
import contextlib
import itertools
import json
import re
import threading
import time
import uuid
from collections.abc import Mapping
from types import TracebackType
from typing import Any

from fusion_graph.providers.fake import count_tokens
from fusion_graph.providers.schema_examples import DEFAULT_LABEL_PATTERN, example_from_schema
from fusion_graph.testing._answers import Answer, answer_for, prompt_text
from fusion_graph.testing._scripts import FAULT_ERRORS, Fault, ModelScript, Turn
from fusion_graph.testing._wire import (
    HTTPError,
    Request,
    abort,
    hang,
    read_request,
    reset,
    send,
    send_error,
    send_json,
    write_chunk,
    write_head,
)

__all__ = [
    "DEFAULT_LABEL_PATTERN",
    "Fault",
    "ModelScript",
    "OpenAIStubServer",
    "Turn",
    "example_from_schema",
]

_STREAM_LIMIT = 16 * 1024 * 1024


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
            abort(writer)
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
                request = await read_request(reader, writer)
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
            abort(writer)
        finally:
            self._writers.discard(writer)
            if task is not None:
                self._tasks.discard(task)
            with contextlib.suppress(Exception):
                writer.close()

    async def _dispatch(
        self, request: Request, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> bool:
        """Answer one request; return False when the connection must close."""
        close = not request.keep_alive
        try:
            if self.api_key is not None:
                auth = request.headers.get("authorization", "")
                if auth != f"Bearer {self.api_key}":
                    raise HTTPError(
                        401,
                        "Incorrect API key provided.",
                        "invalid_request_error",
                        "invalid_api_key",
                    )
            path = request.path.split("?", 1)[0].rstrip("/")
            if path in ("/v1/models", "/models"):
                if request.method != "GET":
                    raise HTTPError(405, "Method not allowed.", "invalid_request_error", None)
                data = [
                    {"id": name, "object": "model", "created": 0, "owned_by": "fusion-graph"}
                    for name in self.models
                ]
                await send_json(writer, 200, {"object": "list", "data": data}, close=close)
                return True
            if path in ("/v1/chat/completions", "/chat/completions"):
                if request.method != "POST":
                    raise HTTPError(405, "Method not allowed.", "invalid_request_error", None)
                return await self._chat(request, reader, writer)
            raise HTTPError(404, f"Unknown path {path!r}.", "invalid_request_error", None)
        except HTTPError as exc:
            await send_error(writer, exc, close=close)
            return True
        except (ConnectionError, asyncio.CancelledError):
            raise
        except Exception as exc:  # noqa: BLE001 - a script bug, shown to the client
            self.errors.append(exc)
            error = HTTPError(500, f"{type(exc).__name__}: {exc}", "stub_script_error", None)
            await send_error(writer, error, close=True)
            return False

    async def _chat(
        self, request: Request, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> bool:
        close = not request.keep_alive
        try:
            body = json.loads(request.body or b"null")
        except (ValueError, UnicodeDecodeError) as exc:
            raise HTTPError(400, f"The body is not valid JSON: {exc}", "invalid_request_error", None) from exc
        if not isinstance(body, dict):
            raise HTTPError(400, "The body must be a JSON object.", "invalid_request_error", None)
        self.requests.append(body)
        model = body.get("model")
        if not isinstance(model, str) or not model:
            raise HTTPError(400, "'model' is required.", "invalid_request_error", "missing")
        call_index = self._calls.get(model, 0)
        self._calls[model] = call_index + 1
        script = self.models.get(model)
        if script is None:
            raise HTTPError(
                404,
                f"The model `{model}` does not exist or you do not have access to it.",
                "invalid_request_error",
                "model_not_found",
            )
        fault = script.faults[call_index] if call_index < len(script.faults) else None
        stream = bool(body.get("stream"))

        if script.latency > 0:
            await asyncio.sleep(script.latency)
        if fault in FAULT_ERRORS:
            status, text, type_, code = FAULT_ERRORS[fault]  # type: ignore[index]
            headers = {"Retry-After": _num(script.retry_after)} if status == 429 else {}
            await send_error(writer, HTTPError(status, text, type_, code), close=close, headers=headers)
            return True
        if fault is Fault.TIMEOUT:
            await hang(reader)
            return False
        if fault is Fault.CONNECTION_RESET:
            reset(writer)
            return False

        served = self._served.get(model, 0)
        self._served[model] = served + 1
        answer = answer_for(script, body, fault, served)
        prompt_tokens = (
            script.prompt_tokens if script.prompt_tokens is not None else count_tokens(prompt_text(body))
        )
        if script.completion_tokens is not None:
            completion_tokens = script.completion_tokens
        else:
            completion_tokens = count_tokens(answer.content or "") + sum(
                count_tokens(tc["function"]["arguments"]) for tc in answer.tool_calls
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
            await write_head(
                writer,
                200,
                {"Content-Type": "application/json", "Content-Length": str(len(data))},
                close=close,
            )
            await hang(reader)
            return False
        if fault is Fault.STREAM_CUT:
            await write_head(
                writer,
                200,
                {"Content-Type": "application/json", "Content-Length": str(len(data))},
                close=close,
            )
            writer.write(data[: len(data) // 2])
            await writer.drain()
            reset(writer)
            return False
        await send(writer, 200, {"Content-Type": "application/json"}, data, close=close)
        return True

    async def _stream(
        self,
        writer: asyncio.StreamWriter,
        reader: asyncio.StreamReader,
        body: Mapping[str, Any],
        script: ModelScript,
        fault: Fault | None,
        answer: Answer,
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

        await write_head(
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
            await write_chunk(writer, f"data: {data}\n\n".encode())
        if fault is Fault.STREAM_STALL:
            await hang(reader)
            return False
        if fault is Fault.STREAM_CUT:
            reset(writer)
            return False
        await write_chunk(writer, b"data: [DONE]\n\n")
        writer.write(b"0\r\n\r\n")
        await writer.drain()
        return True


def _num(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


if __name__ == "__main__":
    from fusion_graph.testing._cli import main

    main()
