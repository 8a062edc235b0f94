"""Why k samples decoded together cost nearly k times one: one llama.cpp decode step, timed by its parts.

``bench/local.py --samples`` times whole samples; this times the step inside them. Through the
library's own batch context (``fusion_graph.providers._local_batch.BatchContext``, as a member with
``samples=k`` uses it), Qwen2.5-Coder-0.5B decodes one token for each of k sequences that share a
100-token prompt, 40 steps, and prints the median of:

* ``all logits`` — the step as sampling needs it: every sequence gets its own row of logits;
* ``one logits row`` — the same k tokens with logits for one sequence only: the model's body
  without the output layer's extra rows (151,936-word vocabulary);
* ``sample`` — the sampler chains of all k sequences (repeat penalty, top-k, top-p, min-p,
  temperature, seed);

for k = 1, 2, 3, 5, 8, 16 and 32, each against k = 1. If a step of k tokens cost what a step of one
costs (reading the weights once), batching would be nearly free; the ratios show how far from
that this CPU is.

    .venv/bin/python bench/local_steps.py              # n_threads 1
    .venv/bin/python bench/local_steps.py --threads 2

Not a test: timings depend on the machine and on what else runs on it.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

from fusion_graph.providers._local_batch import BatchContext
from fusion_graph.providers.local import LocalChatModel

PROMPT = b"The quick brown fox jumps over the lazy dog. " * 20
SAMPLING = {"temperature": 0.7, "top_k": 40, "top_p": 0.95, "min_p": 0.05, "repeat_penalty": 1.1}
SIZES = (1, 2, 3, 5, 8, 16, 32)
STEPS = 40


def _steps(ctx: BatchContext, prompt: list[int], k: int) -> tuple[float, float, float]:
    """Median seconds of a k-token step with all logits rows, with one row, and of sampling all k."""
    ids = list(range(k))
    ctx.clear()
    ctx.decode([(t, i, ids, i == len(prompt) - 1) for i, t in enumerate(prompt)])
    samplers = [ctx.sampler({**SAMPLING, "seed": 7 + j}) for j in ids]
    try:
        last = [ctx.sample(s, len(prompt) - 1) for s in samplers]
        full, sampled = [], []
        for step in range(STEPS):
            started = time.perf_counter()
            ctx.decode([(last[j], len(prompt) + step, [j], True) for j in ids])
            decoded = time.perf_counter()
            last = [ctx.sample(samplers[j], j) for j in ids]
            full.append(decoded - started)
            sampled.append(time.perf_counter() - decoded)
    finally:
        for sampler in samplers:
            ctx.free_sampler(sampler)
    ctx.clear()
    ctx.decode([(t, i, ids, False) for i, t in enumerate(prompt)])
    one = []
    for step in range(STEPS):
        started = time.perf_counter()
        ctx.decode([(prompt[step % len(prompt)], len(prompt) + step, [j], j == 0) for j in ids])
        one.append(time.perf_counter() - started)
    return statistics.median(full), statistics.median(one), statistics.median(sampled)


def main() -> None:
    """Load Qwen, make a batch context on its weights, and print the step table."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--threads", type=int, default=1, help="the model's n_threads (default 1)")
    args = parser.parse_args()
    model = LocalChatModel(model="qwen2.5-coder-0.5b", n_threads=args.threads)  # pyright: ignore[reportCallIssue]
    loaded = model._loaded()  # noqa: SLF001 - the bench times the library's own batch context
    ctx = BatchContext(loaded.llama, 4096, args.threads)
    prompt = loaded.llama.tokenize(PROMPT)[:100]
    load = os.getloadavg()
    print(
        f"{os.cpu_count()} cores, load average {load[0]:.1f} {load[1]:.1f} {load[2]:.1f}; "
        f"Qwen2.5-Coder-0.5B, n_threads {args.threads}; one decode step of k sequences, median of {STEPS}"
    )
    head = ("k", "all logits ms", "vs k=1", "one logits row ms", "vs k=1", "sample ms")
    print(" ".join(f"{h:>{w}}" for h, w in zip(head, (3, 13, 7, 17, 7, 9), strict=True)))
    try:
        _steps(ctx, prompt, 2)  # warm
        base: tuple[float, float, float] | None = None
        for k in SIZES:
            full, one, sampled = _steps(ctx, prompt, k)
            base = base or (full, one, sampled)
            print(
                f"{k:>3} {full * 1000:>13.1f} {full / base[0]:>6.2f}x {one * 1000:>17.1f} "
                f"{one / base[1]:>6.2f}x {sampled * 1000:>9.1f}",
                flush=True,
            )
    finally:
        ctx.close()
    load = os.getloadavg()
    print(f"load average after: {load[0]:.1f} {load[1]:.1f} {load[2]:.1f}")


if __name__ == "__main__":
    main()
