"""Typed events written to the ``custom`` stream while a fusion runs.

Each is a plain ``TypedDict`` with a ``type`` discriminator, so that it serialises anywhere (LangGraph
Server, SSE) and can be matched on. The graph's nodes build exactly these (``MemberStarted(...)``) and
write them through an :data:`EventWriter`, so the type checker holds the two together::

    async for mode, chunk in graph.astream(inputs, stream_mode=["updates", "custom"]):
        if mode == "custom" and chunk["type"] == "member_finished":
            ...
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, Literal, TypedDict

__all__ = [
    "AnswerDelta",
    "AnswerFinished",
    "AnswerStarted",
    "EventWriter",
    "FusionEvent",
    "JudgeStarted",
    "MemberFailedEvent",
    "MemberFinished",
    "MemberStarted",
    "RoundFinished",
    "ScoutsFinished",
    "VerdictEvent",
    "answer_pieces",
]


class MemberStarted(TypedDict):
    """A member started answering."""

    type: Literal["member_started"]
    member: str
    round: int


class MemberFinished(TypedDict):
    """A member answered."""

    type: Literal["member_finished"]
    member: str
    round: int
    latency_s: float
    input_tokens: int
    output_tokens: int
    cost_usd: float
    preview: str


class MemberFailedEvent(TypedDict):
    """A member failed; the fusion goes on without it."""

    type: Literal["member_failed"]
    member: str
    round: int
    kind: str
    error: str


class RoundFinished(TypedDict):
    """Every member of a round is done."""

    type: Literal["round_finished"]
    round: int
    answered: list[str]
    failed: list[str]
    agreement: float | None
    converged: bool


class ScoutsFinished(TypedDict):
    """The scouts answered: ``agree`` says whether the fusion stops there (else the pool is called)."""

    type: Literal["scouts_finished"]
    answered: list[str]
    failed: list[str]
    agree: bool


class JudgeStarted(TypedDict):
    """The judge started on the candidates."""

    type: Literal["judge_started"]
    judge: str
    candidates: int


class AnswerStarted(TypedDict):
    """The answer step started: a decided winner's text follows, or the merge writer's call began.

    ``source`` is ``"pick"`` (a chosen candidate's text, sent at once) or ``"writer"`` (a streamed
    merge: the judge writes the answer now, token by token).
    """

    type: Literal["answer_started"]
    source: Literal["pick", "writer"]


class AnswerDelta(TypedDict):
    """The next piece of the fused answer's text; the pieces joined are the result's ``answer``."""

    type: Literal["answer_delta"]
    text: str


class AnswerFinished(TypedDict):
    """The answer's text is complete; ``tool_calls`` are the fused answer's tool calls (LangChain shape)."""

    type: Literal["answer_finished"]
    tool_calls: list[dict[str, Any]]


class VerdictEvent(TypedDict):
    """The fusion is decided (the last event of a fusion, after its answer events)."""

    type: Literal["verdict"]
    decided_by: str
    winner: str | None
    preview: str


FusionEvent = (
    MemberStarted
    | MemberFinished
    | MemberFailedEvent
    | RoundFinished
    | ScoutsFinished
    | JudgeStarted
    | AnswerStarted
    | AnswerDelta
    | AnswerFinished
    | VerdictEvent
)

EventWriter = Callable[[FusionEvent], None]
"""What the nodes write events with: LangGraph's ``get_stream_writer()``, typed to these events."""


def answer_pieces(text: str, words: int | None = 8) -> list[str]:
    """An answer that exists whole, cut into ``answer_delta`` pieces of ``words`` words each.

    Used for a picked answer (best-of, vote, debate, scouts) and for a stored thread's answer that
    ``fusion serve`` sends without a run. ``words=None``: one piece. Joining the pieces gives
    ``text`` back; an empty text has none.
    """
    if not text or words is None:
        return [text] if text else []
    parts = re.split(r"(?<=\s)", text)
    return ["".join(parts[i : i + words]) for i in range(0, len(parts), words)]
