"""Summaries of eval records: a table (accuracy, tokens, cost, p50 latency) and a PNG plot."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.console import Console

__all__ = ["Summary", "plot", "print_table", "summarize"]

_PLOT_INSTALL = "pip install 'fusion-graph[eval]'"


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
    """

    config: str
    items: int
    correct: int
    tokens: int
    cost_usd: float
    p50_latency_s: float
    errors: int

    @property
    def accuracy(self) -> float:
        """Correct ÷ items."""
        return self.correct / self.items if self.items else 0.0


def summarize(records: Sequence[dict[str, Any]], order: Sequence[str] = ()) -> list[Summary]:
    """One summary per configuration, in ``order`` first, then in order of appearance."""
    labels = list(dict.fromkeys([*order, *(r["config"] for r in records)]))
    out = []
    for label in labels:
        rows = [r for r in records if r["config"] == label]
        if not rows:
            continue
        out.append(Summary(
            config=label,
            items=len(rows),
            correct=sum(bool(r["correct"]) for r in rows),
            tokens=sum(int(r["input_tokens"]) + int(r["output_tokens"]) for r in rows),
            cost_usd=sum(float(r["cost_usd"]) for r in rows),
            p50_latency_s=statistics.median(float(r["latency_s"]) for r in rows),
            errors=sum(r.get("error") is not None for r in rows),
        ))
    return out


def print_table(console: Console, summaries: Sequence[Summary], title: str = "") -> None:
    """Print the summaries as a table."""
    from rich.table import Table

    table = Table(title=title or None, title_justify="left")
    for column, justify in (("configuration", "left"), ("accuracy", "right"), ("correct", "right"),
                            ("tokens", "right"), ("USD", "right"), ("p50 s", "right"),
                            ("errors", "right")):
        table.add_column(column, justify=justify, no_wrap=True)  # type: ignore[arg-type]
    for s in summaries:
        table.add_row(s.config, f"{s.accuracy:.0%}", f"{s.correct}/{s.items}", f"{s.tokens:,}",
                      f"{s.cost_usd:.4f}", f"{s.p50_latency_s:.2f}", str(s.errors))
    console.print(table)


def plot(summaries: Sequence[Summary], path: Path, name: str = "") -> Path:
    """Write a PNG of accuracy against cost per item (tokens per item when every cost is zero).

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
    except ImportError as exc:
        from fusion_graph.errors import ConfigError

        raise ConfigError("plot", "matplotlib is not installed", _PLOT_INSTALL) from exc
    priced = any(s.cost_usd > 0 for s in summaries)
    xs = [(s.cost_usd if priced else s.tokens) / max(1, s.items) for s in summaries]
    ys = [100 * s.accuracy for s in summaries]
    fig, ax = plt.subplots(figsize=(7, 4.5), dpi=120)
    for i, (s, x, y) in enumerate(zip(summaries, xs, ys, strict=True)):
        fusion = s.config.startswith("fusion:")
        ax.scatter([x], [y], s=70, marker="o" if fusion else "s", color="tab:blue" if fusion else "tab:gray",
                   zorder=3)
        # Alternate labels above and below, so that points close together stay readable.
        ax.annotate(s.config, (x, y), textcoords="offset points", xytext=(6, 7 if i % 2 == 0 else -15),
                    fontsize=9)
    ax.set_xlabel("cost per item (USD)" if priced else "tokens per item (no prices set)")
    ax.set_ylabel("accuracy (%)")
    ax.set_ylim(-12, 108)
    ax.grid(True, alpha=0.3)
    n = max((s.items for s in summaries), default=0)
    prefix = f"{name}: " if name else ""
    ax.set_title(f"{prefix}accuracy vs {'cost' if priced else 'tokens'} per item ({n} items)")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path
