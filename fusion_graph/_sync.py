"""Run coroutines from sync code on one long-lived event loop.

``asyncio.run`` per call makes a new loop each time, but provider clients cache their async HTTP
clients per base URL for the whole process (langchain-openai does), bound to the loop that made
them: the second sync call then fails with "Event loop is closed". Sync entry points therefore
share one background loop, started on first use in a daemon thread and kept for the process.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

__all__ = ["run_sync"]

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
    future = asyncio.run_coroutine_threadsafe(coroutine, _LOOP.loop())
    return future.result()
