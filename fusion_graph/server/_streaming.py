"""Server-sent events: a fusion as ``chat.completion.chunk``s, its progress as SSE comments.

The fused answer exists only once the judge has decided, so the stream is: a role chunk, one SSE
comment per fusion event (``: fusion {"type": "member_finished", …}``; clients ignore comments,
people and proxies see progress), the answer in a few content chunks, the tool calls, a final chunk
with ``finish_reason`` and the ``fusion`` extension, the usage chunk when asked, then ``[DONE]``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import time
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

from fusion_graph.result import FusionResult
from fusion_graph.server._errors import from_exception
from fusion_graph.server._schema import (
    completion_chunk,
    finish_reason,
    fusion_extension,
    to_openai_tool_calls,
    usage_of,
)
from fusion_graph.server._service import FusionService, PreparedRun

__all__ = ["FusionStream"]

_WORDS_PER_CHUNK = 8
_DONE = object()


def _sse(data: Any) -> bytes:
    return f"data: {json.dumps(data, separators=(',', ':'))}\n\n".encode()


class FusionStream:
    """One streamed fusion: runs it in a task and turns its output into SSE bytes.

    :meth:`started` waits until a member has answered (or the fusion failed), so that a fusion
    whose every member fails is a 502 with the causes rather than a 200 with an error event.
    """

    def __init__(
        self,
        service: FusionService,
        run: PreparedRun,
        *,
        include_usage: bool,
        keepalive_s: float = 15.0,
        on_close: Callable[[], None] | None = None,
    ) -> None:
        self.run = run
        self.include_usage = include_usage
        self.keepalive_s = keepalive_s
        self._on_close = on_close
        self._queue: asyncio.Queue[Any] = asyncio.Queue()
        self._buffer: list[Any] = []
        self._task = asyncio.create_task(self._produce(service))
        self._closed = False

    async def _produce(self, service: FusionService) -> None:
        try:
            async for item in service.stream(self.run):
                await self._queue.put(item)
        except Exception as exc:  # noqa: BLE001 - handed to the consumer as an error event
            await self._queue.put(exc)
        await self._queue.put(_DONE)

    async def started(self) -> None:
        """Wait for the first answer, the result or the failure of the fusion.

        Raises:
            Exception: The fusion's error when it failed before any member answered.
        """
        while True:
            item = await self._queue.get()
            if isinstance(item, Exception):
                self.close()
                raise item
            self._buffer.append(item)
            if item is _DONE or isinstance(item, FusionResult):
                return
            if isinstance(item, dict) and item.get("type") == "member_finished":
                return

    def close(self) -> None:
        """Stop the fusion if it still runs and give the concurrency slot back (idempotent)."""
        if not self._task.done():
            self._task.cancel()
        if not self._closed:
            self._closed = True
            if self._on_close is not None:
                self._on_close()

    async def _items(self) -> AsyncIterator[Any]:
        for item in self._buffer:
            yield item
        self._buffer.clear()
        while True:
            try:
                item = await asyncio.wait_for(self._queue.get(), self.keepalive_s)
            except TimeoutError:
                yield None
                continue
            yield item
            if item is _DONE:
                return

    async def body(self) -> AsyncIterator[bytes]:
        """The SSE body."""
        completion_id = f"chatcmpl-{uuid.uuid4().hex}"
        created = int(time.time())
        extra: dict[str, Any] = {"usage": None} if self.include_usage else {}

        def chunk(delta: dict[str, Any] | None, **more: Any) -> bytes:
            return _sse(completion_chunk(completion_id, created, self.run.model, delta, **{**extra, **more}))

        try:
            yield chunk({"role": "assistant", "content": ""})
            async for item in self._items():
                if item is None:
                    yield b": keep-alive\n\n"
                elif isinstance(item, dict):
                    yield f": fusion {json.dumps(item, separators=(',', ':'))}\n\n".encode()
                elif isinstance(item, Exception):
                    yield _sse(from_exception(item).body())
                    return
                elif isinstance(item, FusionResult):
                    for part in self._answer(item, chunk):
                        yield part
            yield b"data: [DONE]\n\n"
        finally:
            self.close()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task

    def _answer(self, result: FusionResult, chunk: Callable[..., bytes]) -> list[bytes]:
        parts: list[bytes] = []
        words = re.split(r"(?<=\s)", result.answer) if result.answer else []
        for start in range(0, len(words), _WORDS_PER_CHUNK):
            parts.append(chunk({"content": "".join(words[start : start + _WORDS_PER_CHUNK])}))
        if result.tool_calls:
            calls = [{"index": i, **call} for i, call in enumerate(to_openai_tool_calls(result.tool_calls))]
            parts.append(chunk({"tool_calls": calls}))
        ext = fusion_extension(result, model=self.run.model, thread_id=self.run.thread_id)
        parts.append(chunk({}, finish=finish_reason(result), fusion=ext))
        if self.include_usage:
            parts.append(chunk(None, usage=usage_of(result)))
        return parts
