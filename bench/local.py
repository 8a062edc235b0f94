"""Local models on this machine: samples decoded together, and a fusion against one member alone.

``--samples`` (issue 17): k samples of Qwen (k = 1, 3, 5) the way a member with ``samples=k`` draws
them (k concurrent calls of one sample group), decoded one after another (``batch_samples=False``)
and together in one llama.cpp batch (the default), interleaved in one run. Prints each
configuration's median wall and CPU seconds, tokens per second, its wall time relative to one
sample, and the batched speed-up; the load average before and after.

Otherwise: for each prompt: Qwen alone (the pool's ``qwen-0.5b`` member, same params and ``max_tokens``),
then a best-of fusion of the default offline pool (Qwen and SmolLM2 answer in parallel, Qwen
judges). Models are loaded and warmed once before timing. Prints each prompt's times, then the
median ratio fusion / single, and the judge's share of the fusion's time.

    .venv/bin/python bench/local.py                   # 5 prompts, members max_tokens 64
    .venv/bin/python bench/local.py --max-tokens 128 --prompts 3
    .venv/bin/python bench/local.py --grammar-first   # also: the judge on llama-cpp's grammar path
    .venv/bin/python bench/local.py --samples         # k = 1, 3, 5 samples, sequential vs batched

Not a test: timings depend on the machine and on what else runs on it.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import time

from fusion_graph import fuse
from fusion_graph.defaults import pool_config
from fusion_graph.providers import resolve_model
from fusion_graph.providers.local import LocalChatModel
from fusion_graph.providers.samples import SAMPLE_GROUP, SampleGroup

SAMPLE_PROMPT = "Explain how a hash table works, step by step."
"""Long enough an answer that every sample writes ``max_tokens`` tokens in either mode."""

PROMPTS = [
    "What does HTTP status 404 mean?",
    "Is 1001 a prime number? Explain briefly.",
    "Write a Python function that reverses a string.",
    "Why is the sky blue?",
    "Give one advantage and one drawback of SQLite.",
    "Explain recursion to a beginner in two sentences.",
    "How do I read a file line by line in Python?",
]


async def _draw(model: LocalChatModel, k: int) -> tuple[float, float, int]:
    """k samples as a member's sample nodes draw them: wall seconds, CPU seconds, tokens written."""
    group = SampleGroup(k)

    async def one(index: int) -> int:
        if k > 1:
            SAMPLE_GROUP.set(group)
        message = await model.bind(seed=7 + index).ainvoke(SAMPLE_PROMPT)
        return (message.usage_metadata or {"output_tokens": 0})["output_tokens"]

    started, cpu = time.perf_counter(), time.process_time()
    tokens = await asyncio.gather(*(one(i) for i in range(k)))
    return time.perf_counter() - started, time.process_time() - cpu, sum(tokens)


async def samples(reps: int, max_tokens: int, threads: int) -> None:
    """Time k = 1, 3, 5 samples of Qwen, one after another against one batch, interleaved."""
    params: dict[str, object] = {"n_threads": threads, "max_tokens": max_tokens, "temperature": 0.7}
    sequential = LocalChatModel(model="qwen2.5-coder-0.5b", batch_samples=False, **params)  # pyright: ignore[reportArgumentType]
    batched = LocalChatModel(model="qwen2.5-coder-0.5b", **params)  # pyright: ignore[reportArgumentType]
    load = os.getloadavg()
    print(
        f"{os.cpu_count()} cores, load average {load[0]:.1f} {load[1]:.1f} {load[2]:.1f}; "
        f"Qwen2.5-Coder-0.5B, n_threads {threads}, temperature 0.7, max_tokens {max_tokens}, "
        f"{reps} runs each, interleaved"
    )
    await _draw(batched, 5)  # loads the model and makes the batch context; not timed
    await _draw(sequential, 1)
    times: dict[tuple[int, str], list[float]] = {}
    cpus: dict[tuple[int, str], list[float]] = {}
    tokens: dict[tuple[int, str], list[int]] = {}
    for _ in range(reps):
        for k in (1, 3, 5):
            for name, model in (("sequential", sequential), ("batched", batched)):
                wall, cpu, written = await _draw(model, k)
                times.setdefault((k, name), []).append(wall)
                cpus.setdefault((k, name), []).append(cpu)
                tokens.setdefault((k, name), []).append(written)
    print(
        f"\n{'k':>2} {'mode':<10} {'wall s':>7} {'cpu s':>6} {'tokens':>6} {'tok/s':>6} {'vs k=1':>7} "
        f"{'speed-up':>8}"
    )
    for k in (1, 3, 5):
        for name in ("sequential", "batched"):
            wall, cpu = statistics.median(times[(k, name)]), statistics.median(cpus[(k, name)])
            written = statistics.median(tokens[(k, name)])
            base = statistics.median(times[(1, "sequential")])
            speedup = (
                f"{statistics.median(times[(k, 'sequential')]) / wall:7.2f}x" if name == "batched" else ""
            )
            print(
                f"{k:>2} {name:<10} {wall:7.1f} {cpu:6.1f} {written:6.0f} {written / wall:6.1f} "
                f"{wall / base:6.2f}x {speedup:>8}"
            )
    print(
        "vs k=1: wall time against one sample (sequential); speed-up: sequential wall / batched wall; "
        "cpu s: this process's CPU seconds (what a busy machine gives it)"
    )
    load = os.getloadavg()
    print(f"\nload average after: {load[0]:.1f} {load[1]:.1f} {load[2]:.1f}")


async def main() -> None:
    """Run the benchmark and print the table."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--prompts", type=int, default=5, help="how many prompts (at most 7)")
    parser.add_argument("--max-tokens", type=int, default=64, help="members' max_tokens")
    parser.add_argument(
        "--grammar-first", action="store_true", help="also time fusions whose judge filters the vocabulary"
    )
    parser.add_argument("--samples", action="store_true", help="k = 1, 3, 5 samples, sequential vs batched")
    parser.add_argument("--reps", type=int, default=3, help="--samples: runs of each configuration")
    parser.add_argument("--threads", type=int, default=1, help="--samples: the model's n_threads")
    args = parser.parse_args()
    if args.samples:
        await samples(args.reps, args.max_tokens, args.threads)
        return
    config = pool_config("best-of", max_tokens=args.max_tokens)
    judge = config.judge
    assert judge is not None
    qwen = resolve_model(config.pool[0], "pool[0]")
    print(f"{os.cpu_count()} cores; members max_tokens {args.max_tokens}; judge {judge.name}")

    started = time.perf_counter()
    await fuse("Say hello.", config)  # loads and warms every model; not timed below
    print(f"load + warm-up fusion: {time.perf_counter() - started:.1f} s\n")

    variants = [("fusion", config)]
    if args.grammar_first:
        params = {**judge.params, "grammar_first": True}
        slow = config.model_copy(update={"judge": judge.model_copy(update={"params": params})})
        variants.append(("grammar-first", slow))
    header = f"{'prompt':<44} {'single':>7} {'fusion':>7} {'ratio':>6} {'judge':>6} {'share':>6} {'out':>4}"
    if args.grammar_first:
        header += f" {'judge(grammar-first)':>21}"
    print(header)
    ratios, shares, singles, fusions, judges, slow_judges = [], [], [], [], [], []
    for prompt in PROMPTS[: args.prompts]:
        t0 = time.perf_counter()
        await qwen.ainvoke(prompt)
        single = time.perf_counter() - t0
        row: dict[str, float] = {}
        outs = 0
        ok = True
        for name, variant in variants:
            t0 = time.perf_counter()
            result = await fuse(prompt, variant)
            row[name] = time.perf_counter() - t0
            call = result.judge_calls[0]
            row[f"{name}-judge"] = call.latency_s
            if name == "fusion":
                outs = call.usage.output_tokens
                ok = result.decided_by.startswith("judge:")
        fusion, judge = row["fusion"], row["fusion-judge"]
        singles.append(single)
        fusions.append(fusion)
        judges.append(judge)
        ratios.append(fusion / single)
        shares.append(judge / fusion)
        line = (
            f"{prompt[:44]:<44} {single:6.1f}s {fusion:6.1f}s {fusion / single:5.1f}x {judge:5.1f}s "
            f"{judge / fusion:5.0%} {outs:>4}{'' if ok else ' (judge failed)'}"
        )
        if args.grammar_first:
            slow_judges.append(row["grammar-first-judge"])
            line += f" {row['grammar-first-judge']:20.1f}s"
        print(line)
    print(
        f"\nmedian: single {statistics.median(singles):.1f} s, fusion {statistics.median(fusions):.1f} s, "
        f"ratio {statistics.median(ratios):.1f}x; judge {statistics.median(judges):.1f} s = "
        f"{statistics.median(shares):.0%} of the fusion"
    )
    if slow_judges:
        print(
            f"judge on llama-cpp's grammar-first path: median {statistics.median(slow_judges):.1f} s "
            f"({statistics.median(slow_judges) / statistics.median(judges):.1f}x the sample-first judge)"
        )


if __name__ == "__main__":
    asyncio.run(main())
