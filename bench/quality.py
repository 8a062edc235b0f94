"""Does fusion beat the pool's best member? Simulated pools through the real graph and real HTTP.

Members and judges are scripts of ``OpenAIStubServer`` (one server, in its own process), reached as
``openai:`` members with a ``base_url``, so every fusion runs the real graph, the real provider
client and real HTTP. ``bench/_quality_sim.py`` says exactly how they behave; in short:

* items: synthetic ``a × b − c`` questions with a gold number, the item id in the prompt;
* members: set accuracies, wrong answers of their own (a small ``--collision`` rate of a shared
  wrong number), one short reasoning sentence that ends in the number; in a debate a member moves
  to the plurality answer it reads with probability ``--switch``; samples draw independently;
* judges: ``uninformative`` (first label shown), ``biased`` (first label half the time, else a
  right one), ``noisy`` (a right one 80 % of the time when one is there), ``oracle``; merge judges
  write the number of the answer they would pick, and the ``weak`` merge judge writes the
  plurality number but invents a new wrong one with probability ``--p-weak``.

For each pool, judge kind and mode it prints the accuracy of each member alone (their round-0
answers in the same runs), of the best member and of each fused mode with 95 % Wilson intervals,
the paired difference fused − best member with a 95 % bootstrap interval, and tokens, wall time
and judge calls per item; then the scout cascade (tokens saved against the full pool), the
``majority_policy`` / ``merge_policy`` comparison across every judge kind, and whether each of
issue 10's targets is met. The figure goes to ``docs/img/quality.png``.

    .venv/bin/python bench/quality.py [--items 200] [--seed 1] [--quick] [--concurrency 48]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import time
from collections import defaultdict
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import httpx
import numpy as np
from _common import load_note
from _quality_sim import (
    JUDGE_KINDS,
    MERGE_KINDS,
    MemberSim,
    SimServer,
    final_number,
    item,
    judge_script,
    member_script,
)
from concurrency import ShardedTransport
from _quality_stats import Outcome, correct_vector, member_vectors, paired_bootstrap, wilson

from fusion_graph import FusionConfig, Judge, Member
from fusion_graph.config import MODES
from fusion_graph.runner import Fusion

KEY = "sk-bench"
POOLS: dict[str, list[tuple[str, float]]] = {
    "pool5": [("m1", 0.75), ("m2", 0.65), ("m3", 0.60), ("m4", 0.55), ("m5", 0.50)],
    "pool3": [("t1", 0.70), ("t2", 0.60), ("t3", 0.55)],
    # scouts s1, s2: cheap (one short sentence, fast) and usually agreeing on these items
    "cascade": [("s1", 0.85), ("s2", 0.80), ("c1", 0.75), ("c2", 0.65), ("c3", 0.60)],
    # self-consistency: one middling model, five samples
    "samples": [("k1", 0.60)],
}
SCOUTS = ["s1", "s2"]
SAMPLES = {"k1": 5}
MODE_ORDER = ("best-of", "best-of+swap", "debate", "vote", "merge")
POLICIES = ("majority", "judge", "reask")
MERGE_POLICIES = ("keep", "reask", "majority")
FIELDS = FusionConfig.model_fields


def default(field: str) -> Any:
    return FIELDS[field].default if field in FIELDS else None


@dataclass(frozen=True)
class Job:
    """One configuration: a pool, a judge kind, a mode and the evidence settings."""

    pool: str
    judge: str
    mode: str
    swap: bool = False
    majority: str | None = None
    merge: str | None = None
    scouts: bool = False

    @property
    def row(self) -> str:
        name = self.mode + ("+swap" if self.swap else "")
        return name + (" +scouts" if self.scouts else "")


@dataclass
class Sim:
    """The simulation's knobs (printed with the results)."""

    seed: int
    collision: float
    switch: float
    habit: float
    rho: float
    p_weak: float
    member_latency: float
    judge_latency: float


def members_of(sim: Sim) -> dict[str, MemberSim]:
    out = {}
    style = 0
    for pool, members in POOLS.items():
        for name, accuracy in members:
            out[name] = MemberSim(
                name=name, accuracy=accuracy, style=style, seed=sim.seed, rho=sim.rho,
                collision=sim.collision, switch=sim.switch, habit=sim.habit, short=name in SCOUTS,
            )
            style += 1
        del pool
    return out


def server_models(sim: Sim) -> dict[str, dict[str, Any]]:
    models = {
        name: member_script(spec, sim.member_latency / (3 if spec.short else 1))
        for name, spec in members_of(sim).items()
    }
    for kind in MERGE_KINDS:
        models[f"judge-{kind}"] = judge_script(kind, sim.seed, sim.p_weak, sim.judge_latency)
    return models


def build(job: Job, url: str, http: httpx.AsyncClient) -> FusionConfig:
    pool = [
        Member(f"openai:{name}", name=name, base_url=url, api_key=KEY, samples=SAMPLES.get(name, 1),
               params={"max_retries": 0, "temperature": 0.7, "seed": 1000 * (i + 1), "http_async_client": http})
        for i, (name, _) in enumerate(POOLS[job.pool])
    ]
    judge = Judge(f"openai:judge-{job.judge}", name=f"judge-{job.judge}", base_url=url, api_key=KEY,
                  params={"max_retries": 0, "http_async_client": http})
    extra: dict[str, Any] = {}
    if "answer_format" in FIELDS:
        extra["answer_format"] = "number"
    if job.swap:
        extra["judge_swap"] = True
    if job.majority is not None:
        extra["majority_policy"] = job.majority
    if job.merge is not None:
        extra["merge_policy"] = job.merge
    if job.scouts:
        extra.update(scouts=SCOUTS, escalate="disagree")
    return FusionConfig(pool=pool, judge=judge, mode=job.mode, seed=7, **extra)


def normalise(job: Job) -> Job:
    """Fill the policy the config would use anyway, so equal configurations run once."""
    majority = job.majority if job.mode in ("best-of", "debate") else None
    merge = job.merge if job.mode == "merge" else None
    if job.mode in ("best-of", "debate") and "majority_policy" in FIELDS:
        majority = majority or default("majority_policy")
    if job.mode == "merge" and "merge_policy" in FIELDS:
        merge = merge or default("merge_policy")
    return replace(job, majority=majority, merge=merge)


def plan(quick: bool) -> tuple[list[Job], list[Job], list[Job], list[Job]]:
    """The main grid, the policy grid, the cascade and the samples runs (features that exist only)."""
    modes = [m for m in ("best-of", "debate", "vote", "merge") if m in MODES]
    pools = ["pool5"] if quick else ["pool5", "pool3"]
    main: list[Job] = []
    for pool in pools:
        for kind in MERGE_KINDS:
            for mode in modes:
                if kind == "weak" and mode != "merge":
                    continue
                main.append(normalise(Job(pool, kind, mode)))
                if mode == "best-of" and "judge_swap" in FIELDS and kind != "weak":
                    main.append(normalise(Job(pool, kind, mode, swap=True)))
    policies: list[Job] = []
    for pool in pools:
        if "majority_policy" in FIELDS:
            for kind in JUDGE_KINDS:
                for mode in ("best-of", "debate"):
                    policies += [normalise(Job(pool, kind, mode, majority=p)) for p in POLICIES]
        if "merge_policy" in FIELDS:
            for kind in MERGE_KINDS:
                policies += [normalise(Job(pool, kind, "merge", merge=p)) for p in MERGE_POLICIES]
    cascade: list[Job] = []
    if "scouts" in FIELDS:
        for kind in JUDGE_KINDS:
            cascade += [normalise(Job("cascade", kind, "best-of")),
                        normalise(Job("cascade", kind, "best-of", scouts=True))]
    samples: list[Job] = []
    if "vote" in MODES:
        samples = [normalise(Job("samples", kind, "vote")) for kind in JUDGE_KINDS]
    return main, policies, cascade, samples


# --------------------------------------------------------------------------- running


def outcome(index: int, gold: int, result: Any, seconds: float) -> Outcome:
    members = {c.member: final_number(c.text) == gold for c in result.candidates if c.round == 0 and c.ok}
    return Outcome(
        item=index,
        correct=final_number(result.answer) == gold,
        tokens=result.usage.total.total_tokens,
        seconds=seconds,
        members=members,
        escalated=getattr(result, "escalated", None),
        decided_by=result.decided_by,
        judge_calls=len([c for c in result.judge_calls if c.error is None]),
        failed=sum(not c.ok for c in result.candidates),
        issues=len(getattr(result, "verdict_issues", []) or []),
    )


async def run_jobs(jobs: list[Job], url: str, items: list[int], seed: int,
                   concurrency: int) -> dict[Job, list[Outcome]]:
    """Every job on every item, ``concurrency`` fusions at a time, one compiled Fusion per job."""
    # One shared client over sharded connection pools (bench/concurrency.py says why), and a
    # frozen heap: both cut the client's CPU per fusion.
    http = httpx.AsyncClient(transport=ShardedTransport(32), timeout=httpx.Timeout(120.0))
    fusions = {job: Fusion(build(job, url, http)) for job in jobs}
    gc.collect()
    gc.freeze()
    out: dict[Job, list[Outcome]] = defaultdict(list)
    queue: asyncio.Queue[tuple[Job, int]] = asyncio.Queue()
    for index in items:
        for job in jobs:
            queue.put_nowait((job, index))
    total = queue.qsize()
    done = 0
    started = time.perf_counter()
    errors: dict[str, int] = defaultdict(int)

    async def worker() -> None:
        nonlocal done
        while not queue.empty():
            job, index = queue.get_nowait()
            it = item(seed, index)
            t = time.perf_counter()
            try:
                result = await fusions[job].run(it.question)
                out[job].append(outcome(index, it.gold, result, time.perf_counter() - t))
            except Exception as exc:  # a failed fusion is a wrong answer, counted and shown
                errors[f"{type(exc).__name__}: {str(exc)[:120]}"] += 1
                out[job].append(Outcome(index, False, 0, time.perf_counter() - t, error=type(exc).__name__))
            done += 1
            if done % max(1, total // 10) == 0:
                print(f"  {done}/{total} fusions, {time.perf_counter() - started:.0f} s", flush=True)

    try:
        await asyncio.gather(*(worker() for _ in range(concurrency)))
    finally:
        await http.aclose()
    for text, count in errors.items():
        print(f"  {count} fusions failed: {text}")
    return out


# --------------------------------------------------------------------------- reporting


@dataclass
class Row:
    label: str
    acc: float
    lo: float
    hi: float
    n: int
    diff: tuple[float, float, float] | None = None
    tokens: float = 0.0
    seconds: float = 0.0
    judge_calls: float = 0.0
    extra: str = ""


def summarise(label: str, outcomes: list[Outcome], best: np.ndarray | None, seed: int) -> Row:
    vec = correct_vector(outcomes)
    lo, hi = wilson(int(vec.sum()), len(vec))
    row = Row(label, float(vec.mean()), lo, hi, len(vec),
              tokens=float(np.mean([o.tokens for o in outcomes])),
              seconds=float(np.mean([o.seconds for o in outcomes])),
              judge_calls=float(np.mean([o.judge_calls for o in outcomes])))
    if best is not None:
        row.diff = paired_bootstrap(vec, best, seed=seed)
    notes = []
    issues = sum(o.issues for o in outcomes)
    if issues:
        notes.append(f"{issues} verdict issues")
    failed = sum(1 for o in outcomes if o.error)
    if failed:
        notes.append(f"{failed} fusions failed")
    overridden = sum(1 for o in outcomes if o.decided_by.startswith("majority:"))
    if overridden:
        notes.append(f"majority overrode the judge {overridden}x")
    row.extra = ", ".join(notes)
    return row


def print_rows(rows: list[Row], title: str) -> None:
    print(title)
    print(f"  {'':26} {'acc':>6} {'95% CI':>13} {'fused-best':>10} {'95% CI (bootstrap)':>19} "
          f"{'tokens':>7} {'s/item':>7} {'judge':>5}")
    for r in rows:
        diff = (f"{r.diff[0]:>+10.3f} [{r.diff[1]:+.3f}, {r.diff[2]:+.3f}]" if r.diff is not None
                else f"{'':>10} {'':>17}")
        cost = f"{r.tokens:>7.0f} {r.seconds:>7.2f} {r.judge_calls:>5.2f}" if r.tokens else ""
        print(f"  {r.label:26} {r.acc:>6.3f} [{r.lo:.3f}, {r.hi:.3f}] {diff} {cost}"
              + (f"  ({r.extra})" if r.extra else ""))


def pool_members(pool: str, results: dict[Job, list[Outcome]]) -> dict[str, np.ndarray]:
    return member_vectors([outs for job, outs in results.items() if job.pool == pool and not job.scouts])


def best_member(vectors: dict[str, np.ndarray]) -> tuple[str, np.ndarray]:
    name = max(vectors, key=lambda n: (vectors[n].mean(), n))
    return name, vectors[name]


def member_rows(vectors: dict[str, np.ndarray]) -> list[Row]:
    rows = []
    for name, vec in vectors.items():
        lo, hi = wilson(int(vec.sum()), len(vec))
        rows.append(Row(f"{name} alone", float(vec.mean()), lo, hi, len(vec)))
    best, vec = best_member(vectors)
    lo, hi = wilson(int(vec.sum()), len(vec))
    rows.append(Row(f"best member ({best})", float(vec.mean()), lo, hi, len(vec)))
    mean = float(np.mean([v.mean() for v in vectors.values()]))
    rows.append(Row("members' average", mean, mean, mean, len(vec)))
    return rows


def main_tables(results: dict[Job, list[Outcome]], main: list[Job], seed: int) -> dict[Job, Row]:
    rows: dict[Job, Row] = {}
    for pool in dict.fromkeys(job.pool for job in main):
        vectors = pool_members(pool, results)
        _, best = best_member(vectors)
        accs = ", ".join(f"{n} {a:.2f}" for n, a in POOLS[pool])
        print_rows(member_rows(vectors), f"\n{pool}: members set to {accs}; {len(best)} items, seed {seed}")
        for kind in MERGE_KINDS:
            jobs = [j for j in main if j.pool == pool and j.judge == kind]
            jobs.sort(key=lambda j: MODE_ORDER.index(j.mode + ("+swap" if j.swap else "")))
            for job in jobs:
                rows[job] = summarise(f"{kind:13} {job.row}", results[job], best, seed)
            print_rows([rows[j] for j in jobs], f" judge {kind}:")
    return rows


def policy_table(results: dict[Job, list[Outcome]], policies: list[Job]) -> dict[str, dict[str, float]]:
    """Accuracy of each policy value per (pool, judge, mode), and its mean over them all."""
    means: dict[str, dict[str, float]] = {}
    for field, values, modes in (("majority", POLICIES, ("best-of", "debate")), ("merge", MERGE_POLICIES, ("merge",))):
        jobs = [j for j in policies if getattr(j, field) is not None and j.mode in modes]
        if not jobs:
            continue
        name = "majority_policy" if field == "majority" else "merge_policy"
        print(f"\n{name} (default {default(name)!r}): accuracy per pool, judge and mode")
        print(f"  {'pool':6} {'judge':13} {'mode':8} " + " ".join(f"{v:>9}" for v in values))
        per_value: dict[str, list[float]] = defaultdict(list)
        keys = dict.fromkeys((j.pool, j.judge, j.mode) for j in jobs)
        for pool, kind, mode in keys:
            accs = []
            for value in values:
                job = next(j for j in jobs if (j.pool, j.judge, j.mode) == (pool, kind, mode)
                           and getattr(j, field) == value)
                acc = float(correct_vector(results[job]).mean())
                per_value[value].append(acc)
                accs.append(acc)
            best = max(accs)
            cells = " ".join(f"{a:>8.3f}{'*' if a == best else ' '}" for a in accs)
            print(f"  {pool:6} {kind:13} {mode:8} {cells}")
        means[name] = {v: float(np.mean(per_value[v])) for v in values}
        top = max(means[name], key=lambda v: means[name][v])
        print(f"  {'mean over every pool, judge and mode':29} "
              + " ".join(f"{means[name][v]:>8.3f} " for v in values)
              + f"  -> highest: {top!r}")
    return means


def cascade_table(results: dict[Job, list[Outcome]], cascade: list[Job], seed: int) -> list[dict[str, Any]]:
    if not cascade:
        return []
    vectors = pool_members("cascade", results)
    best_name, best = best_member(vectors)
    accs = ", ".join(f"{n} {a:.2f}" for n, a in POOLS["cascade"])
    print_rows(member_rows(vectors), f"\ncascade: scouts {SCOUTS} answer first (escalate='disagree'); "
               f"members set to {accs}; {len(best)} items, seed {seed}")
    out = []
    for kind in JUDGE_KINDS:
        full = next(j for j in cascade if j.judge == kind and not j.scouts)
        scout = next(j for j in cascade if j.judge == kind and j.scouts)
        rows = [summarise(f"{kind:13} {j.row}", results[j], best, seed) for j in (full, scout)]
        saved = 1 - rows[1].tokens / rows[0].tokens if rows[0].tokens else 0.0
        faster = 1 - rows[1].seconds / rows[0].seconds if rows[0].seconds else 0.0
        vs_full = paired_bootstrap(correct_vector(results[scout]), correct_vector(results[full]), seed=seed)
        escalated = np.mean([bool(o.escalated) for o in results[scout]])
        rows[1].extra = (f"escalated {escalated:.0%}; {saved:.0%} fewer tokens, {faster:.0%} less time "
                         f"than the full pool; accuracy vs full {vs_full[0]:+.3f} "
                         f"[{vs_full[1]:+.3f}, {vs_full[2]:+.3f}]" + (f"; {rows[1].extra}" if rows[1].extra else ""))
        print_rows(rows, f" judge {kind}:")
        out.append({"judge": kind, "saved": saved, "diff": vs_full, "full": rows[0], "cascade": rows[1],
                    "escalated": escalated})
    return out


def samples_table(results: dict[Job, list[Outcome]], samples: list[Job], seed: int) -> None:
    if not samples:
        return
    vectors = pool_members("samples", results)
    name, n = POOLS["samples"][0]
    alone = vectors.get(f"{name}#1", next(iter(vectors.values())))
    lo, hi = wilson(int(alone.sum()), len(alone))
    rows = [Row(f"{name} alone (sample #1)", float(alone.mean()), lo, hi, len(alone))]
    rows += [summarise(f"{j.judge:13} {j.mode} k={SAMPLES[name]}", results[j], alone, seed) for j in samples]
    print_rows(rows, f"\nself-consistency: {name} (set to {n:.2f}) with samples={SAMPLES[name]}, vote; "
               f"fused - {name} alone")


def targets(rows: dict[Job, Row], cascade: list[dict[str, Any]]) -> None:
    print("\nissue 10 targets (point estimate of the paired difference; its 95 % bootstrap CI in brackets)")

    def line(ok: bool, text: str) -> None:
        print(f"  [{'met' if ok else 'NOT met'}] {text}")

    def check(jobs: list[Job], bound: float, what: str) -> None:
        misses = [j for j in jobs if rows[j].diff is not None and rows[j].diff[0] < bound - 1e-12]
        worst = min(jobs, key=lambda j: rows[j].diff[0] if rows[j].diff else 0.0)
        d = rows[worst].diff or (0.0, 0.0, 0.0)
        line(not misses, f"{what}: worst {worst.pool} {worst.judge} {worst.row} {d[0]:+.3f} "
             f"[{d[1]:+.3f}, {d[2]:+.3f}]"
             + (f"; misses: {', '.join(f'{j.pool} {j.judge} {j.row} {rows[j].diff[0]:+.3f}' for j in misses if rows[j].diff)}"
                if misses else ""))

    plain = [j for j in rows if not j.swap]
    t1 = [j for j in plain if j.judge in ("uninformative", "biased") and j.mode in ("best-of", "debate", "vote")]
    if t1:
        check(t1, 0.0, "uninformative/biased judge: best-of, debate, vote never below the best member")
    t2 = [j for j in rows if j.judge == "noisy"]
    if t2:
        check(t2, 0.05, "noisy-good judge: every mode >= best member + 5 points")
    t3 = [j for j in rows if j.mode == "merge"]
    if t3:
        check([j for j in t3 if j.judge != "weak"], 0.0, "merge never below the best member (judges as good as a pick)")
        check([j for j in t3 if j.judge == "weak"], 0.0, "merge never below the best member (weak merge judge)")
    for c in cascade:
        equal = c["diff"][0] >= -0.02
        line(c["saved"] >= 0.40 and equal,
             f"cascade, judge {c['judge']}: {c['saved']:.0%} fewer tokens (target >= 40 %), accuracy vs full "
             f"pool {c['diff'][0]:+.3f} [{c['diff'][1]:+.3f}, {c['diff'][2]:+.3f}] (equal: within 2 points)")


def plot(rows: dict[Job, Row], results: dict[Job, list[Outcome]], cascade: list[dict[str, Any]],
         path: Path, note: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    pools = list(dict.fromkeys(j.pool for j in rows))
    fig, axes = plt.subplots(1, len(pools) + (1 if cascade else 0), figsize=(6.2 * len(pools) + 4.5, 5.2),
                             squeeze=False)
    colours = {"uninformative": "#9e9e9e", "biased": "#f4a259", "noisy": "#5b8e7d", "oracle": "#3d5a80",
               "weak": "#bc4b51"}
    for ax, pool in zip(axes[0], pools, strict=False):
        vectors = pool_members(pool, results)
        best_name, best = best_member(vectors)
        lo, hi = wilson(int(best.sum()), len(best))
        ax.axhspan(lo, hi, color="#dddddd", zorder=0)
        ax.axhline(best.mean(), color="black", lw=1.2, label=f"best member ({best_name}) ±95%")
        ax.axhline(np.mean([v.mean() for v in vectors.values()]), color="black", lw=1, ls=":",
                   label="members' average")
        modes = [m for m in MODE_ORDER if any(j.pool == pool and j.row == m for j in rows)]
        width = 0.8 / len(MERGE_KINDS)
        for k, kind in enumerate(MERGE_KINDS):
            xs, ys, errs = [], [], [[], []]
            for x, mode in enumerate(modes):
                job = next((j for j in rows if j.pool == pool and j.judge == kind and j.row == mode), None)
                if job is None:
                    continue
                r = rows[job]
                xs.append(x - 0.4 + width * (k + 0.5))
                ys.append(r.acc)
                errs[0].append(r.acc - r.lo)
                errs[1].append(r.hi - r.acc)
            if xs:
                ax.bar(xs, ys, width, yerr=errs, capsize=2, color=colours[kind], label=f"judge {kind}")
        ax.set_xticks(range(len(modes)), modes)
        ax.set_ylim(0.3, 1.0)
        ax.set_ylabel("accuracy (95% Wilson)")
        ax.set_title(f"{pool}: " + ", ".join(f"{a:.2f}" for _, a in POOLS[pool]), fontsize=10)
        ax.legend(fontsize=7, loc="lower left")
    if cascade:
        ax = axes[0][-1]
        for c in cascade:
            for key, marker in (("full", "o"), ("cascade", "s")):
                r = c[key]
                ax.errorbar(r.tokens, r.acc, yerr=[[r.acc - r.lo], [r.hi - r.acc]], fmt=marker,
                            color=colours[c["judge"]], capsize=2)
            ax.annotate("", xy=(c["cascade"].tokens, c["cascade"].acc), xytext=(c["full"].tokens, c["full"].acc),
                        arrowprops={"arrowstyle": "->", "color": colours[c["judge"]]})
        ax.plot([], [], "o", color="black", label="full pool, best-of")
        ax.plot([], [], "s", color="black", label=f"scouts {'+'.join(SCOUTS)} first")
        ax.set_xlabel("tokens per item")
        ax.set_ylabel("accuracy (95% Wilson)")
        ax.set_title("scout cascade (colour: judge kind)", fontsize=10)
        ax.legend(fontsize=7, loc="lower right")
    fig.suptitle(f"Fusion vs the best member, simulated pools over HTTP ({note})", fontsize=10)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    print(f"\nwrote {path}")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--items", type=int, default=200)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--quick", action="store_true", help="the 5-member pool only (policies, cascade too)")
    parser.add_argument("--concurrency", type=int, default=48, help="fusions in flight at once")
    parser.add_argument("--collision", type=float, default=0.05, help="chance a wrong answer is the shared one")
    parser.add_argument("--switch", type=float, default=0.5, help="debate: chance to move to the plurality")
    parser.add_argument("--habit", type=float, default=0.5, help="samples: chance a wrong sample repeats")
    parser.add_argument("--rho", type=float, default=0.0, help="item difficulty shared by the members (0-1)")
    parser.add_argument("--p-weak", type=float, default=0.3, help="weak merge judge: chance of a new number")
    parser.add_argument("--png", default="docs/img/quality.png")
    args = parser.parse_args()
    sim = Sim(args.seed, args.collision, args.switch, args.habit, args.rho, args.p_weak,
              member_latency=0.06, judge_latency=0.04)
    main_jobs, policy_jobs, cascade_jobs, sample_jobs = plan(args.quick)
    jobs = list(dict.fromkeys([*main_jobs, *policy_jobs, *cascade_jobs, *sample_jobs]))
    items = list(range(args.items))
    print(f"start: {load_note()}")
    print(f"{len(items)} items, seed {args.seed}, {len(jobs)} configurations, {len(jobs) * len(items)} fusions, "
          f"{args.concurrency} at a time; {sim}")
    missing = [f for f in ("answer_format", "majority_policy", "merge_policy", "judge_swap", "scouts")
               if f not in FIELDS] + (["mode vote"] if "vote" not in MODES else [])
    if missing:
        print(f"not in this fusion_graph yet (skipped): {', '.join(missing)}")
    t, cpu = time.perf_counter(), time.process_time()
    server = SimServer(server_models(sim))
    with server as url:
        results = await run_jobs(jobs, url, items, args.seed, args.concurrency)
    report = server.report
    print(f"ran in {time.perf_counter() - t:.0f} s (CPU: this process {time.process_time() - cpu:.0f} s, "
          f"stub server {report.get('cpu_s', 0):.0f} s for {report.get('calls', 0)} calls); end: {load_note()}")
    if report.get("error_count"):
        print(f"stub script errors: {report['error_count']}, e.g. {report['errors']}")
    rows = main_tables(results, main_jobs, args.seed)
    cascade = cascade_table(results, cascade_jobs, args.seed)
    samples_table(results, sample_jobs, args.seed)
    policy_table(results, policy_jobs)
    targets(rows, cascade)
    note = f"{len(items)} items, seed {args.seed}, collision {args.collision}, switch {args.switch}, rho {args.rho}"
    plot(rows, results, cascade, Path(args.png), note)


if __name__ == "__main__":
    asyncio.run(main())
