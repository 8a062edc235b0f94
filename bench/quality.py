"""Does fusion beat the pool's best member? Simulated pools through the real graph and real HTTP.

Members and judges are scripts of ``OpenAIStubServer`` (one server, in its own process), reached as
``openai:`` members with a ``base_url``, so every fusion runs the real graph, the real provider
client and real HTTP. ``bench/_quality_sim.py`` says exactly how they behave; in short:

* items: synthetic ``a × b − c`` questions with a gold number, the item id in the prompt;
* members: set accuracies, wrong answers of their own (a ``--collision`` rate of one shared wrong
  number), one short reasoning sentence ending in the number; in a debate a member moves to the
  plurality answer it reads with probability ``--switch``; samples (``Member(samples=k)``) draw
  independently; ``--rho`` makes members wrong on the same items (a shared item difficulty);
* judges: ``uninformative`` (the first label shown), ``biased`` (the first label half the time, else
  a right one), ``noisy`` (a right one 80 % of the time when one is there), ``oracle``; merge judges
  write the number of the answer they would pick, the ``weak`` merge judge the plurality number but
  a new wrong one with probability ``--p-weak``; ``contradictory`` picks like ``noisy`` but scores
  its own winner below another answer in 30 % of its verdicts.

Every configuration uses ``answer_format="number"`` and the library's defaults otherwise (debate:
one round, consensus stop). Printed: for each pool, judge kind and mode, the accuracy of each member
alone (its round-0 answers in the same runs), of the best member and of the fused answer with 95 %
Wilson intervals, the paired difference fused − best member with a 95 % bootstrap interval, tokens,
seconds per fusion (with ``--concurrency`` in flight) and judge calls per item; the scout cascade
against the full pool; self-consistency; verdict integrity; ``majority_policy`` and
``merge_policy`` across every judge kind; and whether each of issue 10's targets is met. The figure
goes to ``docs/img/quality.png``.

    .venv/bin/python bench/quality.py [--items 200] [--seed 1] [--quick] [--concurrency 32]
                                      [--collision 0.05] [--switch 0.5] [--rho 0] [--p-weak 0.3]
    .venv/bin/python bench/quality.py --grid [--items 200] [--seeds 3] [--pools …] [--save F | --load F]

``--grid`` (bench/_quality_grid.py): the defaults in every cell of error structure × judge kind ×
pool, with noisy extraction; the headline is the worst cell.

``--quick``: the 5-member pool only (with its policies, the cascade, samples and integrity rows).
A harsher world, where members fail on the same items and often share one wrong answer:
``--quick --rho 0.5 --collision 0.3 --png docs/img/quality_hard.png``. ``--save``/``--load`` keep
the outcomes so the tables and figure can be redrawn without running again.

Cost: a fusion is about 30 ms of client CPU here (the OpenAI SDK, httpx, langchain-core and
LangGraph; fusion-graph's own code is a few percent), so the full grid (107 configurations × 200
items, 21,400 fusions) takes about 10 minutes of CPU, 18 minutes of wall time on this shared
2-core machine; ``--quick`` (60 configurations) about half of that.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import time
from collections import defaultdict
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from _common import load_note, rss_bytes
from _quality_plot import plot
from _quality_report import Report
from _quality_sim import (
    JUDGE_KINDS,
    MERGE_KINDS,
    MemberSim,
    SimServer,
    final_number,
    item,
    judge_script,
    member_script,
    sim_config,
)
from _quality_stats import Outcome

from fusion_graph import FusionConfig
from fusion_graph.providers._http import ShardedTransport, httpx
from fusion_graph.runner import Fusion

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
POLICIES = ("weighted", "majority", "judge", "reask")
MERGE_POLICIES = ("weighted", "keep", "reask", "majority")
FIELDS = FusionConfig.model_fields


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
        return self.mode + ("+swap" if self.swap else "") + (" +scouts" if self.scouts else "")


@dataclass
class Plan:
    """Which configurations run, by the table they feed (one configuration may feed several)."""

    main: list[Job]
    policies: list[Job]
    cascade: list[Job]
    samples: list[Job]
    integrity: list[Job]

    def all(self) -> list[Job]:
        return list(
            dict.fromkeys([*self.main, *self.policies, *self.cascade, *self.samples, *self.integrity])
        )


@dataclass
class Sim:
    """The simulation's knobs (printed with the results)."""

    seed: int
    collision: float
    switch: float
    habit: float
    rho: float
    p_weak: float
    member_latency: float = 0.06
    judge_latency: float = 0.04


def server_models(sim: Sim) -> dict[str, dict[str, Any]]:
    models: dict[str, dict[str, Any]] = {}
    style = 0
    for members in POOLS.values():
        for name, accuracy in members:
            spec = MemberSim(
                name=name,
                accuracy=accuracy,
                style=style,
                seed=sim.seed,
                rho=sim.rho,
                collision=sim.collision,
                switch=sim.switch,
                habit=sim.habit,
                short=name in SCOUTS,
            )
            models[name] = member_script(spec, sim.member_latency / (3 if spec.short else 1))
            style += 1
    for kind in (*MERGE_KINDS, "contradictory"):
        models[f"judge-{kind}"] = judge_script(kind, sim.seed, sim.p_weak, sim.judge_latency)
    return models


def build(job: Job, url: str, http: httpx.AsyncClient) -> FusionConfig:
    members = [(name, name, SAMPLES.get(name, 1)) for name, _ in POOLS[job.pool]]
    judge = (f"judge-{job.judge}", f"judge-{job.judge}")
    extra: dict[str, Any] = {"answer_format": "number", "judge_swap": job.swap}
    if job.majority is not None:
        extra["majority_policy"] = job.majority
    if job.merge is not None:
        extra["merge_policy"] = job.merge
    if job.scouts:
        extra.update(scouts=SCOUTS, escalate="disagree")
    return sim_config(members, judge, url, http, mode=job.mode, seed=7, **extra)


def normalise(job: Job) -> Job:
    """Fill in the policy the config would use anyway, so equal configurations run once."""
    majority = (
        (job.majority or FIELDS["majority_policy"].default) if job.mode in ("best-of", "debate") else None
    )
    merge = (job.merge or FIELDS["merge_policy"].default) if job.mode == "merge" else None
    return replace(job, majority=majority, merge=merge)


def plan(quick: bool) -> Plan:
    pools = ["pool5"] if quick else ["pool5", "pool3"]
    main: list[Job] = []
    policies: list[Job] = []
    for pool in pools:
        for kind in MERGE_KINDS:
            for mode in ("best-of", "debate", "vote", "merge") if kind != "weak" else ("merge",):
                main.append(normalise(Job(pool, kind, mode)))
                if mode == "best-of":
                    main.append(normalise(Job(pool, kind, mode, swap=True)))
                if mode in ("best-of", "debate"):
                    policies += [normalise(Job(pool, kind, mode, majority=p)) for p in POLICIES]
                if mode == "merge":
                    policies += [normalise(Job(pool, kind, mode, merge=p)) for p in MERGE_POLICIES]
    cascade = [
        normalise(Job("cascade", kind, "best-of", scouts=s)) for kind in JUDGE_KINDS for s in (False, True)
    ]
    samples = [normalise(Job("samples", kind, "vote")) for kind in JUDGE_KINDS]
    integrity = [normalise(Job("pool5", kind, "best-of")) for kind in ("noisy", "contradictory")]
    return Plan(main, policies, cascade, samples, integrity)


def outcome(index: int, gold: int, result: Any, seconds: float) -> Outcome:
    return Outcome(
        item=index,
        correct=final_number(result.answer) == gold,
        tokens=result.usage.total.total_tokens,
        seconds=seconds,
        members={c.member: final_number(c.text) == gold for c in result.candidates if c.round == 0 and c.ok},
        escalated=result.escalated,
        decided_by=result.decided_by,
        judge_calls=len([c for c in result.judge_calls if c.error is None]),
        failed=sum(not c.ok for c in result.candidates),
        issues=len(result.verdict_issues),
    )


async def run_jobs(
    jobs: list[Job], url: str, items: list[int], seed: int, concurrency: int
) -> dict[Job, list[Outcome]]:
    """Every job on every item, ``concurrency`` fusions at a time, one compiled ``Fusion`` per job."""
    # One shared client over sharded connection pools (bench/concurrency.py says why), a frozen heap
    # and a rarer young-generation GC: together about 15 % less client CPU per fusion here.
    http = httpx.AsyncClient(transport=ShardedTransport(128), timeout=httpx.Timeout(120.0))
    fusions = {job: Fusion(build(job, url, http)) for job in jobs}
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 20, 20)
    out: dict[Job, list[Outcome]] = defaultdict(list)
    work = [(job, index) for index in items for job in jobs]
    work.reverse()  # popped from the end: item by item, every configuration in turn
    total, done, started = len(work), 0, time.perf_counter()
    errors: dict[str, int] = defaultdict(int)

    async def worker() -> None:
        nonlocal done
        while work:
            job, index = work.pop()
            it = item(seed, index)
            t = time.perf_counter()
            try:
                result = await fusions[job].run(it.question)
                out[job].append(outcome(index, it.gold, result, time.perf_counter() - t))
            except Exception as exc:  # a failed fusion is a wrong answer, counted and shown
                errors[f"{type(exc).__name__}: {str(exc)[:160]}"] += 1
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


def save(path: Path, results: dict[Job, list[Outcome]], args: dict[str, Any]) -> None:
    rows = [{"job": asdict(job), "outcomes": [asdict(o) for o in outs]} for job, outs in results.items()]
    path.write_text(json.dumps({"args": args, "results": rows}))
    print(f"saved the outcomes to {path}")


def load(path: Path, jobs: list[Job]) -> dict[Job, list[Outcome]]:
    data = json.loads(path.read_text())
    print(f"(run with {data['args']})")
    results = {Job(**row["job"]): [Outcome(**o) for o in row["outcomes"]] for row in data["results"]}
    missing = [job for job in jobs if job not in results]
    if missing:
        raise SystemExit(f"{path} lacks {len(missing)} configurations of this grid, e.g. {missing[0]}")
    return results


async def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--items", type=int, default=200)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--quick", action="store_true", help="the 5-member pool only")
    parser.add_argument("--concurrency", type=int, default=32, help="fusions in flight at once")
    parser.add_argument(
        "--collision", type=float, default=0.05, help="chance a wrong answer is the shared one"
    )
    parser.add_argument("--switch", type=float, default=0.5, help="debate: chance to move to the plurality")
    parser.add_argument("--habit", type=float, default=0.5, help="samples: chance a wrong sample repeats")
    parser.add_argument("--rho", type=float, default=0.0, help="item difficulty the members share (0-1)")
    parser.add_argument("--p-weak", type=float, default=0.3, help="weak merge judge: chance of a new number")
    parser.add_argument("--png", default="docs/img/quality.png")
    parser.add_argument("--save", help="also write every outcome to this JSON file")
    parser.add_argument(
        "--load", help="print the tables and the figure from a --save file (--grid: several, comma-separated)"
    )
    parser.add_argument(
        "--grid",
        action="store_true",
        help="the defaults across error structures x judges x pools (bench/_quality_grid.py)",
    )
    parser.add_argument("--seeds", type=int, default=3, help="--grid: seeds per cell")
    parser.add_argument("--pools", nargs="*", help="--grid: only these pools")
    parser.add_argument("--structures", nargs="*", help="--grid: only these error structures")
    parser.add_argument(
        "--calibrated",
        action="store_true",
        help="--grid with --load: calibrate on the first --labelled items, run the rest",
    )
    parser.add_argument("--labelled", type=int, default=50, help="--calibrated: labelled items per seed")
    parser.add_argument("--history", action="store_true", help="--calibrated: also learn from history")
    parser.add_argument("--history-only", action="store_true", help="--calibrated: only learn from history")
    parser.add_argument(
        "--reuse", help="--calibrated: report from the files a --save PREFIX run wrote (PREFIX), run nothing"
    )
    args = parser.parse_args()
    if args.grid and args.calibrated:
        from _quality_grid import main_calibrated

        await main_calibrated(args)
        return
    if args.grid:
        from _quality_grid import main_grid

        if args.png == "docs/img/quality.png":
            args.png = "docs/img/quality_grid.png"
        print(f"start: {load_note()}")
        await main_grid(args)
        print(f"end: {load_note()}")
        return
    sim = Sim(args.seed, args.collision, args.switch, args.habit, args.rho, args.p_weak)
    grid = plan(args.quick)
    jobs = grid.all()
    items = list(range(args.items))
    print(f"start: {load_note()}")
    print(
        f"{len(items)} items, seed {args.seed}, {len(jobs)} configurations, {len(jobs) * len(items)} "
        f"fusions, {args.concurrency} at a time; {sim}"
    )
    if args.load:
        results = load(Path(args.load), jobs)
        print(f"loaded {sum(map(len, results.values()))} outcomes from {args.load}")
    else:
        t, cpu = time.perf_counter(), time.process_time()
        server = SimServer(server_models(sim))
        with server as url:
            results = await run_jobs(jobs, url, items, args.seed, args.concurrency)
        info = server.report
        print(
            f"ran in {time.perf_counter() - t:.0f} s (CPU: this process {time.process_time() - cpu:.0f} s, "
            f"stub server {info.get('cpu_s', 0):.0f} s for {info.get('calls', 0)} calls; "
            f"RSS {rss_bytes() / 2**20:.0f} MiB); end: {load_note()}"
        )
        if info.get("error_count"):
            print(f"stub script errors: {info['error_count']}, e.g. {info['errors']}")
        if args.save:
            save(Path(args.save), results, vars(args))
    report = Report(results, POOLS, SCOUTS, SAMPLES, args.seed)
    rows = report.main_tables(grid.main)
    cascade = report.cascade_table(grid.cascade)
    report.samples_table(grid.samples)
    report.integrity_table(grid.integrity)
    report.policy_table(grid.policies, "majority", POLICIES, FIELDS["majority_policy"].default)
    report.policy_table(grid.policies, "merge", MERGE_POLICIES, FIELDS["merge_policy"].default)
    report.targets(rows, cascade)
    note = (
        f"{len(items)} items, seed {args.seed}, collision {args.collision}, switch {args.switch}, "
        f"rho {args.rho}, p_weak {args.p_weak}"
    )
    plot(report, rows, cascade, Path(args.png), note)


if __name__ == "__main__":
    asyncio.run(main())
