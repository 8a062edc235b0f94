"""A local fusion against one member alone, measured side by side in one run, on this machine.

For each prompt: Qwen alone (the pool's ``qwen-0.5b`` member, same params and ``max_tokens``),
then a best-of fusion of the default offline pool (Qwen and SmolLM2 answer in parallel, Qwen
judges). Models are loaded and warmed once before timing. Prints each prompt's times, then the
median ratio fusion / single, and the judge's share of the fusion's time.

    .venv/bin/python bench/local.py                   # 5 prompts, members max_tokens 64
    .venv/bin/python bench/local.py --max-tokens 128 --prompts 3
    .venv/bin/python bench/local.py --grammar-first   # also: the judge on llama-cpp's grammar path

Not a test: timings depend on the machine and on what else runs on it.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import time

from fusion_graph import fuse
from fusion_graph.defaults import default_config
from fusion_graph.providers import resolve_model

PROMPTS = [
    "What does HTTP status 404 mean?",
    "Is 1001 a prime number? Explain briefly.",
    "Write a Python function that reverses a string.",
    "Why is the sky blue?",
    "Give one advantage and one drawback of SQLite.",
    "Explain recursion to a beginner in two sentences.",
    "How do I read a file line by line in Python?",
]


async def main() -> None:
    """Run the benchmark and print the table."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--prompts", type=int, default=5, help="how many prompts (at most 7)")
    parser.add_argument("--max-tokens", type=int, default=64, help="members' max_tokens")
    parser.add_argument(
        "--grammar-first", action="store_true", help="also time fusions whose judge filters the vocabulary"
    )
    args = parser.parse_args()
    config = default_config("best-of", max_tokens=args.max_tokens)
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
