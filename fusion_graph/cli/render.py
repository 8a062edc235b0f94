"""Rich views for the ``fusion`` CLI: the live per-member progress table and the final report.

Private: the layout may change between releases. Every piece of model or error text goes through
:class:`rich.text.Text`, never through console markup, so that brackets in answers (``[answer_1]``,
``pool[0].model``) are printed as they are.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from rich import box
from rich.console import Console, ConsoleOptions, Group, RenderableType, RenderResult
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from fusion_graph.cli._explain import decision_in_words
from fusion_graph.result import Candidate, FusionResult
from fusion_graph.usage import Usage
from fusion_graph.verdicts import Analysis, BestOfVerdict

__all__ = ["ProgressView", "render_result"]

_STATUS_STYLE = {
    "waiting": "dim",
    "started": "yellow",
    "answered": "green",
    "failed": "bold red",
    "judging": "yellow",
    "decided": "green",
}


def preview(text: str, width: int = 60) -> str:
    """One line of at most ``width`` characters."""
    line = " ".join(text.split())
    return line if len(line) <= width else line[: width - 1] + "…"


def money(cost: float) -> str:
    """US dollars, with enough digits for per-call costs."""
    return f"${cost:.6f}" if cost < 0.01 else f"${cost:.4f}"


@dataclass
class _Column:
    """One column of a table that must fit the terminal: its cells, and how soon it is dropped."""

    header: str
    cells: list[Text]
    drop: int = 0
    """0: always shown; otherwise, when the table is too wide, the highest is dropped first."""
    justify: Literal["left", "right"] = "left"

    @property
    def width(self) -> int:
        return max([len(self.header), *(cell.cell_len for cell in self.cells)])


_FLEXIBLE_MIN = 16
"""The narrowest the free-text column (a preview, the last event) is worth showing."""


def _fit_table(
    title: str, columns: list[_Column], flexible: tuple[str, list[str], list[str]], width: int
) -> Table:
    """A table of ``columns`` (and a last, free-text column) no wider than ``width``.

    Rather than cutting every column short (``ro… stat… late…``), the columns with the highest
    ``drop`` go first, until the rest fit whole beside at least :data:`_FLEXIBLE_MIN` characters of the
    free-text column, which then takes what is left. Columns with ``drop == 0`` (the member's name,
    its status) are never dropped nor cut; if they alone are too wide, the free-text column goes.

    Args:
        title: The table's title.
        columns: The fixed columns, in display order.
        flexible: ``(header, texts, styles)`` of the free-text column, one text per row.
        width: The console's width.
    """
    shown = list(columns)

    def needed(cols: list[_Column], extra: int) -> int:
        # SIMPLE_HEAD: one space of padding each side of a cell, one between columns, one at each edge
        widths = [c.width for c in cols] + ([extra] if extra else [])
        return sum(widths) + 3 * len(widths) + 1

    header, texts, styles = flexible
    while needed(shown, _FLEXIBLE_MIN) > width and any(c.drop for c in shown):
        shown.remove(max((c for c in shown if c.drop), key=lambda c: c.drop))
    left = width - needed(shown, 0) - 3
    table = Table(title=title, title_justify="left", box=box.SIMPLE_HEAD)
    for column in shown:
        table.add_column(column.header, no_wrap=True, justify=column.justify, min_width=column.width)
    with_text = left >= _FLEXIBLE_MIN
    if with_text:
        table.add_column(header, no_wrap=True, overflow="ellipsis", max_width=left)
    rows = len(columns[0].cells) if columns else 0
    for i in range(rows):
        cells: list[RenderableType] = [column.cells[i] for column in shown]
        if with_text:
            cells.append(Text(preview(texts[i], left), style=styles[i]))
        table.add_row(*cells)
    return table


@dataclass
class _Row:
    status: str = "waiting"
    round: int | None = None
    latency_s: float | None = None
    input_tokens: int = 0
    output_tokens: int = 0
    detail: str = ""

    def tokens(self) -> str:
        """``input/output`` tokens, or nothing before any."""
        return f"{self.input_tokens}/{self.output_tokens}" if self.input_tokens or self.output_tokens else ""


class ProgressView:
    """Per-member progress, updated from the ``custom`` stream events of :mod:`fusion_graph.events`.

    Render it inside :class:`rich.live.Live`: it is re-rendered on every refresh.
    """

    def __init__(self, members: list[str], judge: str) -> None:
        """Start with every member waiting."""
        self.rows: dict[str, _Row] = {name: _Row() for name in members}
        self.judge = judge
        self.judge_status = "waiting"
        self.judge_detail = ""
        self.rounds: list[str] = []

    def handle(self, event: Mapping[str, Any]) -> None:
        """Apply one event (unknown event types are ignored)."""
        kind = event.get("type")
        if kind in ("member_started", "member_finished", "member_failed"):
            row = self.rows.setdefault(str(event["member"]), _Row())
            row.round = int(event["round"])
            if kind == "member_started":
                row.status, row.detail, row.latency_s = "started", "", None
            elif kind == "member_finished":
                row.status = "answered"
                row.latency_s = float(event["latency_s"])
                row.input_tokens += int(event["input_tokens"])
                row.output_tokens += int(event["output_tokens"])
                row.detail = preview(str(event.get("preview", "")), 100)
            else:
                row.status = "failed"
                row.detail = preview(f"{event['kind']}: {event['error']}", 100)
        elif kind == "round_finished":
            agreement = event.get("agreement")
            text = f"round {event['round']}: {len(event['answered'])} answered, {len(event['failed'])} failed"
            if agreement is not None:
                text += f", agreement {agreement:.2f}"
            if event.get("converged"):
                text += ", converged"
            self.rounds.append(text)
        elif kind == "judge_started":
            self.judge_status = "judging"
            self.judge_detail = f"{event['candidates']} candidates"
        elif kind == "verdict":
            self.judge_status = "decided"
            winner = event.get("winner")
            self.judge_detail = str(event["decided_by"]) + (f" → {winner}" if winner else "")

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        """The progress table, fitted to the width.

        Member names stay whole; the least useful columns go first (round, then tokens, then
        latency), and the last event gets what is left.
        """
        rows = list(self.rows.items())
        judge_line = " · ".join(part for part in (self.judge, self.judge_detail) if part)
        rounds = {row.round for _, row in rows if row.round is not None}
        columns = [
            _Column("member", [Text(name) for name, _ in rows] + [Text("judge", style="bold")]),
            _Column(
                "status",
                [Text(row.status, style=_STATUS_STYLE.get(row.status, "")) for _, row in rows]
                + [Text(self.judge_status, style=_STATUS_STYLE.get(self.judge_status, ""))],
            ),
            _Column(
                "round",
                [Text("" if row.round is None else str(row.round)) for _, row in rows] + [Text("")],
                drop=3 if len(rounds) > 1 else 4,
                justify="right",
            ),
            _Column(
                "latency",
                [Text("" if row.latency_s is None else f"{row.latency_s:.2f}s") for _, row in rows]
                + [Text("")],
                drop=1,
                justify="right",
            ),
            _Column(
                "tokens",
                [Text(row.tokens()) for _, row in rows] + [Text("")],
                drop=2,
                justify="right",
            ),
        ]
        texts = [row.detail for _, row in rows] + [judge_line]
        table = _fit_table("progress", columns, ("last", texts, [""] * len(texts)), options.max_width)
        if rows:
            table.rows[len(rows) - 1].end_section = True
        yield table
        yield from (Text(line, style="dim") for line in self.rounds)


def _candidate_status(candidate: Candidate) -> Text:
    if candidate.ok:
        return Text("ok (cut off)", style="yellow") if candidate.truncated else Text("ok", style="green")
    return Text("failed", style="bold red")


def _candidates_table(result: FusionResult, width: int) -> Table:
    """Candidates, one line each, fitted to the width.

    Member names stay whole; the least useful columns go first (round when there is only one, cost
    when nothing was paid, then cost, latency, tokens, label), and the preview gets what is left.
    """
    last_round = max((c.round for c in result.candidates), default=0)
    candidates = result.candidates
    members: list[Text] = []
    labels: list[Text] = []
    for candidate in candidates:
        is_winner = candidate.member == result.winner and candidate.round == last_round
        mark = "★ " if is_winner else ""
        members.append(Text(mark + candidate.member, style="bold" if is_winner else ""))
        labels.append(Text(result.labels.get(candidate.member, "") if candidate.round == last_round else ""))
    paid = any(c.usage.cost_usd for c in candidates)
    columns = [
        _Column("member", members),
        _Column("label", labels, drop=2),
        _Column(
            "round", [Text(str(c.round)) for c in candidates], drop=7 if last_round else 8, justify="right"
        ),
        _Column("status", [_candidate_status(c) for c in candidates]),
        _Column("latency", [Text(f"{c.latency_s:.2f}s") for c in candidates], drop=4, justify="right"),
        _Column(
            "tokens",
            [Text(f"{c.usage.input_tokens}/{c.usage.output_tokens}") for c in candidates],
            drop=3,
            justify="right",
        ),
        _Column(
            "cost",
            [Text(money(c.usage.cost_usd)) for c in candidates],
            drop=5 if paid else 6,
            justify="right",
        ),
    ]
    texts = [c.text if c.ok else f"{c.error_kind}: {c.error}" for c in candidates]
    styles = ["" if c.ok else "red" for c in candidates]
    return _fit_table("candidates", columns, ("preview", texts, styles), width)


def _verdict_view(result: FusionResult) -> RenderableType:
    verdict = result.verdict
    members = {label: member for member, label in result.labels.items()}
    parts: list[RenderableType] = []
    if isinstance(verdict, BestOfVerdict):
        winner = members.get(verdict.winner, "?")
        parts.append(Text.assemble(("winner: ", "bold"), f"{verdict.winner} ({winner})"))
        scores = Table(show_header=True, box=None, pad_edge=False)
        scores.add_column("label")
        scores.add_column("member")
        scores.add_column("score", justify="right")
        scores.add_column("reason", overflow="fold")
        for score in verdict.scores:
            scores.add_row(
                score.label, Text(members.get(score.label, "?")), f"{score.score:g}", Text(score.reason)
            )
        parts.append(scores)
        parts.append(Text.assemble(("rationale: ", "bold"), verdict.rationale))
    if isinstance(verdict, Analysis):
        for title, items in (
            ("consensus", verdict.consensus),
            ("contradictions", verdict.contradictions),
            ("unique insights", verdict.unique_insights),
            ("blind spots", verdict.blind_spots),
        ):
            parts.append(Text(f"{title}:", style="bold"))
            if items:
                parts.extend(Text(f"  • {item}") for item in items)
            else:
                parts.append(Text("  (none)", style="dim"))
    if verdict is None:
        parts.append(Text("no judge verdict", style="dim"))
    parts.extend(_evidence_lines(result))
    facts = [f"decided by: {result.decided_by}"]
    if result.winner:
        facts.append(f"winner: {result.winner}")
    if result.mode == "debate":
        facts.append(f"debate rounds: {result.rounds}")
        facts.append("converged" if result.converged else "not converged")
        if result.agreement is not None:
            facts.append(f"agreement: {result.agreement:.2f}")
    if result.judge_in_pool:
        facts.append(f"judge is also member {result.judge_in_pool}")
    if result.escalated is not None:
        facts.append("scouts disagreed: the pool answered" if result.escalated else "scouts agreed")
    parts.append(Text(" · ".join(facts), style="cyan"))
    return Panel(Group(*parts), title=f"verdict ({result.mode})", title_align="left")


def _evidence_lines(result: FusionResult) -> list[RenderableType]:
    """The agreement, the minority report and any verdict issue, one line each."""
    lines: list[RenderableType] = []
    if result.agreement_summary:
        lines.append(Text.assemble(("final answers: ", "bold"), result.agreement_summary))
    if result.minority:
        dissent = "; ".join(f"{d.member} → {d.answer}" for d in result.minority)
        lines.append(Text.assemble(("minority report: ", "bold"), dissent))
    if result.dissent:
        lines.append(Text.assemble(("dissent: ", "bold yellow"), result.dissent))
    if result.swap:
        lines.append(Text.assemble(("order swap: ", "bold"), result.swap))
    lines.extend(Text.assemble(("verdict issue: ", "bold red"), issue) for issue in result.verdict_issues)
    if result.decision is not None:
        why = f"{result.decision.why} (weights: {result.decision.source})"
        lines.append(Text.assemble(("decision: ", "bold"), why))
    return lines


def _usage_table(result: FusionResult) -> Table:
    table = Table(title="usage", title_justify="left", box=box.SIMPLE_HEAD)
    table.add_column("who")
    table.add_column("calls", justify="right")
    table.add_column("input", justify="right")
    table.add_column("output", justify="right")
    table.add_column("cost", justify="right")

    def row(who: Text, usage: Usage, style: str = "") -> None:
        table.add_row(
            who,
            str(usage.calls),
            str(usage.input_tokens),
            str(usage.output_tokens),
            money(usage.cost_usd),
            style=style,
        )

    for member, usage in result.usage.members.items():
        row(Text(member), usage)
    for index, call in enumerate(result.judge_calls):
        who = Text(f"judge {call.judge}")
        if call.error:
            who.append(" (failed)", style="red")
        usage = result.usage.judge[index] if index < len(result.usage.judge) else call.usage
        row(who, usage)
    table.add_section()
    row(Text("total"), result.usage.total, style="bold")
    return table


def render_result(console: Console, result: FusionResult, *, note: str | None = None) -> None:
    """Print the final side-by-side view of a fusion.

    Args:
        console: Where to print.
        result: The finished fusion.
        note: An extra line printed first (e.g. that the result was read from the database).
    """
    if note:
        console.print(Text(note, style="dim"))
    console.print(_candidates_table(result, console.width))
    console.print(_verdict_view(result))
    console.print(Text(decision_in_words(result), style="bold cyan"))
    console.print(Panel(Text(result.answer), title="answer", title_align="left", border_style="green"))
    console.print(_usage_table(result))
