"""Statistics of ``bench/quality.py``: Wilson intervals, paired bootstrap differences, the outcome record."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np


@dataclass
class Outcome:
    """One fusion of one item under one configuration."""

    item: int
    correct: bool
    tokens: int
    seconds: float
    members: dict[str, bool] = field(default_factory=dict)
    """Each candidate's round-0 answer: right or not (absent: it did not answer round 0)."""
    escalated: bool | None = None
    decided_by: str = ""
    judge_calls: int = 0
    failed: int = 0
    issues: int = 0
    error: str | None = None


def wilson(k: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """The Wilson score interval of a proportion ``k / n``."""
    if n == 0:
        return 0.0, 1.0
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def paired_bootstrap(
    a: np.ndarray, b: np.ndarray, *, reps: int = 2000, seed: int = 0
) -> tuple[float, float, float]:
    """Mean of ``a - b`` over paired items and its 95 % percentile bootstrap interval."""
    diff = a.astype(float) - b.astype(float)
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(diff), size=(reps, len(diff)))
    means = diff[idx].mean(axis=1)
    return float(diff.mean()), float(np.percentile(means, 2.5)), float(np.percentile(means, 97.5))


def correct_vector(outcomes: list[Outcome]) -> np.ndarray:
    """The outcomes' correctness, in item order."""
    return np.array([o.correct for o in sorted(outcomes, key=lambda o: o.item)], dtype=bool)


def member_vectors(runs: list[list[Outcome]]) -> dict[str, np.ndarray]:
    """Each member's round-0 correctness per item, from any run in which it answered round 0.

    A member's round-0 answer is the same in every configuration (a hash of seed, member, item and
    sample), so any run that called it gives it; runs are checked to agree.
    """
    seen: dict[str, dict[int, bool]] = {}
    for outcomes in runs:
        for o in outcomes:
            for name, ok in o.members.items():
                got = seen.setdefault(name, {})
                if o.item in got and got[o.item] != ok:
                    raise RuntimeError(f"{name} answered item {o.item} differently in two runs")
                got[o.item] = ok
    items = sorted({o.item for outcomes in runs for o in outcomes})
    return {
        name: np.array([by_item.get(i, False) for i in items], dtype=bool)
        for name, by_item in seen.items()
        if len(by_item) == len(items)
    }
