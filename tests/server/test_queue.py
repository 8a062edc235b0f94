"""The admission queue of a real `fusion serve` process, driven by the official openai SDK.

Members are models of an `OpenAIStubServer` on 127.0.0.1 with fixed latencies. Two servers:
``wide`` (``--max-concurrency 8``, the default queue of 32) takes a burst of 40 clients;
``narrow`` (one slot, one place in the queue, a 1.5 s queue timeout) shows every refusal.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from fusion_graph.testing import ModelScript, OpenAIStubServer

from ._serve_process import ServeProcess, fusions_file

PROMPT = [{"role": "user", "content": "Is 1001 prime?"}]
SLOW_S = 3.0
QUEUE_TIMEOUT_S = 1.5


@dataclass
class Servers:
    stub: OpenAIStubServer
    wide: ServeProcess
    narrow: ServeProcess


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Servers]:
    stub = OpenAIStubServer(
        {
            "alpha": ModelScript(reply="1001 = 7 x 11 x 13, not prime.", latency=0.3),
            "beta": ModelScript(reply="1001 is not prime: 7 x 143.", latency=0.3),
            "judge": ModelScript(judge=True, latency=0.05),
            "slow": ModelScript(reply="slow answer", latency=SLOW_S),
            "quick": ModelScript(reply="quick answer", latency=0.3),
        }
    )
    stub.start_in_thread()
    tmp: Path = tmp_path_factory.mktemp("queue")
    wide_file = fusions_file(tmp / "wide.toml", stub.base_url, {"fusion/best-of": ["alpha", "beta"]})
    narrow_pools = {"fusion/slow": ["slow"], "fusion/quick": ["quick"]}
    narrow_file = fusions_file(tmp / "narrow.toml", stub.base_url, narrow_pools)
    narrow_args = ("--max-concurrency", "1", "--max-queue", "1", "--queue-timeout", str(QUEUE_TIMEOUT_S))
    wide = ServeProcess(wide_file, "--max-concurrency", "8")
    narrow = ServeProcess(narrow_file, *narrow_args)
    try:
        yield Servers(stub, wide.wait_ready(), narrow.wait_ready())
    finally:
        wide.stop()
        narrow.stop()
        stub.stop()
    assert not wide.errors() and not narrow.errors()


def sdk(server: ServeProcess, **kwargs: Any) -> openai.OpenAI:
    return openai.OpenAI(base_url=server.base_url, api_key="none", timeout=30, **kwargs)


def ask(server: ServeProcess, model: str) -> str:
    response = sdk(server, max_retries=0).chat.completions.create(model=model, messages=PROMPT)  # type: ignore[arg-type]
    return response.choices[0].message.content or ""


def wait_until(check: Callable[[], bool], timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.02)


def idle(server: ServeProcess) -> dict[str, Any]:
    wait_until(lambda: (m := server.metrics())["running"] == 0 and m["queued"] == 0)
    return server.metrics()


async def test_a_burst_of_five_times_the_concurrency_is_all_answered(servers: Servers):
    # 40 clients at once against 8 slots, the SDK's default retries: 8 run, 32 wait, none refused
    wide = servers.wide
    clients = [openai.AsyncOpenAI(base_url=wide.base_url, api_key="none", timeout=60) for _ in range(40)]
    try:
        results = await asyncio.gather(
            *(c.chat.completions.create(model="fusion/best-of", messages=PROMPT) for c in clients),  # type: ignore[arg-type]
            return_exceptions=True,
        )
    finally:
        await asyncio.gather(*(c.close() for c in clients))
    failures = [r for r in results if isinstance(r, BaseException)]
    assert not failures
    answers = {r.choices[0].message.content for r in results if not isinstance(r, BaseException)}
    assert answers <= {"1001 = 7 x 11 x 13, not prime.", "1001 is not prime: 7 x 143."}
    metrics = idle(wide)
    totals = metrics["totals"]
    assert totals["finished"] == 40 and totals["admitted"] == 40
    assert totals["rejected_queue_full"] == 0 and totals["timed_out"] == 0
    assert totals["queued"] >= 1 and totals["started_from_queue"] == totals["queued"]
    assert metrics["peak_running"] <= 8 and 1 <= metrics["peak_queued"] <= 32  # the memory bound
    assert metrics["queue_wait_s"]["samples"] == 40 and metrics["queue_wait_s"]["max"] > 0
    assert metrics["fusion_s"] > 0.3  # the members' latency, measured


def test_a_full_queue_and_a_timed_out_wait_are_429_with_a_computed_retry_after(servers: Servers):
    narrow = servers.narrow
    before = idle(narrow)["totals"]
    calls = servers.stub.calls("slow")
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        first = pool.submit(ask, narrow, "fusion/slow")
        wait_until(lambda: narrow.metrics()["running"] == 1)
        second = pool.submit(ask, narrow, "fusion/slow")
        wait_until(lambda: narrow.metrics()["queued"] == 1)
        with pytest.raises(openai.RateLimitError) as full:
            sdk(narrow, max_retries=0).chat.completions.create(model="fusion/slow", messages=PROMPT)  # type: ignore[arg-type]
        with pytest.raises(openai.RateLimitError) as timed_out:
            second.result(timeout=20)
        assert first.result(timeout=20) == "slow answer"
    for caught, code in ((full, "queue_full"), (timed_out, "queue_timeout")):
        body = caught.value.body
        assert isinstance(body, dict) and body["code"] == code and body["type"] == "rate_limit_error"
        headers = caught.value.response.headers
        delay_ms = int(headers["retry-after-ms"])
        assert delay_ms > 0 and int(headers["retry-after"]) == max(1, math.ceil(delay_ms / 1000))
    totals = idle(narrow)["totals"]
    assert totals["rejected_queue_full"] == before["rejected_queue_full"] + 1
    assert totals["timed_out"] == before["timed_out"] + 1
    assert servers.stub.calls("slow") == calls + 1  # only the first one ran


def test_a_client_that_disconnects_while_queued_leaves_the_queue_and_never_runs(servers: Servers):
    narrow = servers.narrow
    before = idle(narrow)["totals"]["left_queue"]
    calls = servers.stub.calls("slow")
    body = {"model": "fusion/slow", "messages": PROMPT}
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        first = pool.submit(ask, narrow, "fusion/slow")
        wait_until(lambda: narrow.metrics()["running"] == 1)
        # a plain request that gives up while it waits
        with pytest.raises(httpx.ReadTimeout):
            httpx.post(f"{narrow.base_url}/chat/completions", json=body, timeout=httpx.Timeout(5, read=0.4))
        wait_until(lambda: narrow.metrics()["totals"]["left_queue"] == before + 1, timeout=2)
        assert narrow.metrics()["queued"] == 0
        # a stream that goes away once told it is queued
        with httpx.stream(
            "POST", f"{narrow.base_url}/chat/completions", json={**body, "stream": True}, timeout=5
        ) as r:
            assert next(line for line in r.iter_lines() if line).startswith(": queued ")
        wait_until(lambda: narrow.metrics()["totals"]["left_queue"] == before + 2, timeout=2)
        assert narrow.metrics()["queued"] == 0
        assert first.result(timeout=20) == "slow answer"
    idle(narrow)
    assert servers.stub.calls("slow") == calls + 1  # neither of the two that left ever ran


def test_a_queued_stream_is_told_so_at_once_then_runs(servers: Servers):
    narrow = servers.narrow
    idle(narrow)
    body = {"model": "fusion/quick", "messages": PROMPT, "stream": True}
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        first = pool.submit(ask, narrow, "fusion/quick")
        wait_until(lambda: narrow.metrics()["running"] == 1)
        start = time.monotonic()
        with httpx.stream("POST", f"{narrow.base_url}/chat/completions", json=body, timeout=10) as r:
            assert r.status_code == 200
            lines = (line for line in r.iter_lines() if line)
            queued = next(lines)
            assert time.monotonic() - start < 1.0
            rest = list(lines)
        assert first.result(timeout=20) == "quick answer"
    assert queued == ': queued {"place":1}'
    assert rest[0].startswith(": running ")
    assert rest[-1] == "data: [DONE]"
    chunks = [json.loads(line.removeprefix("data: ")) for line in rest[:-1] if line.startswith("data: ")]
    content = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])
    assert content == "quick answer"


def test_a_stream_whose_wait_times_out_gets_an_error_event_the_sdk_raises(servers: Servers):
    narrow = servers.narrow
    before = idle(narrow)["totals"]["timed_out"]
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        first = pool.submit(ask, narrow, "fusion/slow")
        wait_until(lambda: narrow.metrics()["running"] == 1)
        stream = sdk(narrow, max_retries=0).chat.completions.create(
            model="fusion/slow",
            messages=PROMPT,  # type: ignore[arg-type]
            stream=True,
        )
        with pytest.raises(openai.APIError) as caught:
            list(stream)
        assert first.result(timeout=20) == "slow answer"
    assert type(caught.value) is openai.APIError  # an event in a 200 stream, not an HTTP status
    body = caught.value.body
    assert isinstance(body, dict) and body["code"] == "queue_timeout" and body["type"] == "rate_limit_error"
    assert idle(narrow)["totals"]["timed_out"] == before + 1
