"""The graph's state: plain, serialisable dicts with reducers for keys parallel branches write."""

from __future__ import annotations

from typing import Annotated, Any, NotRequired, TypedDict

from langchain_core.messages import AnyMessage
from langgraph.graph.message import add_messages

__all__ = [
    "CandidateRecord",
    "FusionInput",
    "FusionState",
    "JudgeCallRecord",
    "MemberTask",
    "extend_or_reset",
]


def extend_or_reset(left: list[Any] | None, right: list[Any] | None) -> list[Any]:
    """Append what parallel branches write; ``None`` starts the list again (a new run on a thread)."""
    if right is None:
        return []
    return [*(left or []), *right]


class CandidateRecord(TypedDict):
    """One member's answer in one round (or its failure)."""

    member: str
    round: int
    text: str
    error: str | None
    error_kind: str | None
    latency_s: float
    input_tokens: int
    output_tokens: int
    cost_usd: float
    tool_calls: list[dict[str, Any]]
    tool_trace: list[dict[str, Any]]
    partial: bool
    """The spend is an estimate of a call cut short (a cancelled straggler or a timeout)."""
    cuts: list[str]
    """What was trimmed from this member's prompt to fit its context window."""
    truncated: NotRequired[bool]
    """The answer stopped at the member's token limit, so it may be cut short."""


class JudgeCallRecord(TypedDict):
    """One call of a judge (or a fallback), successful or not."""

    judge: str
    input_tokens: int
    output_tokens: int
    cost_usd: float
    latency_s: float
    error: str | None
    raw: str | None
    cuts: list[str]


class MemberTask(TypedDict):
    """The payload that ``Send`` carries to one member for one round."""

    member: str
    round: int
    messages: list[AnyMessage]
    own: str | None
    peers: list[str]
    round_key: str
    """Identifies the round, for the members' shared quorum, deadline and spare budget."""
    round_size: int
    skip: str | None
    """Why this member does not run this round (the budget), or ``None``."""
    spare_usd: float | None
    """Budget left for the round beyond each member's first call (``None``: no budget)."""


class FusionInput(TypedDict):
    """What a fusion takes: the conversation."""

    messages: Annotated[list[AnyMessage], add_messages]


class FusionState(TypedDict):
    """The whole state of a fusion run."""

    messages: Annotated[list[AnyMessage], add_messages]
    candidates: NotRequired[Annotated[list[CandidateRecord], extend_or_reset]]
    round: NotRequired[int]
    agreement: NotRequired[float | None]
    converged: NotRequired[bool]
    judge_calls: NotRequired[Annotated[list[JudgeCallRecord], extend_or_reset]]
    labels: NotRequired[dict[str, str]]
    mode: NotRequired[str]
    judge_in_pool: NotRequired[str | None]
    verdict: NotRequired[dict[str, Any] | None]
    decided_by: NotRequired[str]
    winner_member: NotRequired[str | None]
    answer: NotRequired[str]
    answer_tool_calls: NotRequired[list[dict[str, Any]]]
    escalated: NotRequired[bool | None]
    """With scouts: ``None`` while only the scouts have answered, then whether the pool was called."""
    evidence: NotRequired[dict[str, Any] | None]
    """What the decision used beyond the verdict: extracted answers, agreement, issues, dissent."""
