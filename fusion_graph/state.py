"""The graph's state: plain, serialisable dicts with reducers for keys parallel branches write."""

from __future__ import annotations

import operator
from collections.abc import Sequence
from typing import Annotated, Any, NotRequired, TypedDict

from langchain_core.messages import AnyMessage, BaseMessage, RemoveMessage
from langchain_core.messages.utils import convert_to_messages
from langgraph.graph.message import add_messages

from fusion_graph._threads import is_fused_answer, match_turn

__all__ = [
    "CandidateRecord",
    "FusionInput",
    "FusionState",
    "JudgeCallRecord",
    "MemberTask",
    "RefusedTurn",
    "add_turn",
]


class RefusedTurn(list[AnyMessage]):
    """The thread's messages, unchanged, after input that asks something else of an unfinished turn.

    :func:`add_turn` cannot raise: LangGraph saves a run's input before applying it, and a
    reducer that raised on it would raise again on every read of the thread. It returns the
    thread's messages as this list instead, and the graph's ``start`` node raises the
    :class:`~fusion_graph.ThreadConflict`. The mark lives in memory for that one run; the
    checkpoint stores a plain list.

    Attributes:
        rejected: The input that was not appended.
    """

    rejected: list[BaseMessage]

    def __init__(self, messages: Sequence[AnyMessage], rejected: Sequence[BaseMessage]) -> None:
        super().__init__(messages)
        self.rejected = list(rejected)


def add_turn(left: Sequence[AnyMessage] | None, right: Any) -> list[AnyMessage]:
    """The ``messages`` reducer: the thread rule of :mod:`fusion_graph._threads` inside the graph.

    Input reaches the thread through this reducer before any node runs (LangGraph Server
    applies a run's input this way), so it decides as ``Fusion.plan`` does, by role, text and
    tool calls (:func:`~fusion_graph._threads.match_turn`):

    - the thread's messages re-sent followed by new ones: only the new ones are appended;
    - the same prompt on a finished thread (its last turn, or the conversation up to its answer):
      nothing changes (the ``start`` node then ends the run on the stored answer);
    - the same prompt (or the whole thread) on an unfinished thread: nothing changes;
    - something else on an unfinished thread: nothing changes, and the result is a
      :class:`RefusedTurn` (the ``start`` node raises the ``ThreadConflict``);
    - anything else, the graph's own answer, and LangGraph's edits by id (``RemoveMessage``, or
      messages that all carry ids the thread holds): as ``add_messages``.

    Args:
        left: The thread's messages.
        right: A message, or a list of messages (or dicts / ``(role, text)`` pairs).

    Returns:
        The thread's messages after the write.
    """
    stored = list(left or [])
    given: list[BaseMessage] = convert_to_messages(right if isinstance(right, list) else [right])  # pyright: ignore[reportUnknownArgumentType]
    ids = {m.id for m in stored if m.id}
    if (
        not stored
        or not given
        or all(is_fused_answer(m) for m in given)  # the judge's answer
        or any(isinstance(m, RemoveMessage) for m in given)
        or all(m.id in ids for m in given)
    ):
        return add_messages(stored, given)  # pyright: ignore[reportArgumentType, reportReturnType]
    action, appended = match_turn(stored, given, finished=is_fused_answer(stored[-1]))
    if action == "conflict":
        return RefusedTurn(stored, given)
    return add_messages(stored, appended) if appended else stored  # pyright: ignore[reportArgumentType, reportReturnType]


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

    messages: Annotated[list[AnyMessage], add_turn]


class FusionState(TypedDict):
    """The whole state of a fusion run."""

    messages: Annotated[list[AnyMessage], add_turn]
    candidates: NotRequired[Annotated[list[CandidateRecord], operator.add]]
    """Every member's answers, appended by parallel branches (``start`` resets it with ``Overwrite``)."""
    round: NotRequired[int]
    agreement: NotRequired[float | None]
    converged: NotRequired[bool]
    judge_calls: NotRequired[Annotated[list[JudgeCallRecord], operator.add]]
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
