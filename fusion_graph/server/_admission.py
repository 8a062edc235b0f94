"""The admission queue: ``max_concurrency`` fusions run, ``max_queue`` more wait their turn in order.

A request that finds every slot taken waits in a first-come-first-served queue instead of being
refused. It is refused (a 429 with a computed ``Retry-After``) only when the queue is full or when
it waited ``timeout_s`` without a slot. A waiter that goes away (its client disconnected, its task
was cancelled) leaves the queue and never runs. Everything here runs on one event loop, so there
are no locks: a freed slot is handed straight to the next waiter.

``Retry-After`` says when the refused request would find room: a free place in the queue (with no
queue, a free slot), every client already told to come back and not yet due counted ahead of it.
Places free up at ``max_concurrency / fusion_s`` per second, ``fusion_s`` being a moving average of
how long the last fusions held their slot, so the refused clients of a burst are spread out rather
than all sent back at the same instant. It is sent as ``retry-after-ms`` (which the OpenAI SDKs
prefer) and as a whole-second ``Retry-After``.
"""

from __future__ import annotations

import asyncio
import bisect
import math
import os
import time
from collections import deque
from collections.abc import Callable
from typing import Any, Literal

from fusion_graph.server._errors import APIError

__all__ = ["AdmissionQueue", "Ticket"]

_FIRST_GUESS_S = 1.0
"""How long a fusion is taken to hold its slot before any has finished."""
_EWMA = 0.2
_MAX_RETRY_AFTER_S = 120.0
"""The OpenAI SDKs do not retry when told to wait longer than two minutes."""
_MIN_RETRY_AFTER_S = 0.05
_WAIT_SAMPLES = 1024

TicketState = Literal["waiting", "running", "done"]


class Ticket:
    """One request's place: running at once, or waiting in the queue until :meth:`wait` says so.

    Attributes:
        position: The place in the queue when it joined (1 is next), 0 when it ran at once.
        state: ``waiting``, ``running`` (holds a slot) or ``done`` (released, or left the queue).
    """

    def __init__(self, queue: AdmissionQueue, *, running: bool, position: int) -> None:
        self._queue = queue
        self.position = position
        self.state: TicketState = "running" if running else "waiting"
        self.joined_at = queue.clock()
        self.started_at: float | None = self.joined_at if running else None
        self.deadline = self.joined_at + queue.timeout_s
        self._wakeup: asyncio.Future[None] | None = (
            None if running else asyncio.get_running_loop().create_future()
        )

    @property
    def running(self) -> bool:
        """Whether it holds a slot."""
        return self.state == "running"

    @property
    def waited_s(self) -> float:
        """Seconds spent in the queue (so far, while it still waits)."""
        end = self.started_at if self.started_at is not None else self._queue.clock()
        return end - self.joined_at

    def place(self) -> int:
        """Its current place in the queue (1 is next), 0 once it runs or is done."""
        return self._queue.place_of(self)

    async def wait(self, slice_s: float | None = None) -> bool:
        """Wait for a slot, at most ``slice_s`` seconds this call (``None``: until the deadline).

        Returns:
            True once it holds a slot; False when ``slice_s`` passed and it still waits (its
            place is kept: call again).

        Raises:
            APIError: 429 ``queue_timeout`` when it waited the queue's timeout without a slot (it
                has then left the queue).
            asyncio.CancelledError: Its task was cancelled; it has left the queue (a slot handed
                to it in the meantime is passed on).
        """
        if self.state == "running":
            return True
        if self.state == "done" or self._wakeup is None:
            raise RuntimeError("this ticket has left the queue")
        clock = self._queue.clock
        until = self.deadline if slice_s is None else min(clock() + slice_s, self.deadline)
        # asyncio may wake a timed wait a little before its time: wait again for the rest
        while self.state == "waiting" and (remaining := until - clock()) > 0:
            try:
                await asyncio.wait({self._wakeup}, timeout=remaining)
            except asyncio.CancelledError:
                self.release()
                raise
        if self.state == "running":
            return True
        if clock() < self.deadline:
            return False
        self._queue.leave(self, timed_out=True)
        raise self._queue.refusal("queue_timeout")

    def release(self) -> None:
        """Give the slot to the next waiter, or leave the queue (idempotent)."""
        if self.state == "running":
            self.state = "done"
            self._queue.finished(self)
        elif self.state == "waiting":
            self._queue.leave(self, timed_out=False)

    def _start(self, now: float) -> None:
        self.state = "running"
        self.started_at = now
        if self._wakeup is not None and not self._wakeup.done():
            self._wakeup.set_result(None)


class AdmissionQueue:
    """At most ``max_concurrency`` fusions at once; up to ``max_queue`` more wait in order.

    Per process: each ``fusion serve`` worker has its own.

    Args:
        max_concurrency: Fusions holding a slot at once.
        max_queue: Requests waiting for a slot; one more is refused with a 429 (0: no queue).
        timeout_s: How long a request may wait before it is refused with a 429.
        clock: Monotonic seconds (tests may pass their own).

    Example:
        >>> ticket = queue.admit()  # 429 when the queue is full
        >>> try:
        ...     await ticket.wait()  # 429 after timeout_s
        ...     await fusion.run(prompt)
        ... finally:
        ...     ticket.release()
    """

    def __init__(
        self,
        max_concurrency: int,
        max_queue: int,
        timeout_s: float,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if max_concurrency < 1:
            raise ValueError("max_concurrency must be at least 1")
        if max_queue < 0:
            raise ValueError("max_queue must be 0 or more")
        if not timeout_s > 0:
            raise ValueError("queue_timeout must be more than 0 seconds")
        self.limit = max_concurrency
        self.max_queue = max_queue
        self.timeout_s = timeout_s
        self.clock = clock
        self.active = 0
        self._waiting: deque[Ticket] = deque()
        self._fusion_s: float | None = None
        self._due: list[float] = []
        self._waits: deque[float] = deque(maxlen=_WAIT_SAMPLES)
        self.peak_running = 0
        self.peak_queued = 0
        self.totals = dict.fromkeys(
            ("admitted", "ran_at_once", "queued", "started_from_queue", "finished", "rejected_queue_full",
             "timed_out", "left_queue"),
            0,
        )  # fmt: skip

    @property
    def queued(self) -> int:
        """Requests waiting now."""
        return len(self._waiting)

    def admit(self) -> Ticket:
        """Take a slot now, or a place in the queue.

        Raises:
            APIError: 429 ``queue_full`` when every slot is taken and the queue is full.
        """
        if self.active < self.limit and not self._waiting:
            self.active += 1
            self.peak_running = max(self.peak_running, self.active)
            self.totals["admitted"] += 1
            self.totals["ran_at_once"] += 1
            self._waits.append(0.0)
            return Ticket(self, running=True, position=0)
        if len(self._waiting) >= self.max_queue:
            self.totals["rejected_queue_full"] += 1
            raise self.refusal("queue_full")
        ticket = Ticket(self, running=False, position=len(self._waiting) + 1)
        self._waiting.append(ticket)
        self.peak_queued = max(self.peak_queued, len(self._waiting))
        self.totals["admitted"] += 1
        self.totals["queued"] += 1
        return ticket

    def place_of(self, ticket: Ticket) -> int:
        """A waiting ticket's place (1 is next); 0 when it is not waiting."""
        if ticket.state != "waiting":
            return 0
        try:
            return self._waiting.index(ticket) + 1
        except ValueError:
            return 0

    def finished(self, ticket: Ticket) -> None:
        """A running ticket is done: learn how long it held its slot, pass the slot on."""
        now = self.clock()
        self.totals["finished"] += 1
        if ticket.started_at is not None:
            held = now - ticket.started_at
            self._fusion_s = held if self._fusion_s is None else (1 - _EWMA) * self._fusion_s + _EWMA * held
        while self._waiting:
            nxt = self._waiting.popleft()
            if nxt.state == "waiting":
                nxt._start(now)  # pyright: ignore[reportPrivateUsage]
                self.totals["started_from_queue"] += 1
                self._waits.append(nxt.waited_s)
                return
        self.active = max(0, self.active - 1)

    def leave(self, ticket: Ticket, *, timed_out: bool) -> None:
        """A waiting ticket leaves the queue without running."""
        if ticket.state != "waiting":
            return
        ticket.state = "done"
        try:
            self._waiting.remove(ticket)
        except ValueError:
            pass
        self.totals["timed_out" if timed_out else "left_queue"] += 1

    def fusion_s(self) -> float:
        """How long a fusion holds its slot: the moving average, or a first guess of 1 s."""
        return self._fusion_s if self._fusion_s is not None else _FIRST_GUESS_S

    def _ahead(self, now: float) -> int:
        del self._due[: bisect.bisect_right(self._due, now)]
        return len(self._waiting) + len(self._due)

    def retry_after_s(self, *, promise: bool = False) -> float:
        """Seconds until a request refused now would find room.

        When the queue is full, room is a free place in it: the clients already told to come
        back go first, and places free up at ``max_concurrency / fusion_s`` per second. With no
        queue (``max_queue=0``) room is a slot, reached once the waiting and the told are served.

        Args:
            promise: Count this answer as a client that will come back then, so that the next
                refused one is told a later time.
        """
        now = self.clock()
        ahead = self._ahead(now) + 1
        if self.max_queue:
            ahead -= min(len(self._waiting), self.max_queue)
        delay = min(_MAX_RETRY_AFTER_S, max(_MIN_RETRY_AFTER_S, ahead * self.fusion_s() / self.limit))
        if promise:
            bisect.insort(self._due, now + delay)
        return delay

    def refusal(self, code: Literal["queue_full", "queue_timeout"]) -> APIError:
        """The 429 for a request refused now, with its ``Retry-After``."""
        delay = self.retry_after_s(promise=True)
        if code == "queue_full":
            why = f"{self.active} fusions are running and {self.queued} waiting, the limits of this server"
        else:
            why = f"no fusion slot freed up within the queue timeout of {self.timeout_s:g} s"
        return APIError(
            429,
            f"{why}; retry in {delay:.1f} s",
            type="rate_limit_error",
            code=code,
            headers={
                "Retry-After": str(max(1, math.ceil(delay))),
                "retry-after-ms": str(round(delay * 1000)),
            },
        )

    def metrics(self) -> dict[str, Any]:
        """The queue now, its waits and its totals since start (this process only)."""
        now = self.clock()
        waits = sorted(self._waits)

        def pct(q: float) -> float | None:
            return round(waits[min(len(waits) - 1, round(q * (len(waits) - 1)))], 4) if waits else None

        return {
            "object": "fusion.metrics",
            "pid": os.getpid(),
            "max_concurrency": self.limit,
            "max_queue": self.max_queue,
            "queue_timeout_s": self.timeout_s,
            "running": self.active,
            "queued": self.queued,
            "peak_running": self.peak_running,
            "peak_queued": self.peak_queued,
            "oldest_wait_s": round(now - self._waiting[0].joined_at, 4) if self._waiting else 0.0,
            "fusion_s": round(self._fusion_s, 4) if self._fusion_s is not None else None,
            "retry_after_s": round(self.retry_after_s(), 3),
            "queue_wait_s": {
                "samples": len(waits),
                "mean": round(sum(waits) / len(waits), 4) if waits else None,
                "p50": pct(0.5),
                "p95": pct(0.95),
                "max": round(waits[-1], 4) if waits else None,
            },
            "totals": dict(self.totals),
        }
