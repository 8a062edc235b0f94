"""The figure of ``bench/quality.py``: accuracy per mode and judge kind against the best member."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from _quality_report import MODE_ORDER, Report, Row
from _quality_sim import MERGE_KINDS
from _quality_stats import wilson

COLOURS = {
    "uninformative": "#9e9e9e",
    "biased": "#f4a259",
    "noisy": "#5b8e7d",
    "oracle": "#3d5a80",
    "weak": "#bc4b51",
}


def plot(report: Report, rows: dict[Any, Row], cascade: list[dict[str, Any]], path: Path, note: str) -> None:
    """Bars with 95 % Wilson error bars per pool, the best member as a band; the cascade as points."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    pools = list(dict.fromkeys(j.pool for j in rows))
    panels = len(pools) + (1 if cascade else 0)
    fig, axes = plt.subplots(
        1,
        panels,
        figsize=(5.6 * len(pools) + (4.2 if cascade else 0), 5.0),
        squeeze=False,
        gridspec_kw={"width_ratios": [1.35] * len(pools) + ([1.0] if cascade else [])},
    )
    for ax, pool in zip(axes[0], pools, strict=False):
        vectors = report.members(pool)
        name, best = report.best(pool)
        lo, hi = wilson(int(best.sum()), len(best))
        ax.axhspan(lo, hi, color="#e4e4e4", zorder=0)
        ax.axhline(best.mean(), color="black", lw=1.2, label=f"best member ({name}), 95% band")
        ax.axhline(
            np.mean([v.mean() for v in vectors.values()]),
            color="black",
            lw=1,
            ls=":",
            label="members' average",
        )
        modes = [m for m in MODE_ORDER if any(j.pool == pool and j.row == m for j in rows)]
        width = 0.8 / len(MERGE_KINDS)
        for k, kind in enumerate(MERGE_KINDS):
            xs, ys, lows, highs = [], [], [], []
            for x, mode in enumerate(modes):
                job = next((j for j in rows if j.pool == pool and j.judge == kind and j.row == mode), None)
                if job is not None:
                    r = rows[job]
                    xs.append(x - 0.4 + width * (k + 0.5))
                    ys.append(r.acc)
                    lows.append(r.acc - (r.lo or r.acc))
                    highs.append((r.hi or r.acc) - r.acc)
            if xs:
                ax.bar(
                    xs,
                    ys,
                    width,
                    yerr=[lows, highs],
                    capsize=2,
                    color=COLOURS[kind],
                    label=f"judge {kind}",
                    error_kw={"elinewidth": 0.8},
                )
        ax.set_xticks(range(len(modes)), modes, fontsize=8)
        ax.set_ylim(0.4, 1.02)
        ax.set_ylabel("accuracy (95% Wilson)")
        ax.set_title(f"{pool}: members " + ", ".join(f"{a:.2f}" for _, a in report.pools[pool]), fontsize=9)
        ax.legend(fontsize=6.5, loc="lower left", ncol=2)
    if cascade:
        ax = axes[0][-1]
        for c in cascade:
            colour = COLOURS[c["judge"]]
            for key, marker in (("full", "o"), ("cascade", "s")):
                r = c[key]
                ax.errorbar(
                    r.tokens,
                    r.acc,
                    yerr=[[r.acc - r.lo], [r.hi - r.acc]],
                    fmt=marker,
                    color=colour,
                    capsize=2,
                    label=f"judge {c['judge']}" if key == "full" else None,
                )
            ax.annotate(
                "",
                xy=(c["cascade"].tokens, c["cascade"].acc),
                xytext=(c["full"].tokens, c["full"].acc),
                arrowprops={"arrowstyle": "->", "color": colour, "lw": 0.8},
            )
        name, best = report.best("cascade")
        ax.axhline(best.mean(), color="black", lw=1.2, label=f"best member ({name})")
        ax.plot([], [], "o", color="black", label="full pool, best-of")
        ax.plot([], [], "s", color="black", label=f"scouts {'+'.join(report.scouts)} first")
        low = min([best.mean(), *(c[k].lo for c in cascade for k in ("full", "cascade"))])
        ax.set_xlim(0, None)
        ax.set_ylim(max(0.0, low - 0.05), 1.01)
        ax.set_xlabel("tokens per item")
        ax.set_ylabel("accuracy (95% Wilson)")
        ax.set_title(
            "scout cascade: " + ", ".join(f"{a:.2f}" for _, a in report.pools["cascade"]), fontsize=9
        )
        ax.legend(fontsize=6.5, loc="lower left")
    fig.suptitle(
        f"Fusion vs the best member: simulated pools through the real graph over HTTP ({note})", fontsize=9
    )
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    print(f"\nwrote {path}")
