"""Typed events written to the ``custom`` stream while a fusion runs.

Each is a plain ``TypedDict`` with a ``type`` discriminator, so that it serialises anywhere (LangGraph
Server, SSE) and can be matched on::

    async for mode, chunk in graph.astream(inputs, stream_mode=["updates", "custom"]):
        if mode == "custom" and chunk["type"] == "member_finished":
            ...
"""

from __future__ import annotations

from typing import Literal, TypedDict

__all__ = [
    "FusionEvent",
    "JudgeStarted",
    "MemberFailedEvent",
    "MemberFinished",
    "MemberStarted",
    "RoundFinished",
    "VerdictEvent",
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


class JudgeStarted(TypedDict):
    """The judge started on the candidates."""

    type: Literal["judge_started"]
    judge: str
    candidates: int


class VerdictEvent(TypedDict):
    """The fusion is decided."""

    type: Literal["verdict"]
    decided_by: str
    winner: str | None
    preview: str


FusionEvent = (
    MemberStarted | MemberFinished | MemberFailedEvent | RoundFinished | JudgeStarted | VerdictEvent
)
