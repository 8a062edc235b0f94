"""The admission queue's logic on one event loop: order, hand-over, leaving, timeouts, Retry-After."""

from __future__ import annotations

import asyncio
import time

import pytest

from fusion_graph.server._admission import AdmissionQueue
from fusion_graph.server._errors import APIError


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


async def test_waiters_get_freed_slots_first_come_first_served():
    queue = AdmissionQueue(1, 3, 5)
    first = queue.admit()
    waiters = [queue.admit() for _ in range(3)]
    assert first.running and [t.place() for t in waiters] == [1, 2, 3]
    tasks = [asyncio.create_task(t.wait()) for t in waiters]
    await asyncio.sleep(0)
    order = []
    first.release()
    for ticket, task in zip(waiters, tasks, strict=True):
        assert await task is True
        order.append(ticket)
        assert queue.active == 1 and sum(t.running for t in waiters) == 1
        ticket.release()
    assert order == waiters and queue.active == 0 and queue.queued == 0
    assert queue.totals["started_from_queue"] == 3 and queue.totals["finished"] == 4


async def test_a_cancelled_waiter_leaves_and_a_slot_handed_to_it_passes_on():
    queue = AdmissionQueue(1, 2, 5)
    running = queue.admit()
    gone, next_one = queue.admit(), queue.admit()
    waiting = asyncio.create_task(gone.wait())
    await asyncio.sleep(0)
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    assert gone.state == "done" and queue.queued == 1 and queue.totals["left_queue"] == 1
    # a slot handed to a waiter cancelled before it woke up passes on to the next one
    late = queue.admit()
    woken = asyncio.create_task(next_one.wait())
    await asyncio.sleep(0)
    running.release()
    assert next_one.running
    woken.cancel()
    with pytest.raises(asyncio.CancelledError):
        await woken
    assert next_one.state == "done" and late.running and queue.active == 1 and queue.queued == 0


async def test_a_wait_past_the_timeout_is_a_429_and_leaves_the_queue():
    queue = AdmissionQueue(1, 1, 0.05)
    queue.admit()
    ticket = queue.admit()
    assert await ticket.wait(0.01) is False  # a slice: still waiting, place kept
    assert ticket.place() == 1
    with pytest.raises(APIError) as caught:
        await ticket.wait()
    assert caught.value.status == 429 and caught.value.code == "queue_timeout"
    assert queue.queued == 0 and queue.totals["timed_out"] == 1


async def test_a_wait_woken_before_its_deadline_waits_on_instead_of_giving_up():
    # the queue's clock runs at half the event loop's speed, as when asyncio wakes a timed wait
    # early: the wait must still end in the 429, never in "still waiting" (the server read that
    # as a client that went away and answered 499)
    start = time.monotonic()
    queue = AdmissionQueue(1, 1, 0.05, clock=lambda: start + (time.monotonic() - start) / 2)
    queue.admit()
    ticket = queue.admit()
    with pytest.raises(APIError) as caught:
        await asyncio.wait_for(ticket.wait(), timeout=5)
    assert caught.value.code == "queue_timeout" and queue.totals["timed_out"] == 1


def test_a_full_queue_is_a_429_whose_retry_after_spreads_a_burst_out():
    clock = Clock()
    queue = AdmissionQueue(2, 0, 5, clock=clock)
    held = [queue.admit(), queue.admit()]
    clock.now += 0.8
    for ticket in held:
        ticket.release()  # each held 0.8 s: the moving average starts there
    assert queue.fusion_s() == pytest.approx(0.8)
    busy = [queue.admit(), queue.admit()]
    assert all(t.running for t in busy)
    delays = []
    for _ in range(4):
        with pytest.raises(APIError) as caught:
            queue.admit()
        assert caught.value.status == 429 and caught.value.code == "queue_full"
        delays.append(int(caught.value.headers["retry-after-ms"]))
    # two slots free every 0.8 s: the refused come back 0.4 s apart, not all at once
    assert delays == [400, 800, 1200, 1600]
    clock.now += 1.0  # the first two are due by now
    assert queue.retry_after_s() == pytest.approx(1.2)


def test_limits_are_checked():
    for args in ((0, 1, 1.0), (1, -1, 1.0), (1, 1, 0.0)):
        with pytest.raises(ValueError):
            AdmissionQueue(*args)
