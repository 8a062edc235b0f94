"""Fusion overhead: a compiled ``Fusion`` vs the critical path vs a hand-written asyncio.gather.

Members and the judge are served by ``OpenAIStubServer`` on 127.0.0.1 with fixed latencies (members
spread evenly over ``--member-min``…``--member-max`` seconds, the judge ``--judge`` seconds), in a
separate process by default. For each mode and pool size it reports, from medians of ``--repeats``
interleaved runs:

* fusion / critical path, where the critical path is ``(rounds + 1) × slowest member + judge``;
* fusion / baseline, where the baseline is ``asyncio.gather`` of the members' ``ChatOpenAI.ainvoke``
  (same settings and HTTP client), the same number of debate rounds, then one structured judge call;
* the compile cost of ``Fusion(config)`` (resolving models + compiling the graph), measured apart.

    .venv/bin/python bench/overhead.py [--sizes 2,3,4,5,6,7,8] [--modes best-of,merge,debate]
                                       [--repeats 3] [--server process|thread] [--profile]
    .venv/bin/python bench/overhead.py --cpu [--sizes 3] [--concurrency 200] [--repeats 5]

``--cpu`` compares CPU per fusion instead (in-process fakes, no HTTP): the fusion vs the plain
LangGraph graph doing the same calls (``Send`` fan-out to a member node, then a judge node) vs
``asyncio.gather`` + judge, side by side (``bench/_cpu.py``).

Debate runs one fixed round (``consensus=None``) so fusion and baseline do the same work.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from typing import Any

from _common import judge_messages, judge_schema, load_note, median, stub
from langchain_core.messages import HumanMessage
from langchain_openai import ChatOpenAI

from fusion_graph import FusionConfig, Judge, Member, prompts
from fusion_graph.providers._http import shared_async_client
from fusion_graph.runner import Fusion

PROMPT = "Is 1001 prime? Explain briefly."
KEY = "sk-bench"


def latencies(n: int, low: float, high: float) -> list[float]:
    return [low + (high - low) * i / (n - 1) for i in range(n)] if n > 1 else [high]


def server_models(sizes: list[int], low: float, high: float, judge: float) -> dict[str, dict[str, Any]]:
    models: dict[str, dict[str, Any]] = {"judge": {"judge": True, "latency": judge}}
    for n in sizes:
        for i, lat in enumerate(latencies(n, low, high)):
            models[f"p{n}m{i}"] = {
                "reply": f"Member {i}: 1001 = 7 x 11 x 13, so it is not prime.",
                "latency": lat,
            }
    return models


def settings() -> dict[str, Any]:
    return {"max_retries": 0}


def config(base_url: str, n: int, mode: str) -> FusionConfig:
    pool = [
        Member(f"openai:p{n}m{i}", name=f"m{i}", base_url=base_url, api_key=KEY, params=settings())
        for i in range(n)
    ]
    judge = Judge("openai:judge", name="judge", base_url=base_url, api_key=KEY, params=settings())
    return FusionConfig(pool=pool, judge=judge, mode=mode, rounds=1, consensus=None)


class Baseline:
    """The same calls, hand-written: gather the members (per round), then one structured judge call."""

    def __init__(self, base_url: str, n: int, mode: str) -> None:
        # The same ChatOpenAI settings the provider uses (so the same shared httpx client).
        def chat(model: str) -> ChatOpenAI:
            return ChatOpenAI(
                model=model,
                base_url=base_url,
                api_key=KEY,  # type: ignore[arg-type]
                timeout=120.0,
                stream_usage=True,
                **settings(),
                http_async_client=shared_async_client(base_url),
            )

        self.members = [chat(f"p{n}m{i}") for i in range(n)]
        self.judge = chat("judge")
        self.mode = mode
        self.structured = self.judge.with_structured_output(judge_schema(mode, n), include_raw=True)

    async def run(self) -> Any:
        question = [HumanMessage(PROMPT)]
        first = await asyncio.gather(*(m.ainvoke(question) for m in self.members))
        answers = [str(a.content) for a in first]
        if self.mode == "debate":  # the revision prompt the member node sends
            revised = await asyncio.gather(
                *(
                    m.ainvoke(
                        [
                            *question,
                            HumanMessage(
                                prompts.DEBATE_REVISE.format(
                                    own=answers[i],
                                    peers="\n\n".join(
                                        prompts.PEER_BLOCK.format(index=j + 1, text=t)
                                        for j, t in enumerate(a for k, a in enumerate(answers) if k != i)
                                    ),
                                )
                            ),
                        ]
                    )
                    for i, m in enumerate(self.members)
                )
            )
            answers = [str(a.content) for a in revised]
        return await self.structured.ainvoke(judge_messages(question, answers, self.mode))


async def profile_packages(fusion: Fusion) -> str:
    """CPU (own time) of one fusion run, summed per top-level package (cProfile), largest first."""
    import cProfile
    import pstats
    import re

    profiler = cProfile.Profile()
    profiler.enable()
    try:
        await fusion.run(PROMPT)
    finally:
        profiler.disable()
    per: dict[str, float] = {}
    stats: dict[Any, Any] = pstats.Stats(profiler).stats  # type: ignore[attr-defined]
    for (filename, _, func), (_, _, tottime, _, _) in stats.items():
        if "poll" in func and filename == "~":
            continue  # waiting for the network, not CPU
        match = (
            re.search(r"site-packages/([^/]+)", filename)
            or re.search(r"/(fusion_graph)/", filename)
            or re.search(r"python3\.\d+/([^/]+)", filename)
        )
        key = match.group(1).removesuffix(".py") if match else "builtins"
        per[key] = per.get(key, 0.0) + tottime
    top = sorted(per.items(), key=lambda kv: -kv[1])[:10]
    return ", ".join(f"{k} {v * 1000:.1f}" for k, v in top)


async def measure(
    base_url: str, n: int, mode: str, repeats: int, crit: float, profile: bool
) -> dict[str, float]:
    cfg = config(base_url, n, mode)
    t = time.perf_counter()
    fusion = Fusion(cfg)
    compile_s = time.perf_counter() - t
    baseline = Baseline(base_url, n, mode)
    await fusion.run(PROMPT)  # warm-up: connections, lazy imports
    await baseline.run()
    fused: list[float] = []
    base: list[float] = []
    fused_cpu: list[float] = []
    base_cpu: list[float] = []
    for _ in range(repeats):
        t, c = time.perf_counter(), time.process_time()
        result = await fusion.run(PROMPT)
        fused.append(time.perf_counter() - t)
        fused_cpu.append(time.process_time() - c)
        assert result.decided_by.startswith("judge:"), result.decided_by
        t, c = time.perf_counter(), time.process_time()
        await baseline.run()
        base.append(time.perf_counter() - t)
        base_cpu.append(time.process_time() - c)
    if profile:
        print(f"  CPU of one fusion ({mode}, pool {n}) by package, ms:", await profile_packages(fusion))
    f, b = median(fused), median(base)
    return {
        "compile": compile_s,
        "fusion": f,
        "baseline": b,
        "crit": crit,
        "f_cpu": median(fused_cpu),
        "b_cpu": median(base_cpu),
        "r_crit": f / crit,
        "r_base": f / b,
        "b_crit": b / crit,
    }


async def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", default="2,3,4,5,6,7,8")
    parser.add_argument("--modes", default="best-of,merge,debate")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--member-min", type=float, default=0.5)
    parser.add_argument("--member-max", type=float, default=1.0)
    parser.add_argument("--judge", type=float, default=0.3)
    parser.add_argument("--server", choices=("process", "thread"), default="process")
    parser.add_argument("--profile", action="store_true", help="pyinstrument one fusion per row")
    parser.add_argument("--cpu", action="store_true", help="CPU per fusion vs plain graph vs gather")
    parser.add_argument("--concurrency", type=int, default=200, help="--cpu: fusions at once")
    args = parser.parse_args()
    if args.cpu:
        from _cpu import cpu_table

        print(f"start: {load_note()}")
        sizes = [int(s) for s in (args.sizes if args.sizes != "2,3,4,5,6,7,8" else "3").split(",")]
        await cpu_table(sizes, args.concurrency, max(args.repeats, 3))
        print(f"end: {load_note()}")
        return
    sizes = [int(s) for s in args.sizes.split(",")]
    modes = args.modes.split(",")
    print(f"start: {load_note()}")
    print(
        f"stub server in a {args.server}; members {args.member_min}-{args.member_max} s, "
        f"judge {args.judge} s; median of {args.repeats} interleaved runs; debate: 1 round, no consensus"
    )
    print(
        f"{'mode':8} {'pool':>4} {'compile ms':>10} {'crit s':>7} {'fusion s':>8} {'gather s':>8} "
        f"{'fusion/crit':>11} {'fusion/gather':>13} {'gather/crit':>11} "
        f"{'CPU ms fusion':>13} {'CPU ms gather':>13}"
    )
    worst_crit = worst_base = 0.0
    with stub(server_models(sizes, args.member_min, args.member_max, args.judge), args.server) as url:
        for mode in modes:  # warm-up of the process (imports, first connections), not reported
            await Fusion(config(url, sizes[0], mode)).run(PROMPT)
        for mode in modes:
            for n in sizes:
                rounds = 2 if mode == "debate" else 1
                crit = rounds * args.member_max + args.judge
                r = await measure(url, n, mode, args.repeats, crit, args.profile)
                worst_crit, worst_base = max(worst_crit, r["r_crit"]), max(worst_base, r["r_base"])
                print(
                    f"{mode:8} {n:>4} {r['compile'] * 1000:>10.1f} {crit:>7.3f} {r['fusion']:>8.3f} "
                    f"{r['baseline']:>8.3f} {r['r_crit']:>11.3f} {r['r_base']:>13.3f} {r['b_crit']:>11.3f} "
                    f"{r['f_cpu'] * 1000:>13.1f} {r['b_cpu'] * 1000:>13.1f}",
                    flush=True,
                )
    print(f"end: {load_note()}")
    print(
        f"worst fusion/critical path: {worst_crit:.3f} (target <= 1.02); "
        f"worst fusion/gather baseline: {worst_base:.3f} (target <= 1.05)"
    )


if __name__ == "__main__":
    asyncio.run(main())
