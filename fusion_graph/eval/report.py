"""Summaries of eval records: a table (accuracy with its 95% interval, tokens, cost, seconds) and a PNG."""

from __future__ import annotations

import itertools
import math
import statistics
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.console import Console

__all__ = ["Summary", "plot", "print_table", "summarize", "wilson"]

_PLOT_INSTALL = "pip install 'fusion-graph[eval]'"


def wilson(correct: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """The Wilson score interval of a proportion (95% for the default ``z``).

    Unlike the normal approximation it stays inside [0, 1] and is not empty at 0 or ``n`` successes,
    which matters for the small item counts of local runs.

    Args:
        correct: Successes.
        n: Trials.
        z: The normal quantile (1.96: 95%).

    Returns:
        ``(low, high)`` as fractions; ``(0.0, 1.0)`` when ``n`` is 0.

    Example:
        >>> [round(x, 3) for x in wilson(8, 10)]
        [0.49, 0.943]
    """
    if n <= 0:
        return 0.0, 1.0
    p = correct / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


@dataclass(frozen=True)
class Summary:
    """One configuration's results.

    Attributes:
        config: ``member:NAME`` or ``fusion:MODE``.
        items: How many items were scored.
        correct: How many were right.
        tokens: Input plus output tokens, all items.
        cost_usd: US dollars, all items.
        p50_latency_s: The median seconds per item.
        errors: Items where the run failed.
        latency_s: Seconds, all items.
    """

    config: str
    items: int
    correct: int
    tokens: int
    cost_usd: float
    p50_latency_s: float
    errors: int
    latency_s: float = 0.0

    @property
    def accuracy(self) -> float:
        """Correct ÷ items."""
        return self.correct / self.items if self.items else 0.0

    @property
    def interval(self) -> tuple[float, float]:
        """The accuracy's 95% Wilson interval (:func:`wilson`)."""
        return wilson(self.correct, self.items)

    @property
    def tokens_per_item(self) -> float:
        """Input plus output tokens per item."""
        return self.tokens / self.items if self.items else 0.0

    @property
    def cost_per_item(self) -> float:
        """US dollars per item."""
        return self.cost_usd / self.items if self.items else 0.0

    @property
    def seconds_per_item(self) -> float:
        """Mean seconds per item."""
        return self.latency_s / self.items if self.items else 0.0


def summarize(records: Sequence[dict[str, Any]], order: Sequence[str] = ()) -> list[Summary]:
    """One summary per configuration, in ``order`` first, then in order of appearance."""
    labels = list(dict.fromkeys([*order, *(r["config"] for r in records)]))
    out = []
    for label in labels:
        rows = [r for r in records if r["config"] == label]
        if not rows:
            continue
        out.append(
            Summary(
                config=label,
                items=len(rows),
                correct=sum(bool(r["correct"]) for r in rows),
                tokens=sum(int(r["input_tokens"]) + int(r["output_tokens"]) for r in rows),
                cost_usd=sum(float(r["cost_usd"]) for r in rows),
                p50_latency_s=statistics.median(float(r["latency_s"]) for r in rows),
                errors=sum(r.get("error") is not None for r in rows),
                latency_s=sum(float(r["latency_s"]) for r in rows),
            )
        )
    return out


def print_table(console: Console, summaries: Sequence[Summary], title: str = "") -> None:
    """Print the summaries as a table: accuracy with its 95% Wilson interval, per-item cost and time."""
    from rich.table import Table

    table = Table(title=title or None, title_justify="left")
    for column, justify in (
        ("configuration", "left"),
        ("accuracy", "right"),
        ("95% CI", "right"),
        ("correct", "right"),
        ("tokens/item", "right"),
        ("USD/item", "right"),
        ("s/item", "right"),
        ("p50 s", "right"),
        ("errors", "right"),
    ):
        table.add_column(column, justify=justify, no_wrap=True)  # type: ignore[arg-type]
    for s in summaries:
        low, high = s.interval
        table.add_row(
            s.config,
            f"{s.accuracy:.0%}",
            f"{low:.0%}–{high:.0%}",
            f"{s.correct}/{s.items}",
            f"{s.tokens_per_item:,.0f}",
            f"{s.cost_per_item:.5f}",
            f"{s.seconds_per_item:.1f}",
            f"{s.p50_latency_s:.2f}",
            str(s.errors),
        )
    console.print(table)


def _label_steps() -> Iterator[float]:
    """Offsets from a label's first line: 0, then one line down, one up, two down, two up, and so on."""
    yield 0.0
    for n in itertools.count(1):
        yield -5.5 * n
        yield 5.5 * n


def plot(summaries: Sequence[Summary], path: Path, name: str = "") -> Path:
    """Write a PNG of accuracy (95% Wilson interval as error bars) against cost or tokens per item.

    Cost per item when any configuration has a price, tokens per item otherwise.

    Args:
        summaries: From :func:`summarize`.
        path: The PNG file to write.
        name: The dataset's name, for the title.

    Returns:
        ``path``.

    Raises:
        ConfigError: matplotlib is not installed (the ``eval`` extra).
    """
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        from matplotlib.transforms import offset_copy
    except ImportError as exc:
        from fusion_graph.errors import ConfigError

        raise ConfigError("plot", "matplotlib is not installed", _PLOT_INSTALL) from exc
    priced = any(s.cost_usd > 0 for s in summaries)
    xs = [(s.cost_usd if priced else s.tokens) / max(1, s.items) for s in summaries]
    ys = [100 * s.accuracy for s in summaries]
    fig, ax = plt.subplots(figsize=(7, 4.5), dpi=120)
    span = (max(xs) - min(xs)) or 1.0
    left_of = offset_copy(ax.transData, fig=fig, x=-8, y=0, units="points")
    right_of = offset_copy(ax.transData, fig=fig, x=8, y=0, units="points")
    placed: list[tuple[float, float, bool]] = []  # (x, label y, on the left)
    for s, x, y in zip(summaries, xs, ys, strict=True):
        fusion = s.config.startswith("fusion:")
        low, high = s.interval
        ax.errorbar(
            [x],
            [y],
            yerr=[[max(0.0, y - 100 * low)], [max(0.0, 100 * high - y)]],
            fmt="o" if fusion else "s",
            markersize=8,
            capsize=4,
            color="tab:blue" if fusion else "tab:gray",
            zorder=3,
        )
        # Labels of points on the right go to their left; a label that would overlap one already
        # placed takes the nearest free line above or below its point, so that points close
        # together stay readable and each label stays near its own point.
        left = x > min(xs) + 0.6 * span
        label_y = next(
            y + 3 + step
            for step in _label_steps()
            if not any(
                abs(x - px) < 0.25 * span and abs(y + 3 + step - py) < 5.5 and side == left
                for px, py, side in placed
            )
        )
        placed.append((x, label_y, left))
        ax.text(
            x,
            label_y,
            s.config,
            transform=left_of if left else right_of,
            fontsize=9,
            ha="right" if left else "left",
            va="center",
        )
    ax.set_xlabel("cost per item (USD)" if priced else "tokens per item (no prices set)")
    ax.set_ylabel("accuracy (%), 95% Wilson interval")
    ax.set_ylim(-12, 108)
    ax.grid(True, alpha=0.3)
    counts = sorted({s.items for s in summaries})
    n = f"{counts[0]}" if len(counts) == 1 else f"{counts[0]}-{counts[-1]}"
    prefix = f"{name}: " if name else ""
    ax.set_title(f"{prefix}accuracy vs {'cost' if priced else 'tokens'} per item ({n} items)")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path
