"""Server-sent events: a fusion as ``chat.completion.chunk``s, its progress as SSE comments.

The headers and a first SSE comment go out at once, before any model answers, so that proxies and
clients see a live stream: ``: queued {"place": 3}`` while the request waits for a slot (repeated
every ``keepalive_s``), then ``: running {"queue_wait_ms": …}``. Then a role chunk, one SSE
comment per fusion event (``: fusion {"type": "member_finished", …}``; clients ignore comments,
people and proxies see progress), and the answer as content chunks the moment its tokens exist:
each ``answer_delta`` event of the run (the picked answer once the verdict is in; a merge's
writer call token by token, after ``: fusion {"type":"answer_started","source":"writer"}``) is a
``chat.completion.chunk`` at once. Then the tool calls, a final chunk with ``finish_reason`` and
the ``fusion`` extension, the usage chunk when asked, then ``[DONE]``. A stored thread's answer,
which no run streamed, goes out in a few content chunks.

Any failure after the headers (every member failed, the judge failed, the queue timed out, a
merge's writer cut off midway through its answer) is an OpenAI error event
``data: {"error": {…}}``, which the OpenAI SDKs raise as ``APIError``, and ends the stream, also
when some answer tokens went out before it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

from fusion_graph.events import answer_pieces
from fusion_graph.result import FusionResult
from fusion_graph.server._admission import Ticket
from fusion_graph.server._errors import APIError, from_exception
from fusion_graph.server._schema import (
    completion_chunk,
    finish_reason,
    fusion_extension,
    to_openai_tool_calls,
    usage_of,
)
from fusion_graph.server._service import FusionService, PreparedRun

__all__ = ["FusionStream"]

_DONE = object()


def _sse(data: Any) -> bytes:
    return f"data: {json.dumps(data, separators=(',', ':'))}\n\n".encode()


def _comment(name: str, data: dict[str, Any]) -> bytes:
    return f": {name} {json.dumps(data, separators=(',', ':'))}\n\n".encode()


class FusionStream:
    """One streamed fusion: waits for its slot, runs the fusion in a task, turns its output into SSE.

    The fusion starts only once ``ticket`` holds a slot; :meth:`close` (the client went away, the
    response ended) cancels it, or takes the ticket out of the queue, and gives the slot back.
    """

    def __init__(
        self,
        service: FusionService,
        run: PreparedRun,
        ticket: Ticket,
        *,
        include_usage: bool,
        keepalive_s: float = 15.0,
    ) -> None:
        self.run = run
        self.ticket = ticket
        self.include_usage = include_usage
        self.keepalive_s = keepalive_s
        self._service = service
        self._queue: asyncio.Queue[Any] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None

    async def _produce(self) -> None:
        try:
            async for item in self._service.stream(self.run):
                await self._queue.put(item)
        except Exception as exc:  # noqa: BLE001 - handed to the consumer as an error event
            await self._queue.put(exc)
        await self._queue.put(_DONE)

    def close(self) -> None:
        """Stop the fusion if it still runs; give the slot back or leave the queue (idempotent)."""
        if self._task is not None and not self._task.done():
            self._task.cancel()
        self.ticket.release()

    async def _items(self) -> AsyncIterator[Any]:
        while True:
            try:
                item = await asyncio.wait_for(self._queue.get(), self.keepalive_s)
            except TimeoutError:
                yield None
                continue
            yield item
            if item is _DONE:
                return

    async def _admitted(self) -> AsyncIterator[bytes]:
        """``: queued`` comments until the ticket holds a slot, then ``: running``."""
        if not self.ticket.running:
            yield _comment("queued", {"place": self.ticket.place()})
            while not await self.ticket.wait(self.keepalive_s):
                yield _comment("queued", {"place": self.ticket.place()})
        yield _comment("running", {"queue_wait_ms": round(self.ticket.waited_s * 1000)})

    async def body(self) -> AsyncIterator[bytes]:
        """The SSE body."""
        completion_id = f"chatcmpl-{uuid.uuid4().hex}"
        created = int(time.time())
        extra: dict[str, Any] = {"usage": None} if self.include_usage else {}

        def chunk(delta: dict[str, Any] | None, **more: Any) -> bytes:
            return _sse(completion_chunk(completion_id, created, self.run.model, delta, **{**extra, **more}))

        try:
            try:
                async for comment in self._admitted():
                    yield comment
            except APIError as exc:  # the queue timed out
                yield _sse(exc.body())
                return
            self._task = asyncio.create_task(self._produce())
            yield chunk({"role": "assistant", "content": ""})
            streamed = False
            async for item in self._items():
                if item is None:
                    yield b": keep-alive\n\n"
                elif isinstance(item, dict) and item.get("type") == "answer_delta":
                    streamed = True
                    yield chunk({"content": item["text"]})
                elif isinstance(item, dict):
                    yield _comment("fusion", item)
                elif isinstance(item, Exception):
                    yield _sse(from_exception(item).body())
                    return
                elif isinstance(item, FusionResult):
                    for part in self._answer(item, chunk, streamed=streamed):
                        yield part
            yield b"data: [DONE]\n\n"
        finally:
            self.close()
            if self._task is not None:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await self._task

    def _answer(self, result: FusionResult, chunk: Callable[..., bytes], *, streamed: bool) -> list[bytes]:
        """What follows the answer's text: its tool calls, the last chunk, the usage.

        The text itself went out as it streamed; only an answer no run streamed (a stored
        thread's) is sent here, in a few chunks.
        """
        parts: list[bytes] = []
        if not streamed:
            parts.extend(chunk({"content": piece}) for piece in answer_pieces(result.answer))
        if result.tool_calls:
            calls = [{"index": i, **call} for i, call in enumerate(to_openai_tool_calls(result.tool_calls))]
            parts.append(chunk({"tool_calls": calls}))
        ext = fusion_extension(result, model=self.run.model, thread_id=self.run.thread_id)
        parts.append(chunk({}, finish=finish_reason(result), fusion=ext))
        if self.include_usage:
            parts.append(chunk(None, usage=usage_of(result)))
        return parts
