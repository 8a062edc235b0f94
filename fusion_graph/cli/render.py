"""Rich views for the ``fusion`` CLI: the live per-member progress table and the final report.

Private: the layout may change between releases. Every piece of model or error text goes through
:class:`rich.text.Text`, never through console markup, so that brackets in answers (``[answer_1]``,
``pool[0].model``) are printed as they are.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

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
class _Row:
    status: str = "waiting"
    round: int | None = None
    latency_s: float | None = None
    input_tokens: int = 0
    output_tokens: int = 0
    detail: str = ""


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
        """The progress table, its last column cut to fit the width."""
        name_width = max([6, *(len(name) for name in self.rows)])
        tokens_width = max([6, *(len(f"{r.input_tokens}/{r.output_tokens}") for r in self.rows.values())])
        # member, status (8), round (5), latency (7), tokens: 3 cells of padding each, plus the edge.
        last_width = max(12, options.max_width - (name_width + 8 + 5 + 7 + tokens_width + 5 * 3 + 4))
        table = Table(title="progress", title_justify="left", box=box.SIMPLE_HEAD)
        table.add_column("member", no_wrap=True)
        table.add_column("status", no_wrap=True)
        table.add_column("round", justify="right", no_wrap=True)
        table.add_column("latency", justify="right", no_wrap=True)
        table.add_column("tokens", justify="right", no_wrap=True)
        table.add_column("last", overflow="ellipsis", no_wrap=True, max_width=last_width)
        for name, row in self.rows.items():
            table.add_row(
                Text(name),
                Text(row.status, style=_STATUS_STYLE.get(row.status, "")),
                "" if row.round is None else str(row.round),
                "" if row.latency_s is None else f"{row.latency_s:.2f}s",
                f"{row.input_tokens}/{row.output_tokens}" if row.input_tokens or row.output_tokens else "",
                Text(row.detail),
            )
        table.add_section()
        table.add_row(
            Text("judge", style="bold"),
            Text(self.judge_status, style=_STATUS_STYLE.get(self.judge_status, "")),
            "",
            "",
            "",
            Text(" · ".join(part for part in (self.judge, self.judge_detail) if part)),
        )
        yield table
        yield from (Text(line, style="dim") for line in self.rounds)


def _candidate_status(candidate: Candidate) -> Text:
    if candidate.ok:
        return Text("ok (cut off)", style="yellow") if candidate.truncated else Text("ok", style="green")
    return Text("failed", style="bold red")


def _candidates_table(result: FusionResult, width: int) -> Table:
    """Candidates, one line each: the preview gets whatever width the other columns leave."""
    last_round = max((c.round for c in result.candidates), default=0)
    headers = ("member", "label", "round", "status", "latency", "tokens", "cost")
    rows: list[tuple[list[Text], str, bool]] = []
    for candidate in result.candidates:
        is_winner = candidate.member == result.winner and candidate.round == last_round
        label = result.labels.get(candidate.member, "") if candidate.round == last_round else ""
        cells = [
            Text(("★ " if is_winner else "") + candidate.member, style="bold" if is_winner else ""),
            Text(label),
            Text(str(candidate.round)),
            _candidate_status(candidate),
            Text(f"{candidate.latency_s:.2f}s"),
            Text(f"{candidate.usage.input_tokens}/{candidate.usage.output_tokens}"),
            Text(money(candidate.usage.cost_usd)),
        ]
        rows.append(
            (
                cells,
                candidate.text if candidate.ok else f"{candidate.error_kind}: {candidate.error}",
                candidate.ok,
            )
        )
    fixed = sum(
        max([len(header), *(row[0][i].cell_len for row in rows)]) + 3 for i, header in enumerate(headers)
    )
    preview_width = max(12, width - fixed - 3)
    table = Table(title="candidates", title_justify="left", box=box.SIMPLE_HEAD)
    for header in headers:
        table.add_column(
            header, no_wrap=True, justify="left" if header in ("member", "label", "status") else "right"
        )
    table.add_column("preview", overflow="ellipsis", no_wrap=True)
    for cells, text, ok in rows:
        table.add_row(*cells, Text(preview(text, preview_width), style="" if ok else "red"))
    return table


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
