"""``bench/quality.py --grid``: the library's defaults across error structures, judges and pools.

Each cell is one error structure × one judge kind × one pool, run on ``--items`` items for each of
``--seeds`` seeds through the real graph and real HTTP (``_quality_sim``'s stub server), with the
library's defaults (``FusionConfig(pool, judge)``: best-of, ``answer_format="auto"``, the weighted
rule). Every answer is noisy for extraction with probability ``NOISE`` (no explicit marker, several
numbers, thin-space thousands, a trailing ``.0``).

Per cell, from the same fusions: the best member alone (its round-0 answers), the judge's own picks
(the candidate its first verdict chose, before the rule weighed it; what ``majority_policy="judge"``
answers), the fused answer, the paired difference fused − max(best member, judge's picks) with a 95 %
bootstrap interval over items × seeds, and judge calls per item. The headline is the worst cell.
"""

from __future__ import annotations

import asyncio
import gc
import json
import time
from collections import defaultdict
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
from _quality_sim import (
    GRID_JUDGES,
    MemberSim,
    SimServer,
    final_number,
    item,
    judge_script,
    member_script,
    sim_config,
)
from _quality_stats import paired_bootstrap, wilson

from fusion_graph import FusionConfig
from fusion_graph.calibration import CalibrationEntry
from fusion_graph.eval.calibrate import calibration_from_records
from fusion_graph.providers._http import ShardedTransport, httpx
from fusion_graph.runner import Fusion

NOISE = 0.2
STRUCTURES: dict[str, tuple[float, float]] = {  # name: (rho, collision)
    "independent": (0.0, 0.05),
    "hard 0.3": (0.3, 0.05),
    "hard 0.6": (0.6, 0.05),
    "trap 0.3": (0.6, 0.3),
    "trap 0.8": (0.6, 0.8),
}
POOLS: dict[str, list[tuple[str, float]]] = {
    "3 balanced": [("b1", 0.675), ("b2", 0.605), ("b3", 0.545)],
    "5 balanced": [("f1", 0.68), ("f2", 0.64), ("f3", 0.60), ("f4", 0.56), ("f5", 0.52)],
    "5, one strong": [("s1", 0.85), ("s2", 0.55), ("s3", 0.52), ("s4", 0.50), ("s5", 0.48)],
    "samples=5": [("k1", 0.65)],
}
SAMPLES = {"k1": 5}
TARGET = 0.02
_DEFAULT_POLICY = FusionConfig.model_fields["majority_policy"].default


@dataclass(frozen=True)
class Cell:
    structure: str
    judge: str
    pool: str


@dataclass
class Row:
    """One fusion of one item in one cell."""

    seed: int
    item: int
    fused: bool
    judge_pick: bool | None
    members: dict[str, bool]
    judge_calls: int
    tokens: int
    decided_by: str
    stood: bool | None
    answers: dict[str, int | None] | None = None
    """Each candidate's final number as the bench reads it (for offline checks)."""
    judge_name: str | None = None
    """The candidate the judge picked."""
    judge_check: str | None = None
    """What the pick went through (``Decision.judge_check``)."""
    rule: str | None = None
    """The rule that decided (``Decision.rule``) and where its weights came from (``source``)."""
    source: str | None = None
    keys: dict[str, str | None] | None = None
    """Each candidate's final answer as the library read it (``FusionResult.answers``): what its
    rules, and a replay of them, see (``answers`` is the bench's reading, which knows the format)."""


def _model(pool: str, name: str, structure: str, seed: int) -> str:
    return f"{name}-{structure.replace(' ', '')}-s{seed}"


def server_models(seeds: list[int]) -> dict[str, dict[str, Any]]:
    models: dict[str, dict[str, Any]] = {}
    for seed in seeds:
        for structure, (rho, collision) in STRUCTURES.items():
            style = 0
            for pool, members in POOLS.items():
                for name, accuracy in members:
                    spec = MemberSim(
                        name=name,
                        accuracy=accuracy,
                        style=style,
                        seed=seed,
                        rho=rho,
                        collision=collision,
                        noise=NOISE,
                    )
                    models[_model(pool, name, structure, seed)] = member_script(spec, 0.05)
                    style += 1
        for kind in GRID_JUDGES:
            models[f"judge-{kind}-s{seed}"] = judge_script(kind, seed, 0.0, 0.03)
    return models


def build(cell: Cell, seed: int, url: str, http: httpx.AsyncClient, **overrides: Any) -> FusionConfig:
    members = [
        (_model(cell.pool, name, cell.structure, seed), name, SAMPLES.get(name, 1))
        for name, _ in POOLS[cell.pool]
    ]
    return sim_config(members, (f"judge-{cell.judge}-s{seed}", "judge"), url, http, **overrides)


def row_of(seed: int, index: int, gold: int, result: Any) -> Row:
    texts = {c.member: c.text for c in result.candidates if c.round == 0 and c.ok}
    decision = result.decision
    pick = decision.judge_pick if decision is not None else None
    return Row(
        seed=seed,
        item=index,
        fused=final_number(result.answer) == gold,
        judge_pick=(final_number(texts[pick]) == gold) if pick in texts else None,
        members={name: final_number(text) == gold for name, text in texts.items()},
        judge_calls=len([c for c in result.judge_calls if c.error is None]),
        tokens=result.usage.total.total_tokens,
        decided_by=result.decided_by,
        stood=decision.judge_stood if decision is not None else None,
        answers={name: final_number(text) for name, text in texts.items()},
        judge_name=pick,
        judge_check=decision.judge_check if decision is not None else None,
        rule=decision.rule if decision is not None else None,
        source=decision.source if decision is not None else None,
        keys=dict(result.answers),
    )


async def run_grid(
    cells: list[Cell], seeds: list[int], items: int, url: str, concurrency: int, **overrides: Any
) -> dict[Cell, list[Row]]:
    http = httpx.AsyncClient(transport=ShardedTransport(128), timeout=httpx.Timeout(120.0))
    try:
        fusions = {
            ("default", c, s): Fusion(build(c, s, url, http, **overrides)) for c in cells for s in seeds
        }
        gc.collect()
        gc.freeze()
        gc.set_threshold(50_000, 20, 20)
        work = [("default", c, s, i) for s in seeds for i in range(items) for c in cells]
        return (await _run_work(work, fusions, concurrency)).get("default", {})
    finally:
        await http.aclose()


@dataclass
class CellStats:
    n: int
    best_member: float
    best_name: str
    judge: float
    fused: float
    diff: tuple[float, float, float]
    """fused − max(best member, judge's picks), with its 95 % paired bootstrap interval."""
    judge_calls: float
    tokens: float
    stood: float


def cell_stats(rows: list[Row]) -> CellStats:
    rows = sorted(rows, key=lambda r: (r.seed, r.item))
    names = sorted({name for r in rows for name in r.members})
    if any(name.endswith("#1") for name in names):  # samples: one model, its first sample is "alone"
        names = [name for name in names if name.endswith("#1")]
    vectors = {name: np.array([r.members.get(name, False) for r in rows]) for name in names}
    best_name = max(vectors, key=lambda n: vectors[n].mean())
    fused = np.array([r.fused for r in rows])
    judge = np.array([bool(r.judge_pick) for r in rows])
    reference = vectors[best_name] if vectors[best_name].mean() >= judge.mean() else judge
    return CellStats(
        n=len(rows),
        best_member=float(vectors[best_name].mean()),
        best_name=best_name,
        judge=float(judge.mean()),
        fused=float(fused.mean()),
        diff=paired_bootstrap(fused, reference),
        judge_calls=float(np.mean([r.judge_calls for r in rows])),
        tokens=float(np.mean([r.tokens for r in rows])),
        stood=float(np.mean([bool(r.stood) for r in rows])),
    )


def report(results: dict[Cell, list[Row]], seeds: list[int], items: int) -> dict[Cell, CellStats]:
    stats = {cell: cell_stats(rows) for cell, rows in results.items()}
    print(
        f"\nDefaults (best-of, answer_format auto, majority_policy {_DEFAULT_POLICY!r}); "
        f"{items} items x {len(seeds)} seeds {seeds} per cell; extraction noise {NOISE}. SIMULATED members "
        "and judges (bench/_quality_sim.py) through the real graph over loopback HTTP."
    )
    print(
        "columns: best = best member alone; judge = the judge's own picks; fused; "
        "Δ = fused − max(best, judge) with its 95 % paired bootstrap interval; "
        "calls = judge calls per item; stood = share decided by "
        "the judge's pick; tokens = tokens per item (members + judge); "
        "✗ = more than 2 points below the target"
    )
    for pool in POOLS:
        print(f"\n== pool: {pool} ==")
        print(
            f"{'structure':<12} {'judge':<14} {'best':>6} {'judge':>6} {'fused':>6} {'Δ':>6} "
            f"{'95% CI':>16} {'calls':>5} {'stood':>5} {'tokens':>6}"
        )
        for cell, st in stats.items():
            if cell.pool != pool:
                continue
            d, lo, hi = st.diff
            flag = " ✗" if d < -TARGET else ""
            print(
                f"{cell.structure:<12} {cell.judge:<14} {st.best_member:6.3f} {st.judge:6.3f} "
                f"{st.fused:6.3f} {d:+6.3f} [{lo:+.3f}, {hi:+.3f}] {st.judge_calls:5.2f} "
                f"{st.stood:5.2f} {st.tokens:6.0f}{flag}"
            )
    worst = sorted(stats.items(), key=lambda kv: kv[1].diff[0])[:5]
    print("\nworst cells (the headline):")
    for cell, st in worst:
        d, lo, hi = st.diff
        k = round(st.fused * st.n)
        w = wilson(k, st.n)
        print(
            f"  {cell.pool} / {cell.structure} / {cell.judge}: fused {st.fused:.3f} [{w[0]:.3f}, {w[1]:.3f}] "
            f"vs best member {st.best_member:.3f}, judge {st.judge:.3f}: Δ {d:+.3f} "
            f"[{lo:+.3f}, {hi:+.3f}] (n={st.n})"
        )
    misses = [c for c, st in stats.items() if st.diff[0] < -TARGET]
    calls = float(np.mean([st.judge_calls for st in stats.values()]))
    print(
        f"\ntarget (fused ≥ max(best member, judge's picks) − 2 points): met in "
        f"{len(stats) - len(misses)} of "
        f"{len(stats)} cells; judge calls per item, mean over cells: {calls:.2f} (target ≤ 1.5)"
    )
    return stats


def save(path: Path, results: dict[Cell, list[Row]]) -> None:
    rows = [{"cell": asdict(c), "rows": [asdict(r) for r in rs]} for c, rs in results.items()]
    path.write_text(json.dumps(rows))


def load(path: Path) -> dict[Cell, list[Row]]:
    return {Cell(**d["cell"]): [Row(**r) for r in d["rows"]] for d in json.loads(path.read_text())}


def plot(stats: dict[Cell, CellStats], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(POOLS), figsize=(6 * len(POOLS), 8))
    for ax, pool in zip(axes, POOLS, strict=True):
        mine = [(c, s) for c, s in stats.items() if c.pool == pool]
        cells = sorted(mine, key=lambda cs: (cs[0].structure, cs[0].judge))
        y = np.arange(len(cells))
        ax.scatter([s.best_member for _, s in cells], y, marker="|", s=120, label="best member", color="grey")
        ax.scatter([s.judge for _, s in cells], y, marker="x", label="judge's own picks", color="tab:orange")
        ax.scatter([s.fused for _, s in cells], y, marker="o", label="fused (defaults)", color="tab:blue")
        ax.set_yticks(y, [f"{c.structure} / {c.judge}" for c, _ in cells], fontsize=7)
        ax.set_title(pool)
        ax.set_xlabel("accuracy")
        ax.grid(axis="x", alpha=0.3)
    axes[0].legend(loc="lower left", fontsize=8)
    fig.suptitle("Simulated grid: fused accuracy against the best member and the judge's own picks")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    print(f"figure: {path}")


async def main_grid(args: Any) -> None:
    seeds = list(range(1, args.seeds + 1))
    cells = [
        Cell(s, j, p)
        for p in POOLS
        for s in STRUCTURES
        for j in GRID_JUDGES
        if (args.pools is None or p in args.pools) and (args.structures is None or s in args.structures)
    ]
    if args.load:
        results = {}
        for path in args.load.split(","):
            results.update(load(Path(path)))
    else:
        print(
            f"{len(cells)} cells x {len(seeds)} seeds x {args.items} items = "
            f"{len(cells) * len(seeds) * args.items} fusions"
        )
        t, cpu = time.perf_counter(), time.process_time()
        server = SimServer(server_models(seeds))
        with server as url:
            results = await run_grid(cells, seeds, args.items, url, args.concurrency)
        print(f"ran in {time.perf_counter() - t:.0f} s (this process CPU {time.process_time() - cpu:.0f} s)")
        if server.report.get("error_count"):
            print(f"stub script errors: {server.report['error_count']}, e.g. {server.report['errors']}")
        if args.save:
            save(Path(args.save), results)
    stats = report(results, seeds, args.items)
    plot(stats, Path(args.png))


# --------------------------------------------------------------------------- calibration and history


def calibration_for(rows: list[Row], judge: str) -> dict[str, Any]:
    """A calibration from labelled rows, by the library's own ``fusion eval`` calibration."""
    records = [
        {
            "config": "fusion:best-of",
            "item": (r.seed, r.item),
            "correct": r.fused,
            "candidates_correct": r.members,
            "answers": r.keys if r.keys is not None else (r.answers or {}),
            "judge": judge,
            "judge_pick": r.judge_name,
            "judge_check": r.judge_check,
            "rule": r.rule,
            "weights_source": r.source,
        }
        for r in rows
        if r.decided_by != "error"
    ]
    return calibration_from_records(records, tag=None, answer_format=None).model_dump()


def majority_policy(row: Row, gold: int, keys: dict[str, str | None] | None = None) -> bool:
    """``majority_policy="majority"`` on a recorded row: a strict majority of all answers, else the pick.

    ``keys``: the library's reading of the answers (``Row.keys``); without it the bench's own reading,
    which knows the simulator's format and so finds majorities the library cannot see.
    """
    if keys is not None:
        counted: dict[str, list[str]] = defaultdict(list)
        for name, key in keys.items():
            if key is not None:
                counted[key].append(name)
        best = max(counted.values(), key=len, default=[])
        if len(keys) >= 3 and 2 * len(best) > len(keys):
            return bool(row.members.get(best[0]))
        return bool(row.judge_pick)
    values = list((row.answers or {}).values())
    counts: dict[int, int] = defaultdict(int)
    for v in values:
        if v is not None:
            counts[v] += 1
    top = max(counts.items(), key=lambda kv: kv[1], default=None)
    if top is not None and len(values) >= 3 and 2 * top[1] > len(values):
        return top[0] == gold
    return bool(row.judge_pick)


async def _run_work(
    work: list[tuple[str, Cell, int, int]], fusions: dict[tuple[str, Cell, int], Fusion], concurrency: int
) -> dict[str, dict[Cell, list[Row]]]:
    """Run every (kind, cell, seed, item) through its fusion, item by item (history learns in order).

    A failed fusion is a wrong answer, counted and shown.
    """
    work = sorted(work, key=lambda w: (w[3], w[0]), reverse=True)
    out: dict[str, dict[Cell, list[Row]]] = defaultdict(lambda: defaultdict(list))
    errors: dict[str, int] = defaultdict(int)
    total, finished, started = len(work), [0], time.perf_counter()

    async def worker() -> None:
        while work:
            kind, cell, seed, index = work.pop()
            it = item(seed, index)
            try:
                result = await fusions[(kind, cell, seed)].run(it.question)
                out[kind][cell].append(row_of(seed, index, it.gold, result))
            except Exception as exc:
                errors[f"{type(exc).__name__}: {str(exc)[:160]}"] += 1
                out[kind][cell].append(Row(seed, index, False, None, {}, 0, 0, "error", None))
            finished[0] += 1
            if finished[0] % max(1, total // 20) == 0:
                print(f"  {finished[0]}/{total} fusions, {time.perf_counter() - started:.0f} s", flush=True)

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    for text, count in errors.items():
        print(f"  {count} fusions failed: {text}")
    return {k: dict(v) for k, v in out.items()}


async def main_calibrated(args: Any) -> None:
    """Run the default on the first ``--labelled`` items, calibrate on them (labels), run the rest
    calibrated (and, with ``--history``, all items learning from history), and compare with the static
    policies of a saved default run (``--load``) on the same items."""
    seeds = list(range(1, args.seeds + 1))
    base: dict[Cell, list[Row]] = {}
    for path in args.load.split(","):
        base.update(load(Path(path)))
    cells = [c for c in base if (args.pools is None or c.pool in args.pools)]
    cells = [c for c in cells if args.structures is None or c.structure in args.structures]
    results: dict[str, dict[Cell, list[Row]]] = {}
    chosen: dict[Cell, list[str]] = defaultdict(list)
    if args.reuse:
        for kind in ("labelled", "calibrated", "history"):
            path = Path(f"{args.reuse}.{kind}.json")
            if path.is_file():
                results[kind] = {c: rows for c, rows in load(path).items() if c in cells}
        for cell in results.get("labelled", {}):
            for seed in seeds:
                train = [r for r in results["labelled"][cell] if r.seed == seed]
                cal = calibration_for(train, "judge")
                chosen[cell].append(CalibrationEntry.model_validate(cal["entries"][0]).chosen_rule()[0])
    else:
        results = await _run_calibrated(args, cells, seeds, chosen)
    _report_calibrated(args, base, cells, seeds, results, chosen)


def _labels_saw(rows: list[Row], policy: str, seeds: list[int]) -> str:
    """Per seed, the labelled items' paired record of ``policy`` against the default (``+w/-l``)."""
    if policy == "weighted" or not rows:
        return "(the default)"
    out: list[str] = []
    for seed in seeds:
        wins = losses = 0
        for r in (r for r in rows if r.seed == seed):
            if policy == "judge":
                other = bool(r.judge_pick)
            else:
                other = majority_policy(r, item(r.seed, r.item).gold, r.keys)
            wins += other and not r.fused
            losses += r.fused and not other
        out.append(f"{policy} +{wins}/-{losses}")
    return ", ".join(out)


async def _run_calibrated(
    args: Any, cells: list[Cell], seeds: list[int], chosen: dict[Cell, list[str]]
) -> dict[str, dict[Cell, list[Row]]]:
    """Run the labelled items, calibrate per cell and seed, run the rest calibrated (and history)."""
    labelled = args.labelled
    server = SimServer(server_models(seeds))
    results: dict[str, dict[Cell, list[Row]]] = {}
    with server as url:
        http = httpx.AsyncClient(transport=ShardedTransport(128), timeout=httpx.Timeout(120.0))
        try:
            work: list[tuple[str, Cell, int, int]] = []
            fusions: dict[tuple[str, Cell, int], Fusion] = {}
            if not args.history_only:  # the labelled items, decided by the default at this commit
                for cell in cells:
                    for seed in seeds:
                        fusions[("labelled", cell, seed)] = Fusion(build(cell, seed, url, http))
                        work += [("labelled", cell, seed, i) for i in range(labelled)]
                print(f"{len(work)} labelled fusions ({len(cells)} cells x {len(seeds)} seeds)", flush=True)
                results.update(await _run_work(work, fusions, args.concurrency))
            work, fusions = [], {}
            for cell in cells:
                for seed in seeds:
                    if not args.history_only:
                        train = [r for r in results["labelled"][cell] if r.seed == seed]
                        cal = calibration_for(train, "judge")
                        name, _ = CalibrationEntry.model_validate(cal["entries"][0]).chosen_rule()
                        chosen[cell].append(name)
                        fusions[("calibrated", cell, seed)] = Fusion(
                            build(cell, seed, url, http, calibration=cal)
                        )
                        work += [("calibrated", cell, seed, i) for i in range(labelled, args.items)]
                    if args.history or args.history_only:
                        fusions[("history", cell, seed)] = Fusion(
                            build(cell, seed, url, http, learn_reliability=True)
                        )
                        work += [("history", cell, seed, i) for i in range(args.items)]
            print(f"{len(work)} fusions ({len(cells)} cells x {len(seeds)} seeds)", flush=True)
            results.update(await _run_work(work, fusions, args.concurrency))
        finally:
            await http.aclose()
    if args.save:
        for kind, by_cell in results.items():
            save(Path(f"{args.save}.{kind}.json"), by_cell)
    return results


def _report_calibrated(
    args: Any,
    base: dict[Cell, list[Row]],
    cells: list[Cell],
    seeds: list[int],
    results: dict[str, dict[Cell, list[Row]]],
    chosen: dict[Cell, list[str]],
) -> None:
    """The calibrated and history rows against the static policies of the saved default run."""
    labelled = args.labelled
    history = args.history or args.history_only
    print(
        f"\nCalibrated from the first {labelled} items of each seed (labels), measured on items "
        f"{labelled}–{args.items - 1} x {len(seeds)} seeds; static policies on the same items from the "
        "saved default run (majority: recomputed from the recorded answers as the library read them in "
        "this run). SIMULATED."
    )
    print(
        f"{'pool':<14} {'structure':<12} {'judge':<14} {'weighted':>8} {'judge':>6} {'majority':>8} "
        f"{'member':>6} {'calib':>6} {'Δ best static, 95% CI':>24}{'  hist Δ':>9}    "
        f"{'rules labels chose (per seed)':<32} labels: best static vs default (per seed)"
    )
    misses = promise_misses = 0
    for cell in cells:
        test = [r for r in base[cell] if labelled <= r.item < args.items and r.seed in seeds]
        test.sort(key=lambda r: (r.seed, r.item))
        gold = {(r.seed, r.item): item(r.seed, r.item).gold for r in test}
        # The library's reading of each answer, from this run's rows of the same items (the saved
        # default run predates Row.keys): the majority it can see.
        seen = {
            (r.seed, r.item): r.keys
            for kind in ("calibrated", "history")
            for r in results.get(kind, {}).get(cell, [])
            if r.keys is not None
        }
        static = {
            "weighted": np.array([r.fused for r in test]),
            "judge": np.array([bool(r.judge_pick) for r in test]),
            "majority": np.array(
                [majority_policy(r, gold[(r.seed, r.item)], seen.get((r.seed, r.item))) for r in test]
            ),
        }
        weighted, judge, majority = (float(v.mean()) for v in static.values())
        best_static = max(static, key=lambda k: static[k].mean())
        cal_by = {(r.seed, r.item): r.fused for r in results.get("calibrated", {}).get(cell, [])}
        names = sorted({n for r in test for n in r.members})
        if any(n.endswith("#1") for n in names):  # samples: one model, its first sample is "alone"
            names = [n for n in names if n.endswith("#1")]
        member = max(float(np.mean([r.members.get(n, False) for r in test])) for n in names)
        interval = ""
        if cal_by:
            calibrated = np.array([cal_by.get((r.seed, r.item), False) for r in test])
            cal = float(calibrated.mean())
            _, low, high = paired_bootstrap(calibrated, static[best_static])
            interval = f"[{low:+.3f}, {high:+.3f}]"
        else:
            cal = float("nan")
        best = max(weighted, judge, majority)
        misses += cal < best - 0.01
        promise_misses += cal < max(member, judge) - TARGET
        hist = ""
        if history:
            h = results["history"][cell]
            last = {(r.seed, r.item): r.fused for r in h if r.item >= args.items // 2}
            ref = {(r.seed, r.item): r.fused for r in base[cell] if r.item >= args.items // 2}
            hist = f"{np.mean(list(last.values())) - np.mean([ref[k] for k in last]):+9.3f}"
        flag = " ✗" if cal < best - 0.01 else "  "
        saw = _labels_saw(results.get("labelled", {}).get(cell, []), best_static, seeds)
        print(
            f"{cell.pool:<14} {cell.structure:<12} {cell.judge:<14} {weighted:8.3f} {judge:6.3f} "
            f"{majority:8.3f} {member:6.3f} {cal:6.3f} {cal - best:+7.3f} {interval:>16}{hist}{flag}  "
            f"{', '.join(chosen.get(cell, [])):<32} {saw}"
        )
    if not args.history_only:
        print(f"\ncalibrated ≥ best static policy − 1 point in {len(cells) - misses} of {len(cells)} cells")
        print(
            f"calibrated ≥ max(best member alone, the judge's picks) − {TARGET * 100:.0f} points in "
            f"{len(cells) - promise_misses} of {len(cells)} cells (member: the best member alone; for "
            "samples, its first sample)"
        )
        print(
            "Δ best static: calibrated − the best static policy on the same items, paired bootstrap interval"
        )
        print(
            "labels: on each seed's labelled items, where the best static policy (best on the test items) "
            "was right and the default wrong / the reverse: the evidence any rule chosen from the labels had"
        )
        if results.get("calibrated"):
            calls = [r.judge_calls for rows in results.get("calibrated", {}).values() for r in rows]
            print(f"judge calls per item, calibrated: {np.mean(calls):.2f}")
    if history:
        print(
            f"hist Δ: learning from history (no labels), accuracy on items "
            f"{args.items // 2}–{args.items - 1} minus the default's on the same items"
        )
