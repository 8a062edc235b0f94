"""Per-call latency: the registry vs a new MCP session per call vs a raw persistent session.

All three call the ``echo`` tool of ``tests/tool_registry/mcp_servers/mcp_basic.py`` over real stdio.

    .venv/bin/python bench/mcp_calls.py [--calls 300] [--fresh-calls 15]

Prints p50 / p95 per call for each client and the ratios, measured in this one run.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from contextlib import AsyncExitStack
from pathlib import Path

from mcp import ClientSession, StdioServerParameters, stdio_client

from tool_registry import ToolRegistry

ROOT = Path(__file__).resolve().parents[1]
SERVER = str(ROOT / "tests" / "tool_registry" / "mcp_servers" / "mcp_basic.py")


def pct(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def bench_registry(n: int) -> list[float]:
    registry = ToolRegistry(timeout=30)
    registry.add_mcp_server("basic", command=sys.executable, args=[SERVER])
    out = []
    async with registry:
        for _ in range(10):  # warm-up
            await registry.call("basic__echo", {"text": "warm"})
        for i in range(n):
            t = time.perf_counter()
            await registry.call("basic__echo", {"text": f"hello {i}"})
            out.append(time.perf_counter() - t)
    return out


async def bench_raw_session(n: int) -> list[float]:
    params = StdioServerParameters(command=sys.executable, args=[SERVER])
    out = []
    async with AsyncExitStack() as stack:
        read, write = await stack.enter_async_context(stdio_client(params))
        session = await stack.enter_async_context(ClientSession(read, write))
        await session.initialize()
        for _ in range(10):
            await session.call_tool("echo", {"text": "warm"})
        for i in range(n):
            t = time.perf_counter()
            await session.call_tool("echo", {"text": f"hello {i}"})
            out.append(time.perf_counter() - t)
    return out


async def bench_session_per_call(n: int) -> list[float]:
    params = StdioServerParameters(command=sys.executable, args=[SERVER])
    out = []
    for i in range(n):
        t = time.perf_counter()
        async with AsyncExitStack() as stack:
            read, write = await stack.enter_async_context(stdio_client(params))
            session = await stack.enter_async_context(ClientSession(read, write))
            await session.initialize()
            await session.call_tool("echo", {"text": f"hello {i}"})
        out.append(time.perf_counter() - t)
    return out


async def bench_concurrent(n: int, width: int) -> float:
    registry = ToolRegistry(timeout=30)
    registry.add_mcp_server("basic", command=sys.executable, args=[SERVER])
    async with registry:
        await registry.call("basic__echo", {"text": "warm"})
        t = time.perf_counter()
        await asyncio.gather(*(registry.call("basic__echo", {"text": str(i)}) for i in range(n)))
        return n / (time.perf_counter() - t)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--calls", type=int, default=300)
    parser.add_argument("--fresh-calls", type=int, default=15)
    opts = parser.parse_args()
    registry = await bench_registry(opts.calls)
    raw = await bench_raw_session(opts.calls)
    fresh = await bench_session_per_call(opts.fresh_calls)
    throughput = await bench_concurrent(opts.calls, 32)
    rows = [
        ("ToolRegistry.call (persistent)", registry),
        ("raw mcp ClientSession (persistent)", raw),
        ("new session per call", fresh),
    ]
    print(f"{'client':38} {'n':>5} {'p50 ms':>9} {'p95 ms':>9} {'mean ms':>9}")
    for name, samples in rows:
        print(
            f"{name:38} {len(samples):5d} {pct(samples, 0.5) * 1e3:9.2f} {pct(samples, 0.95) * 1e3:9.2f}"
            f" {statistics.fmean(samples) * 1e3:9.2f}"
        )
    r50, w50, f50 = pct(registry, 0.5), pct(raw, 0.5), pct(fresh, 0.5)
    r95, w95, f95 = pct(registry, 0.95), pct(raw, 0.95), pct(fresh, 0.95)
    print(f"registry / raw session      p50 {r50 / w50:6.2f}x   p95 {r95 / w95:6.2f}x  (registry overhead)")
    print(f"session-per-call / registry p50 {f50 / r50:6.1f}x   p95 {f95 / r95:6.1f}x  (one-session gain)")
    print(f"registry, {opts.calls} concurrent calls on one session: {throughput:.0f} calls/s")


if __name__ == "__main__":
    asyncio.run(main())
