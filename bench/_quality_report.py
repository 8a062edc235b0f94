"""The tables and the target checks of ``bench/quality.py``."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from _quality_sim import JUDGE_KINDS, MERGE_KINDS
from _quality_stats import Outcome, correct_vector, member_vectors, paired_bootstrap, wilson

MODE_ORDER = ("best-of", "best-of+swap", "debate", "vote", "merge")
WIDTH = 30


@dataclass
class Row:
    """One line of a table."""

    label: str
    acc: float
    lo: float | None
    hi: float | None
    n: int
    diff: tuple[float, float, float] | None = None
    tokens: float = 0.0
    seconds: float = 0.0
    judge_calls: float = 0.0
    extra: str = ""


def print_rows(rows: Sequence[Row], title: str) -> None:
    print(title)
    print(
        f"  {'':{WIDTH}} {'acc':>6} {'95% CI':>14} {'fused-best':>10} {'95% CI (bootstrap)':>18} "
        f"{'tokens':>7} {'s/fusion':>8} {'judge':>5}"
    )
    for r in rows:
        ci = f"[{r.lo:.3f}, {r.hi:.3f}]" if r.lo is not None and r.hi is not None else ""
        diff = f"{r.diff[0]:>+10.3f} [{r.diff[1]:+.3f}, {r.diff[2]:+.3f}]" if r.diff else f"{'':>10} {'':>17}"
        cost = f" {r.tokens:>7.0f} {r.seconds:>8.2f} {r.judge_calls:>5.2f}" if r.tokens else ""
        print(
            f"  {r.label:{WIDTH}} {r.acc:>6.3f} {ci:>14} {diff}{cost}" + (f"  ({r.extra})" if r.extra else "")
        )


class Report:
    """Tables over the outcomes of every configuration."""

    def __init__(
        self,
        results: dict[Any, list[Outcome]],
        pools: dict[str, list[tuple[str, float]]],
        scouts: list[str],
        samples: dict[str, int],
        seed: int,
    ) -> None:
        self.results = results
        self.pools = pools
        self.scouts = scouts
        self.samples = samples
        self.seed = seed

    # ------------------------------------------------------------------ building blocks

    def members(self, pool: str) -> dict[str, np.ndarray]:
        """Each member's round-0 correctness per item in ``pool`` (the same in every run)."""
        return member_vectors([outs for job, outs in self.results.items() if job.pool == pool])

    def best(self, pool: str) -> tuple[str, np.ndarray]:
        vectors = self.members(pool)
        name = max(vectors, key=lambda n: (vectors[n].mean(), n))
        return name, vectors[name]

    def summarise(self, label: str, job: Any, against: np.ndarray | None) -> Row:
        outcomes = self.results[job]
        vec = correct_vector(outcomes)
        lo, hi = wilson(int(vec.sum()), len(vec))
        row = Row(
            label,
            float(vec.mean()),
            lo,
            hi,
            len(vec),
            diff=paired_bootstrap(vec, against, seed=self.seed) if against is not None else None,
            tokens=float(np.mean([o.tokens for o in outcomes])),
            seconds=float(np.mean([o.seconds for o in outcomes])),
            judge_calls=float(np.mean([o.judge_calls for o in outcomes])),
        )
        notes = []
        if issues := sum(o.issues for o in outcomes):
            notes.append(f"{issues} verdict issues")
        if failed := sum(1 for o in outcomes if o.error):
            notes.append(f"{failed} fusions failed")
        if overridden := sum(1 for o in outcomes if o.decided_by.startswith("majority:")):
            notes.append(f"majority decided {overridden}x")
        if free := sum(1 for o in outcomes if o.decided_by.startswith("judge-free")):
            notes.append(f"judge-free {free}x")
        row.extra = ", ".join(notes)
        return row

    def member_rows(self, pool: str) -> list[Row]:
        vectors = self.members(pool)
        rows = [
            Row(f"{name} alone", float(v.mean()), *wilson(int(v.sum()), len(v)), len(v))
            for name, v in vectors.items()
        ]
        name, v = self.best(pool)
        rows.append(Row(f"best member ({name})", float(v.mean()), *wilson(int(v.sum()), len(v)), len(v)))
        rows.append(
            Row("members' average", float(np.mean([x.mean() for x in vectors.values()])), None, None, len(v))
        )
        return rows

    def pool_title(self, pool: str, what: str = "") -> str:
        accs = ", ".join(f"{n} {a:.2f}" for n, a in self.pools[pool])
        n = len(self.best(pool)[1])
        return f"\n{pool}{what}: members set to {accs}; {n} items, seed {self.seed}"

    # ------------------------------------------------------------------ tables

    def main_tables(self, main: list[Any]) -> dict[Any, Row]:
        rows: dict[Any, Row] = {}
        for pool in dict.fromkeys(job.pool for job in main):
            _, best = self.best(pool)
            print_rows(self.member_rows(pool), self.pool_title(pool))
            for kind in MERGE_KINDS:
                jobs = sorted(
                    (j for j in main if j.pool == pool and j.judge == kind),
                    key=lambda j: MODE_ORDER.index(j.row),
                )
                for job in jobs:
                    rows[job] = self.summarise(f"{kind:13} {job.row}", job, best)
                print_rows([rows[j] for j in jobs], f" judge {kind}:")
        return rows

    def cascade_table(self, cascade: list[Any]) -> list[dict[str, Any]]:
        if not cascade:
            return []
        _, best = self.best("cascade")
        print_rows(
            self.member_rows("cascade"),
            self.pool_title("cascade", f", scouts {'+'.join(self.scouts)} first (escalate='disagree')"),
        )
        out = []
        for kind in JUDGE_KINDS:
            full = next(j for j in cascade if j.judge == kind and not j.scouts)
            scout = next(j for j in cascade if j.judge == kind and j.scouts)
            rows = [self.summarise(f"{kind:13} {j.row}", j, best) for j in (full, scout)]
            saved = 1 - rows[1].tokens / rows[0].tokens
            faster = 1 - rows[1].seconds / rows[0].seconds
            vs_full = paired_bootstrap(
                correct_vector(self.results[scout]), correct_vector(self.results[full]), seed=self.seed
            )
            escalated = float(np.mean([bool(o.escalated) for o in self.results[scout]]))
            note = (
                f"escalated {escalated:.0%}, {saved:.0%} fewer tokens and {faster:.0%} less time than the "
                f"full pool, accuracy vs full {vs_full[0]:+.3f} [{vs_full[1]:+.3f}, {vs_full[2]:+.3f}]"
            )
            rows[1].extra = "; ".join(x for x in (note, rows[1].extra) if x)
            print_rows(rows, f" judge {kind}:")
            out.append({"judge": kind, "saved": saved, "diff": vs_full, "full": rows[0], "cascade": rows[1]})
        return out

    def samples_table(self, samples: list[Any]) -> None:
        if not samples:
            return
        name, accuracy = self.pools["samples"][0]
        k = self.samples[name]
        alone = self.members("samples")[f"{name}#1"]
        rows = [
            Row(
                f"{name} alone (its sample #1)",
                float(alone.mean()),
                *wilson(int(alone.sum()), len(alone)),
                len(alone),
            )
        ]
        rows += [self.summarise(f"{j.judge:13} vote, k={k}", j, alone) for j in samples]
        print_rows(
            rows,
            f"\nself-consistency: {name} (set to {accuracy:.2f}) with samples={k}, mode vote "
            f"(the judge breaks ties only); {len(alone)} items; fused - {name} alone",
        )

    def integrity_table(self, integrity: list[Any]) -> None:
        if not integrity:
            return
        _, best = self.best("pool5")
        rows = [self.summarise(f"{j.judge:13} {j.row}", j, best) for j in integrity]
        print_rows(
            rows,
            "\nverdict integrity, pool5 best-of: the same picks, but 'contradictory' scores its own "
            "winner 2 and another answer 9 in 30 % of verdicts (checked, asked again)",
        )

    def policy_table(
        self, policies: list[Any], field: str, values: Sequence[str], default: str
    ) -> dict[str, float]:
        """Accuracy of each policy value per (pool, judge, mode), and its mean over them all."""
        jobs = [j for j in policies if getattr(j, field) is not None]
        if not jobs:
            return {}
        name = f"{field}_policy"
        print(f"\n{name} (default {default!r}): accuracy per pool, judge and mode (* the highest)")
        print(f"  {'pool':6} {'judge':13} {'mode':8} " + " ".join(f"{v:>9}" for v in values))
        per_value: dict[str, list[float]] = defaultdict(list)
        for pool, kind, mode in dict.fromkeys((j.pool, j.judge, j.mode) for j in jobs):
            accs = []
            for value in values:
                job = next(
                    j
                    for j in jobs
                    if (j.pool, j.judge, j.mode, getattr(j, field)) == (pool, kind, mode, value)
                )
                accs.append(float(correct_vector(self.results[job]).mean()))
                per_value[value].append(accs[-1])
            cells = " ".join(f"{a:>8.3f}{'*' if a == max(accs) else ' '}" for a in accs)
            print(f"  {pool:6} {kind:13} {mode:8} {cells}")
        means = {v: float(np.mean(per_value[v])) for v in values}
        worst = {v: float(np.min(per_value[v])) for v in values}
        high = max(means.values())
        top = " and ".join(repr(v) for v in values if means[v] >= high - 1e-12)
        print(f"  {'mean over all rows':29} " + " ".join(f"{means[v]:>8.3f} " for v in values))
        print(
            f"  {'worst row':29} "
            + " ".join(f"{worst[v]:>8.3f} " for v in values)
            + f"  -> highest mean: {top}"
        )
        return means

    # ------------------------------------------------------------------ targets

    def targets(self, rows: dict[Any, Row], cascade: list[dict[str, Any]]) -> None:
        print(
            "\nissue 10 targets, on the point estimate of fused - best member (95 % bootstrap CI in brackets)"
        )

        def line(ok: bool, text: str) -> None:
            print(f"  [{'met' if ok else 'NOT met'}] {text}")

        def check(jobs: list[Any], bound: float, what: str) -> None:
            if not jobs:
                return
            diffs = {j: rows[j].diff or (0.0, 0.0, 0.0) for j in jobs}
            misses = [j for j in jobs if diffs[j][0] < bound - 1e-12]
            worst = min(jobs, key=lambda j: diffs[j][0])
            d = diffs[worst]
            text = (
                f"{what}: worst {worst.pool} {worst.judge} {worst.row} {d[0]:+.3f} [{d[1]:+.3f}, {d[2]:+.3f}]"
            )
            if misses:
                text += "; misses: " + ", ".join(
                    f"{j.pool} {j.judge} {j.row} {diffs[j][0]:+.3f}" for j in misses
                )
            line(not misses, text)

        check(
            [
                j
                for j in rows
                if j.judge in ("uninformative", "biased") and j.row in ("best-of", "debate", "vote")
            ],
            0.0,
            "uninformative/biased judge: best-of, debate, vote never below the best member",
        )
        check(
            [j for j in rows if j.judge in ("uninformative", "biased") and j.row == "best-of+swap"],
            0.0,
            "(also) uninformative/biased judge: best-of with judge_swap never below the best member",
        )
        check(
            [j for j in rows if j.judge == "noisy" and j.row != "merge"],
            0.05,
            "noisy-good judge: best-of, swap, debate, vote >= best member + 5 points",
        )
        check(
            [j for j in rows if j.judge == "noisy" and j.row == "merge"],
            0.05,
            "noisy-good judge: merge >= best member + 5 points",
        )
        for kind in MERGE_KINDS:
            check(
                [j for j in rows if j.judge == kind and j.row == "merge"],
                0.0,
                f"merge never below the best member (comparable answers), {kind} merge judge",
            )
        for c in cascade:
            if c["judge"] in ("uninformative", "biased"):
                d = c["full"].diff or (0.0, 0.0, 0.0)
                what = f"(also) cascade pool without scouts, {c['judge']} judge, best-of never below its best"
                line(d[0] >= 0, f"{what} member: {d[0]:+.3f} [{d[1]:+.3f}, {d[2]:+.3f}]")
        for c in cascade:
            d = c["diff"]
            line(
                c["saved"] >= 0.40 and d[0] >= -0.02,
                f"cascade, judge {c['judge']}: {c['saved']:.0%} fewer tokens (target >= 40 %) at accuracy "
                f"{d[0]:+.3f} [{d[1]:+.3f}, {d[2]:+.3f}] vs the full pool (equal: within 2 points)",
            )
