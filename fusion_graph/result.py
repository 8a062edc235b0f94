"""The outcome of a fusion, as public pydantic models."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from fusion_graph.usage import Usage, UsageReport
from fusion_graph.verdicts import BestOfVerdict, DebateVerdict, MergeVerdict

__all__ = ["Candidate", "Decision", "Dissent", "FusionResult", "JudgeCall", "ToolTraceEntry"]


class Dissent(BaseModel):
    """A candidate whose final answer differs from the fused one (the minority report)."""

    member: str
    """The candidate's name (``name#k`` for a sample)."""
    answer: str
    """Its final answer, as extracted (e.g. ``409``)."""
    label: str | None = None
    """The anonymous label the judge saw it under."""


class ToolTraceEntry(BaseModel):
    """One tool call a member made while answering."""

    name: str
    args: dict[str, Any]
    result: str
    error: bool = False


class Candidate(BaseModel):
    """One member's answer in one round, or its failure."""

    member: str
    round: int
    text: str
    error: str | None = None
    error_kind: str | None = None
    latency_s: float
    usage: Usage
    tool_calls: list[dict[str, Any]] = Field(default_factory=list)
    """Tool calls the member asked for and that were left to the caller (``FusionChatModel``)."""
    tool_trace: list[ToolTraceEntry] = Field(default_factory=list)
    """Tool calls the member made through the registry, with their results."""
    partial: bool = False
    """The usage is an estimate of a call cut short (a cancelled straggler, a timeout)."""
    cuts: list[str] = Field(default_factory=list)
    """What was trimmed from the member's prompt to fit its context window."""
    truncated: bool = False
    """The answer stopped at the member's token limit (the judge was told)."""

    @property
    def ok(self) -> bool:
        """Whether the member answered."""
        return self.error is None


class Decision(BaseModel):
    """The decision rule's inputs and outcome (``fusion_graph.graph._decision.DecisionRecord``)."""

    rule: str
    """``weighted`` (default), ``judge`` or ``majority`` (a policy that replaced the judge's weight)."""
    source: str
    """Where the weights came from: ``prior``, ``calibration`` (labels) or ``history``."""
    weights: dict[str, float]
    """Log-odds vote weight of each candidate (by name) and of ``judge``."""
    judge_pick: str | None = None
    """The candidate the judge picked (``merged answer`` in a merge), ``None`` when no judge decided."""
    judge_check: str
    """``agreed`` (the pick is the members' leading answer), ``held`` or ``flipped`` under the reversed
    order (a flipped pick weighs 0), ``unchecked``, or ``no-judge``."""
    scores: dict[str, float]
    """Each final answer's total weight."""
    winner: str
    """The winning answer, as in ``scores``."""
    judge_stood: bool
    """Whether the answer is the judge's pick."""
    why: str
    """The decision in one sentence."""


class JudgeCall(BaseModel):
    """One call of a judge or a fallback judge."""

    judge: str
    usage: Usage
    latency_s: float
    error: str | None = None
    raw: str | None = None
    cuts: list[str] = Field(default_factory=list)


class FusionResult(BaseModel):
    """What :func:`fusion_graph.fuse` returns."""

    answer: str
    """The fused answer."""
    mode: str
    candidates: list[Candidate]
    """Every member's answer, per round, with usage, latency and error."""
    verdict: DebateVerdict | BestOfVerdict | MergeVerdict | None
    """The judge's structured verdict (``None`` when no judge was needed or none could decide)."""
    decided_by: str
    """Who decided: ``judge:<name>``, ``fallback:<name>``, ``majority:<n>/<m>`` / ``plurality:<n>/<m>``
    (the answers outweighed the judge), ``labels:<member>`` (a calibration's labels chose to follow
    that member), ``vote:majority`` / ``vote:plurality`` / ``vote:tie-break`` (the ``tie_break``
    member's answer), ``scouts:agree``, ``judge-free:agreement``, ``judge-free:most-reliable``,
    ``judge-free:most-consistent`` or ``only-candidate``."""
    winner: str | None = None
    """The winning member's name (best-of and debate)."""
    labels: dict[str, str] = Field(default_factory=dict)
    """The anonymous label the judge saw for each member's candidate, revealed after the verdict."""
    judge_in_pool: str | None = None
    """The name of the pool member that is also the judge, if any."""
    rounds: int = 0
    """Debate rounds run after the first answers."""
    converged: bool = False
    """Whether the debate stopped early because the answers agreed."""
    agreement: float | None = None
    """Debate only: how far the last round's answers agree — 1.0 or 0.0 when each has a comparable
    final answer, else their lowest pairwise word similarity."""
    judge_calls: list[JudgeCall] = Field(default_factory=list)
    usage: UsageReport
    tool_calls: list[dict[str, Any]] = Field(default_factory=list)
    """Tool calls of the winning answer, when the caller's tools were bound (``FusionChatModel``)."""
    answers: dict[str, str | None] = Field(default_factory=dict)
    """Each final candidate's extracted final answer by name (``None``: nothing comparable)."""
    agreement_summary: str | None = None
    """The agreement the judge was told, e.g. ``answers 1, 3, 4 reach 400; answer 2 reaches 409``."""
    verdict_issues: list[str] = Field(default_factory=list)
    """Problems found in the verdicts (self-contradictions, a merged answer nobody gave, a failing
    ``answer_format`` callable), each prefixed by the judge that made it."""
    dissent: str | None = None
    """How the judge and a strict majority of the answers disagreed, whatever the policy decided."""
    minority: list[Dissent] = Field(default_factory=list)
    """Who dissented from the fused answer, and with what (comparable answers only)."""
    swap: str | None = None
    """With ``judge_swap``: how the two orders' verdicts combined."""
    escalated: bool | None = None
    """With scouts: whether the full pool was called (``None``: no scouts)."""
    decision: Decision | None = None
    """Why the answer is the answer: the rule, the weights, the judge's pick and what it went
    through, each answer's total weight (see docs/decisions.md)."""
    cached: bool = False
    """The result came from the fusion cache (``Fusion(cache=...)``): no model was called, and
    ``usage`` counts nothing; each candidate keeps the usage of the run that was stored."""

    def as_cached(self) -> FusionResult:
        """This result as a cache hit: ``cached`` set, ``usage`` 0 tokens and $0 (members kept by name)."""
        usage = UsageReport(members={name: Usage() for name in self.usage.members}, judge=[], total=Usage())
        return self.model_copy(update={"cached": True, "usage": usage})

    @property
    def skipped(self) -> list[str]:
        """The calls the budget did not allow, e.g. ``member beta, round 1: …``."""
        members = [
            f"member {c.member}, round {c.round}: {c.error}"
            for c in self.candidates
            if c.error_kind == "budget"
        ]
        judges = [
            f"judge {j.judge}: {j.error}" for j in self.judge_calls if (j.error or "").startswith("budget")
        ]
        return members + judges

    @property
    def cuts(self) -> list[str]:
        """Everything trimmed to fit a context window, by member and judge."""
        members = [f"member {c.member}, round {c.round}: {cut}" for c in self.candidates for cut in c.cuts]
        return members + [cut for j in self.judge_calls for cut in j.cuts]

    @classmethod
    def from_state(cls, state: dict[str, Any], mode: str, judge_in_pool: str | None) -> FusionResult:
        """Build the result from a finished graph state."""
        records = list(state.get("candidates", []))
        judge_records = list(state.get("judge_calls", []))
        candidates = [
            Candidate(
                member=r["member"],
                round=r["round"],
                text=r["text"],
                error=r["error"],
                error_kind=r["error_kind"],
                latency_s=r["latency_s"],
                usage=Usage.of_record(r),
                tool_calls=r["tool_calls"],
                tool_trace=[ToolTraceEntry(**t) for t in r["tool_trace"]],
                partial=r.get("partial", False),
                cuts=r.get("cuts", []),
                truncated=r.get("truncated", False),
            )
            for r in records
        ]
        raw_verdict = state.get("verdict")
        verdict: DebateVerdict | BestOfVerdict | MergeVerdict | None = None
        if raw_verdict is not None:
            schema: type[BestOfVerdict | MergeVerdict] = (
                MergeVerdict
                if "answer" in raw_verdict
                else DebateVerdict
                if "consensus" in raw_verdict
                else BestOfVerdict
            )
            verdict = schema.model_validate(raw_verdict)
        evidence = state.get("evidence") or {}
        labels = {member: label for label, member in state.get("labels", {}).items()}
        return cls(
            answer=state["answer"],
            mode=state.get("mode", mode),
            candidates=candidates,
            verdict=verdict,
            decided_by=state["decided_by"],
            winner=state.get("winner_member"),
            labels=labels,
            judge_in_pool=state.get("judge_in_pool", judge_in_pool),
            rounds=state.get("round", 0),
            converged=state.get("converged", False),
            agreement=state.get("agreement"),
            judge_calls=[
                JudgeCall(
                    judge=j["judge"],
                    usage=Usage.of_record(j),
                    latency_s=j["latency_s"],
                    error=j["error"],
                    raw=j["raw"],
                    cuts=j.get("cuts", []),
                )
                for j in judge_records
            ],
            usage=UsageReport.from_records(records, judge_records),  # type: ignore[arg-type]
            tool_calls=state.get("answer_tool_calls", []),
            answers=evidence.get("answers", {}),
            agreement_summary=evidence.get("agreement"),
            verdict_issues=evidence.get("verdict_issues", []),
            dissent=evidence.get("dissent"),
            minority=[Dissent(**d) for d in evidence.get("minority", [])],
            swap=evidence.get("swap"),
            escalated=state.get("escalated"),
            decision=Decision(**evidence["decision"]) if evidence.get("decision") else None,
        )
