"""Run coroutines from sync code on one long-lived event loop.

``asyncio.run`` per call makes a new loop each time, but provider clients cache their async HTTP
clients per base URL for the whole process (langchain-openai does), bound to the loop that made
them: the second sync call then fails with "Event loop is closed". Sync entry points therefore
share one background loop, started on first use in a daemon thread and kept for the process.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import queue
import threading
from collections.abc import AsyncIterator, Callable, Coroutine, Generator
from typing import Any, TypeVar

__all__ = ["iterate_sync", "run_sync", "start_sync"]

T = TypeVar("T")


class _LoopThread:
    """One event loop running in a daemon thread, created lazily and thread-safely."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None

    def loop(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._loop is None or self._loop.is_closed():
                loop = asyncio.new_event_loop()
                thread = threading.Thread(target=loop.run_forever, name="fusion-graph-sync", daemon=True)
                thread.start()
                self._loop = loop
            return self._loop


_LOOP = _LoopThread()  # no work at import: the loop and its thread start on the first sync call


def run_sync(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run ``coroutine`` to completion on the shared background loop and return its result.

    Safe from plain sync code and from sync code called inside a running loop (it never blocks
    that loop's own thread on itself: the work runs on the background loop).
    """
    return start_sync(coroutine).result()


def start_sync(coroutine: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T]:
    """Start ``coroutine`` on the shared background loop; its future, for sync code to wait on later.

    Cancelling the future cancels the coroutine's task.
    """
    return asyncio.run_coroutine_threadsafe(coroutine, _LOOP.loop())


class _Ended:
    """The end of an iteration handed over the queue, with the error that ended it, if any."""

    def __init__(self, error: BaseException | None) -> None:
        self.error = error


def iterate_sync(make: Callable[[], AsyncIterator[T]]) -> Generator[T, None, None]:
    """Iterate an async iterator from sync code, on the shared background loop.

    The async iterator runs as one task on the background loop and hands each item over through a
    thread-safe queue, so items reach the caller as they come. A caller that stops early (breaks
    out, or the generator is closed or collected) cancels that task; nothing waits on it.

    Args:
        make: Builds the async iterator (called on the background loop).

    Raises:
        Exception: Whatever the async iterator raised, re-raised in the caller's thread.
    """
    items: queue.SimpleQueue[T | _Ended] = queue.SimpleQueue()

    async def pump() -> None:
        try:
            async for item in make():
                items.put(item)
        except BaseException as exc:  # handed to the caller's thread, raised there
            items.put(_Ended(exc))
            if isinstance(exc, asyncio.CancelledError):
                raise
            return
        items.put(_Ended(None))

    future = asyncio.run_coroutine_threadsafe(pump(), _LOOP.loop())
    try:
        while True:
            item = items.get()
            if isinstance(item, _Ended):
                if item.error is not None:
                    raise item.error
                return
            yield item
    finally:
        future.cancel()
