"""Throughput and latency of 1, 2 and 4 ``fusion serve`` replicas on one PostgreSQL, side by side.

For each size N, N ``fusion serve --postgres-url`` processes start together on a fresh database of
the same PostgreSQL (so the run also checks that they come up together), then ``--requests``
chat completions, ``--concurrency`` at a time, are spread over them round robin by official
``openai`` SDK clients (``AsyncOpenAI``, default retries), each request with its own ``thread_id``
(so every run is checkpointed). The fusion is best-of: ``--members`` stub members of ``--latency``
seconds and a stub judge of ``--judge-latency``, served by ``OpenAIStubServer`` in its own process.

Reported per size: requests answered, wall time, throughput, p50/p99 latency, each replica's CPU (as %
of one core over the measured window, from ``/proc/PID/stat``), the stub's, PostgreSQL's backends'
(with ``--pgdata``, default ``FUSION_TEST_PGDATA``) and this client's CPU, how busy the whole machine
was (``/proc/stat``, every process, other users' too) and the load average. On a machine with few
cores the replicas, the stub, PostgreSQL and the client share them: throughput then stops growing
with replicas, and the CPU columns say why.

    .venv/bin/python bench/scaleout.py [--postgres-url URL] [--sizes 1,2,4] [--requests 200]
                                       [--concurrency 16] [--members 3] [--latency 0.2]

``--postgres-url`` defaults to ``FUSION_TEST_POSTGRES_URL`` (``eval "$(scripts/start-postgres.sh)"``).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import openai
import psycopg
from _common import ServeProcess, StubProcess, fusions_file, load_note, pct
from psycopg import sql

MODEL = "fusion/best-of"
PROMPT = "Is 1001 prime? Answer briefly."
_TICK = os.sysconf("SC_CLK_TCK")


def _cpu_s(pid: int) -> float:
    """User + system CPU seconds of process ``pid`` and its waited-for children."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return sum(int(x) for x in fields[11:15]) / _TICK


def _postgres_cpu_s(pgdata: str) -> float | None:
    """CPU seconds of the PostgreSQL server's backends now alive (children of its postmaster)."""
    try:
        with open(Path(pgdata) / "postmaster.pid") as f:
            postmaster = f.readline().strip()
    except OSError:
        return None
    total = 0.0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if fields[1] == postmaster:
            total += (int(fields[11]) + int(fields[12])) / _TICK
    return total


def _busy() -> tuple[int, int]:
    """The machine's busy and total jiffies (``/proc/stat``), for its CPU use over a window."""
    with open("/proc/stat") as f:
        values = [int(x) for x in f.readline().split()[1:]]
    idle = values[3] + values[4]
    return sum(values) - idle, sum(values)


def _database(url: str, name: str) -> str:
    return urlunsplit(urlsplit(url)._replace(path=f"/{name}"))


def _admin(url: str, statement: sql.Composed) -> None:
    with psycopg.connect(url, autocommit=True, connect_timeout=5) as conn:
        conn.execute(statement)


async def _load(urls: list[str], requests: int, concurrency: int) -> tuple[list[float], int, float]:
    """Send ``requests`` completions round robin over ``urls``; latencies, errors, wall seconds."""
    clients = [openai.AsyncOpenAI(base_url=f"{u}/v1", api_key="x", timeout=120) for u in urls]
    slots = asyncio.Semaphore(concurrency)
    latencies: list[float] = []
    errors = 0

    async def one(i: int) -> None:
        nonlocal errors
        async with slots:
            start = time.perf_counter()
            try:
                await clients[i % len(clients)].chat.completions.create(
                    model=MODEL,
                    messages=[{"role": "user", "content": f"{PROMPT} ({i})"}],
                    extra_body={"thread_id": f"bench-{uuid.uuid4().hex}"},
                )
            except openai.APIError:
                errors += 1
                return
            latencies.append(time.perf_counter() - start)

    t0 = time.perf_counter()
    await asyncio.gather(*(one(i) for i in range(requests)))
    wall = time.perf_counter() - t0
    for client in clients:
        await client.close()
    return latencies, errors, wall


def _size(args: argparse.Namespace, config: Path, stub_pid: int, n: int) -> dict[str, Any]:
    name = f"fusion_scaleout_{n}_{uuid.uuid4().hex[:8]}"
    _admin(args.postgres_url, sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    db = _database(args.postgres_url, name)
    replicas = [ServeProcess(config, "--postgres-url", db, "--max-concurrency", "64") for _ in range(n)]
    try:
        t0 = time.perf_counter()
        for replica in replicas:
            replica.wait_ready()
        up_s = time.perf_counter() - t0
        urls = [r.url for r in replicas]
        asyncio.run(_load(urls, 2 * n, n))  # warm-up: imports, connections, compiled fusions
        cpu0 = [_cpu_s(r.proc.pid) for r in replicas]
        stub0, client0 = _cpu_s(stub_pid), resource.getrusage(resource.RUSAGE_SELF)
        pg0, busy0 = _postgres_cpu_s(args.pgdata), _busy()
        latencies, errors, wall = asyncio.run(_load(urls, args.requests, args.concurrency))
        pg1, busy1 = _postgres_cpu_s(args.pgdata), _busy()
        cpu = [_cpu_s(r.proc.pid) - c for r, c in zip(replicas, cpu0, strict=True)]
        client1 = resource.getrusage(resource.RUSAGE_SELF)
        client_cpu = client1.ru_utime + client1.ru_stime - client0.ru_utime - client0.ru_stime
        return {
            "n": n,
            "up_s": up_s,
            "answered": len(latencies),
            "errors": errors,
            "wall": wall,
            "rps": len(latencies) / wall,
            "p50": pct(latencies, 0.5) * 1000 if latencies else float("nan"),
            "p99": pct(latencies, 0.99) * 1000 if latencies else float("nan"),
            "cpu": [c / wall * 100 for c in cpu],
            "stub_cpu": (_cpu_s(stub_pid) - stub0) / wall * 100,
            "client_cpu": client_cpu / wall * 100,
            "pg_cpu": None if pg0 is None or pg1 is None else (pg1 - pg0) / wall * 100,
            "machine": (busy1[0] - busy0[0]) / max(1, busy1[1] - busy0[1]) * 100,
            "load": load_note(),
        }
    finally:
        for replica in replicas:
            replica.stop()
        _admin(
            args.postgres_url, sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--postgres-url", default=os.environ.get("FUSION_TEST_POSTGRES_URL", ""))
    parser.add_argument("--pgdata", default=os.environ.get("FUSION_TEST_PGDATA", ""), help="for its CPU")
    parser.add_argument("--sizes", default="1,2,4")
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--members", type=int, default=3)
    parser.add_argument("--latency", type=float, default=0.2)
    parser.add_argument("--judge-latency", type=float, default=0.1)
    args = parser.parse_args()
    if not args.postgres_url:
        sys.exit(
            'bench/scaleout.py needs PostgreSQL: eval "$(scripts/start-postgres.sh)" or --postgres-url URL'
        )
    models: dict[str, dict[str, Any]] = {
        f"m{i}": {"reply": f"Member {i}: 1001 = 7 x 11 x 13, not prime.", "latency": args.latency}
        for i in range(args.members)
    }
    models["judge"] = {"judge": True, "latency": args.judge_latency}
    critical = args.latency + args.judge_latency
    print(
        f"best-of, {args.members} stub members of {args.latency} s + judge {args.judge_latency} s "
        f"(critical path {critical * 1000:.0f} ms); {args.requests} requests, {args.concurrency} at once, "
        f"round robin; each its own thread_id on one PostgreSQL; {os.cpu_count()} cores"
    )
    rows = []
    with StubProcess(models) as base_url, tempfile.TemporaryDirectory() as tmp:
        config = fusions_file(Path(tmp) / "fusions.toml", base_url, args.members, MODEL)
        stub_pid = _stub_pid()
        for n in (int(s) for s in args.sizes.split(",")):
            rows.append(_size(args, config, stub_pid, n))
    print()
    head = ["replicas", "up (s)", "answered", "wall (s)", "req/s", "p50 (ms)", "p99 (ms)"]
    head += ["CPU per replica (% of a core)", "stub", "PostgreSQL", "client", "machine busy", "load"]
    print("| " + " | ".join(head) + " |")
    print("| " + " | ".join("---" for _ in head) + " |")
    for r in rows:
        per = ", ".join(f"{c:.0f}" for c in r["cpu"])
        pg = "?" if r["pg_cpu"] is None else f"{r['pg_cpu']:.0f} %"
        print(
            f"| {r['n']} | {r['up_s']:.1f} | {r['answered']}/{r['answered'] + r['errors']} | {r['wall']:.1f} "
            f"| {r['rps']:.1f} | {r['p50']:.0f} | {r['p99']:.0f} | {per} (sum {sum(r['cpu']):.0f}) "
            f"| {r['stub_cpu']:.0f} % | {pg} | {r['client_cpu']:.0f} % | {r['machine']:.0f} % of all cores "
            f"| {r['load']} |"
        )


def _stub_pid() -> int:
    import multiprocessing

    children = multiprocessing.active_children()
    if not children or children[0].pid is None:
        raise RuntimeError("the stub server process is not running")
    return children[0].pid


if __name__ == "__main__":
    main()
