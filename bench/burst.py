"""A burst of clients against ``fusion serve``: the admission queue off (``--max-queue 0``) and on.

``--clients`` official ``openai`` SDK clients (``AsyncOpenAI``, its default 2 retries and timeout)
send one chat completion each, all at once, to a real ``fusion serve --max-concurrency C`` process.
The fusion's members (``--members`` of them, ``--latency`` seconds each) and its judge
(``--judge-latency``) are ``OpenAIStubServer`` models in another process. The same burst runs twice,
three times, each against a fresh server:

- ``before``: what ``fusion serve`` did before the queue: a 429 with ``Retry-After: 1`` past the
  limit (the server with ``--max-queue 0`` and its ``Retry-After`` fixed at 1 s, patched in this
  script's child process only);
- ``queue off``: ``--max-queue 0``, the 429 carries the computed ``Retry-After``, which the SDK
  honours, so a burst's refused clients come back spread out;
- ``queue on``: the default queue (4 × C): past the limit a request waits for a slot.

Reported side by side: answered / clients, the burst's wall time, per-client latency (p50, p95,
max, retries included), 429s the server sent, queue depth and wait (from ``GET /metrics``), and the
server's resident memory (``VmHWM`` peak and ``VmRSS`` after the burst, from ``/proc``). A warm-up
request runs first so that imports and the slot-time estimate are not part of the burst.

    .venv/bin/python bench/burst.py [--clients 40] [--concurrency 8] [--latency 0.3]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import openai
from _common import ServeProcess, StubProcess, fusions_file, load_note, pct

PROMPT = [{"role": "user", "content": "Is 1001 prime? Answer briefly."}]
MODEL = "fusion/best-of"
_LEGACY = """
import sys
from fusion_graph.server._admission import AdmissionQueue
AdmissionQueue.retry_after_s = lambda self, promise=False: 1.0  # the fixed Retry-After of before
from fusion_graph.cli import app
sys.argv = ["fusion", *sys.argv[1:]]
app()
"""


def _memory_kb(pid: int) -> dict[str, int]:
    fields: dict[str, int] = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            if key in ("VmHWM", "VmRSS"):
                fields[key] = int(value.split()[0])
    return fields


async def _one(client: openai.AsyncOpenAI) -> tuple[float, str | None]:
    """One client's request: seconds to its answer (retries included) and its error, if any."""
    start = time.perf_counter()
    try:
        await client.chat.completions.create(model=MODEL, messages=PROMPT)  # type: ignore[arg-type]
    except openai.APIError as exc:
        return time.perf_counter() - start, type(exc).__name__
    return time.perf_counter() - start, None


async def _burst(base_url: str, clients: int) -> tuple[float, list[tuple[float, str | None]]]:
    """``clients`` SDK clients (made before the clock starts) send one request each, all at once."""
    sdks = [openai.AsyncOpenAI(base_url=base_url, api_key="none") for _ in range(clients)]
    try:
        start = time.perf_counter()
        outcomes = await asyncio.gather(*(_one(sdk) for sdk in sdks))
        return time.perf_counter() - start, outcomes
    finally:
        await asyncio.gather(*(sdk.close() for sdk in sdks))


def run(config: Path, args: argparse.Namespace, max_queue: int | None, *, legacy: bool = False) -> dict:
    limits = ["--max-concurrency", str(args.concurrency)]
    if max_queue is not None:
        limits += ["--max-queue", str(max_queue)]
    server = ServeProcess(config, *limits, command=[sys.executable, "-c", _LEGACY] if legacy else None)
    try:
        server.wait_ready()
        asyncio.run(_burst(f"{server.url}/v1", 1))  # warm-up: imports, connections, slot time
        rss_before = _memory_kb(server.proc.pid)["VmRSS"]
        wall, outcomes = asyncio.run(_burst(f"{server.url}/v1", args.clients))
        memory = _memory_kb(server.proc.pid)
        metrics = server.metrics()
    finally:
        server.stop()
    times = [t for t, error in outcomes if error is None]
    errors: dict[str, int] = {}
    for _, error in outcomes:
        if error is not None:
            errors[error] = errors.get(error, 0) + 1
    totals = metrics["totals"]
    return {
        "max_queue": metrics["max_queue"],
        "answered": len(times),
        "wall": wall,
        "p50": pct(times, 0.5) if times else float("nan"),
        "p95": pct(times, 0.95) if times else float("nan"),
        "max": max(times) if times else float("nan"),
        "rejected": totals["rejected_queue_full"] + totals["timed_out"],
        "errors": errors,
        "peak_queued": metrics["peak_queued"],
        "wait_p95": metrics["queue_wait_s"]["p95"] or 0.0,
        "fusion_s": metrics["fusion_s"] or 0.0,
        "rss_before": rss_before / 1024,
        "hwm": memory["VmHWM"] / 1024,
        "rss_after": memory["VmRSS"] / 1024,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--clients", type=int, default=40)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--members", type=int, default=3)
    parser.add_argument("--latency", type=float, default=0.3, help="seconds per member answer")
    parser.add_argument("--judge-latency", type=float, default=0.3, help="seconds per judge answer")
    args = parser.parse_args()

    models: dict[str, dict[str, Any]] = {
        f"m{i}": {"reply": f"1001 = 7 x 11 x 13 (member {i}).", "latency": args.latency}
        for i in range(args.members)
    }
    models["judge"] = {"judge": True, "latency": args.judge_latency}
    with StubProcess(models) as base_url, tempfile.TemporaryDirectory() as tmp:
        config = fusions_file(Path(tmp) / "fusions.toml", base_url, args.members, MODEL)
        runs = {
            "before (429, Retry-After 1)": run(config, args, 0, legacy=True),
            "queue off (--max-queue 0)": run(config, args, 0),
        }
        on = run(config, args, None)
        runs[f"queue on (--max-queue {on['max_queue']})"] = on

    print(
        f"{args.clients} openai SDK clients at once (default retries), fusion serve --max-concurrency "
        f"{args.concurrency}, {args.members} members x {args.latency} s + judge {args.judge_latency} s; "
        f"{load_note()}"
    )
    results = list(runs.values())
    print(f"{'':32}" + "".join(f"{head:>29}" for head in runs) + "   on/before")

    def row(label: str, cells: list[str], ratio: tuple[float, float] | None = None) -> None:
        text = f"{label:32}" + "".join(f"{cell:>29}" for cell in cells)
        if ratio is not None and ratio[0]:
            text += f"   {ratio[1] / ratio[0]:.2f}x"
        print(text)

    def numbers(label: str, key: str, fmt: str, ratio: bool = False) -> None:
        values = [r[key] for r in results]
        row(label, [format(v, fmt) for v in values], (values[0], values[-1]) if ratio else None)

    row("answered", [f"{r['answered']}/{args.clients}" for r in results])
    row("errors raised by the SDK", [str(r["errors"] or "-") for r in results])
    numbers("429s sent by the server", "rejected", "d")
    numbers("burst wall time (s)", "wall", ".2f", ratio=True)
    numbers("latency of answered p50 (s)", "p50", ".2f", ratio=True)
    numbers("latency of answered p95 (s)", "p95", ".2f", ratio=True)
    numbers("latency of answered max (s)", "max", ".2f", ratio=True)
    numbers("peak queue depth", "peak_queued", "d")
    numbers("queue wait p95 (s)", "wait_p95", ".2f")
    numbers("slot time, moving average (s)", "fusion_s", ".2f")
    numbers("server RSS before burst (MiB)", "rss_before", ".1f")
    numbers("server RSS peak, VmHWM (MiB)", "hwm", ".1f", ratio=True)
    numbers("server RSS after burst (MiB)", "rss_after", ".1f")


if __name__ == "__main__":
    main()
