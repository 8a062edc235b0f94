"""Many fusions at once through one compiled ``Fusion``: wall time and memory per in-flight fusion.

A pool of 3 members (``--member`` seconds each) and a judge (``--judge`` seconds) served by
``OpenAIStubServer`` in a separate process. First the server alone is measured (the same number of
concurrent raw HTTP calls, no fusion), then, for each level, N fusions are started together with
``asyncio.gather`` on one ``Fusion`` compiled once. Each level runs in a fresh child process so that
its memory figures are not hidden by memory freed by a previous level.

Connections are opened before timing (``--cold`` to skip): see ``prewarm``.

Reported per level: wall time ÷ one fusion's critical path (member + judge), and peak RSS growth per
in-flight fusion (``/proc/self/statm`` sampled every 5 ms, minus the RSS after a warm-up fusion).

Connection pool: every member and the judge get one shared ``httpx.AsyncClient`` with no connection
cap (``params={"http_async_client": client}``); the default client of ``langchain-openai`` (the
OpenAI SDK's) caps at 1000 connections, so 500 fusions × 3 members would queue.

    .venv/bin/python bench/concurrency.py [--levels 10,50,100,200,500] [--member 1.0] [--judge 0.3]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import subprocess
import sys
import time
from typing import Any

import httpx
from _common import StubProcess, load_note, rss_bytes

from fusion_graph import FusionConfig, Judge, Member
from fusion_graph.runner import Fusion
from fusion_graph.testing import ScriptedChatModel

KEY = "sk-bench"
SHARDS = 32
PROMPT = "Is 1001 prime? Explain briefly."


class ShardedTransport(httpx.AsyncBaseTransport):
    """Round-robin over several connection pools.

    One httpx pool with hundreds of connections costs CPU superlinear in their number (httpcore
    scans every queued request against every connection on each change): 300 concurrent calls on one
    pool take ~3 s of CPU here, on 10 pools ~0.3 s.
    """

    def __init__(self, shards: int) -> None:
        limits = httpx.Limits(max_connections=None, max_keepalive_connections=None)
        self.pools = [httpx.AsyncHTTPTransport(limits=limits) for _ in range(shards)]
        self.next = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.next = (self.next + 1) % len(self.pools)
        return await self.pools[self.next].handle_async_request(request)

    async def aclose(self) -> None:
        for pool in self.pools:
            await pool.aclose()


def client() -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=ShardedTransport(SHARDS), timeout=httpx.Timeout(120.0))


async def prewarm(http: httpx.AsyncClient, url: str, connections: int) -> None:
    """Open ``connections`` keep-alive connections, 50 new ones every 25 ms (not timed).

    Opening hundreds at once overflows the server's listen backlog (asyncio's default is 100): the
    dropped SYNs are retried after 1 s, 3 s, … and the burst takes seconds (run with ``--cold``).
    """
    async def hold() -> None:
        r = await http.post(f"{url}/chat/completions", headers={"Authorization": f"Bearer {KEY}"},
                            json={"model": "warm", "messages": [{"role": "user", "content": "hi"}]})
        r.raise_for_status()

    tasks = []
    for start in range(0, connections, 50):
        tasks += [asyncio.create_task(hold()) for _ in range(min(50, connections - start))]
        await asyncio.sleep(0.025)
    await asyncio.gather(*tasks)


async def server_alone(url: str, n: int, cold: bool) -> float:
    """Seconds for n × 3 concurrent member calls then n concurrent judge-latency calls, raw HTTP."""
    async with client() as http:
        if not cold:
            await prewarm(http, url, 3 * n)
        async def call(model: str) -> None:
            r = await http.post(f"{url}/chat/completions", headers={"Authorization": f"Bearer {KEY}"},
                                json={"model": model, "messages": [{"role": "user", "content": PROMPT}]})
            r.raise_for_status()

        async def one() -> None:
            await asyncio.gather(*(call(f"m{i}") for i in range(3)))
            await call("slowjudge")

        await one()
        t = time.perf_counter()
        await asyncio.gather(*(one() for _ in range(n)))
        return time.perf_counter() - t


def fake_fusion(member: float, judge: float) -> Fusion:
    """The same pool in-process (``ScriptedChatModel`` sleeping its latency): no HTTP at all."""
    reply = "1001 = 7 x 11 x 13, so it is not prime."
    pool = [Member(ScriptedChatModel(script=[reply], latency=member), name=f"m{i}") for i in range(3)]
    return Fusion(FusionConfig(pool=pool, judge=Judge(ScriptedChatModel(latency=judge), name="judge")))


async def level(
    url: str | None, n: int, cold: bool, member: float, judge: float, no_gc: bool = False
) -> dict[str, Any]:
    http = None
    if url is None:
        fusion = fake_fusion(member, judge)
    else:
        http = client()
        if not cold:
            await prewarm(http, url, 3 * n)
        params = {"http_async_client": http, "max_retries": 0}
        pool = [Member(f"openai:m{i}", name=f"m{i}", base_url=url, api_key=KEY, params=params)
                for i in range(3)]
        fusion = Fusion(FusionConfig(pool=pool, mode="best-of",
                                     judge=Judge("openai:judge", base_url=url, api_key=KEY, params=params)))
    await fusion.run(PROMPT)  # warm-up
    gc.collect()
    base = rss_bytes()
    peak = base
    done = False

    async def sample() -> None:
        nonlocal peak
        while not done:
            peak = max(peak, rss_bytes())
            await asyncio.sleep(0.005)

    sampler = asyncio.create_task(sample())
    if no_gc:
        gc.disable()
    t = time.perf_counter()
    results = await asyncio.gather(*(fusion.run(PROMPT) for _ in range(n)), return_exceptions=True)
    wall = time.perf_counter() - t
    gc.enable()
    done = True
    await sampler
    if http is not None:
        await http.aclose()
    failed = sum(1 for r in results if isinstance(r, BaseException)
                 or any(not c.ok for c in r.candidates) or not r.decided_by.startswith("judge:"))
    return {"n": n, "wall": wall, "per_fusion_bytes": (peak - base) / n, "failed": failed}


def models(member: float, judge: float) -> dict[str, dict[str, Any]]:
    reply = "1001 = 7 x 11 x 13, so it is not prime."
    out: dict[str, dict[str, Any]] = {f"m{i}": {"reply": reply, "latency": member} for i in range(3)}
    out["judge"] = {"judge": True, "latency": judge}
    out["slowjudge"] = {"reply": "ok", "latency": judge}
    out["warm"] = {"reply": "ok", "latency": 1.5}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--levels", default="10,50,100,200,500")
    parser.add_argument("--member", type=float, default=1.0)
    parser.add_argument("--judge", type=float, default=0.3)
    parser.add_argument("--cold", action="store_true", help="do not pre-open the connections")
    parser.add_argument("--no-gc", action="store_true", help="disable the cyclic GC while timing (diagnosis)")
    parser.add_argument("--child", type=int, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--url", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--alone", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child is not None:
        url = None if args.url == "fake" else args.url
        run = (server_alone(args.url, args.child, args.cold) if args.alone
               else level(url, args.child, args.cold, args.member, args.judge, args.no_gc))
        out = asyncio.run(run)
        print(json.dumps(out if isinstance(out, dict) else {"wall": out}))
        return
    crit = args.member + args.judge
    levels = [int(x) for x in args.levels.split(",")]
    print(f"start: {load_note()}")
    print(f"pool of 3 ({args.member} s each), judge {args.judge} s: critical path {crit:.2f} s; "
          "stub server in its own process; one compiled Fusion per level, each level in a fresh process; "
          + ("cold connections" if args.cold else "3 x N keep-alive connections opened before timing")
          + ("; cyclic GC off while timing" if args.no_gc else ""))
    print("columns: no-HTTP = in-process ScriptedChatModel members (the fusion's own cost); HTTP = members "
          "and judge over loopback HTTP (langchain-openai); server alone = the same HTTP calls without a "
          "fusion; wall/crit = wall time / critical path; KB = peak RSS growth per in-flight fusion")
    print(f"{'fusions':>7} {'no-HTTP wall/crit':>13} {'no-HTTP KB':>11} {'server alone/crit':>15} "
          f"{'HTTP wall/crit':>15} {'HTTP KB':>11} {'failed':>6}")
    with StubProcess(models(args.member, args.judge)) as url:
        for n in levels:
            def child(alone: bool, n: int = n, fake: bool = False) -> dict[str, Any]:
                cmd = [sys.executable, __file__, "--child", str(n), "--url", "fake" if fake else url,
                       "--member", str(args.member), "--judge", str(args.judge)]
                cmd += (["--alone"] if alone else []) + (["--cold"] if args.cold else [])
                cmd += ["--no-gc"] if args.no_gc else []
                done = subprocess.run(cmd, capture_output=True, text=True, timeout=300, check=False)
                if done.returncode:
                    raise RuntimeError(done.stderr[-2000:])
                return json.loads(done.stdout.strip().splitlines()[-1])

            fake = child(False, fake=True)
            alone = child(True)["wall"]
            r = child(False)
            print(f"{n:>7} {fake['wall'] / crit:>13.3f} {fake['per_fusion_bytes'] / 1024:>11.1f} "
                  f"{alone / crit:>15.3f} {r['wall'] / crit:>15.3f} {r['per_fusion_bytes'] / 1024:>11.1f} "
                  f"{fake['failed'] + r['failed']:>6}", flush=True)
    print(f"end: {load_note()}")
    print("targets: 500 fusions in <= 1.5 x the critical path, <= 1 MB (1024 KB) each")


if __name__ == "__main__":
    main()
