"""The judge's structured outputs, as pydantic schemas (never regex over free text)."""

from __future__ import annotations

import functools
import json
from typing import Any, Literal

from pydantic import BaseModel, Field, create_model

__all__ = [
    "Analysis",
    "BestOfVerdict",
    "CandidateScore",
    "DebateVerdict",
    "MergeVerdict",
    "Verdict",
    "verdict_schema",
]


class _SchemaCached(BaseModel):
    """A model whose JSON schema is generated once per set of arguments, not on every judge call.

    LangChain converts a structured-output schema to JSON on every call, for its tracing metadata;
    pydantic generates it anew each time. The verdict schemas never change once built.
    """

    @classmethod
    def model_json_schema(cls, *args: Any, **kwargs: Any) -> dict[str, Any]:  # noqa: D102
        # A fresh copy each call (callers may change it), parsed from the cached text: a quarter of
        # the CPU of copy.deepcopy on the schema, on every judge call.
        return json.loads(_json_schema(cls, args, tuple(sorted(kwargs.items()))))


@functools.lru_cache(maxsize=512)
def _json_schema(cls: type[BaseModel], args: tuple[Any, ...], kwargs: tuple[Any, ...]) -> str:
    return json.dumps(super(_SchemaCached, cls).model_json_schema(*args, **dict(kwargs)))  # type: ignore[misc]


class CandidateScore(BaseModel):
    """The judge's score for one anonymous candidate."""

    label: str = Field(description="The answer's label, e.g. answer_2.")
    score: float = Field(ge=0, le=10, description="0 wrong, 10 perfect.")
    reason: str = Field(description="Why, in one sentence.", json_schema_extra={"maxLength": 80})


class BestOfVerdict(_SchemaCached):
    """Which candidate is best, with a score for each."""

    winner: str = Field(description="The best answer's label.")
    scores: list[CandidateScore] = Field(description="One per answer.")
    rationale: str = Field(description="Why the winner is best.", json_schema_extra={"maxLength": 160})


_SHORT_LIST: dict[str, Any] = {"maxItems": 3, "items": {"type": "string", "maxLength": 100}}
"""JSON-schema hints only (not validated): a grammar-constrained local judge stops listing."""


class Analysis(_SchemaCached):
    """The judge's structured analysis of the candidates, written before it decides."""

    consensus: list[str] = Field(description="Points all agree on.", json_schema_extra=_SHORT_LIST)
    contradictions: list[str] = Field(description="Points they disagree on.", json_schema_extra=_SHORT_LIST)
    unique_insights: list[str] = Field(
        description="Useful points only one makes.", json_schema_extra=_SHORT_LIST
    )
    blind_spots: list[str] = Field(
        default_factory=list, description="What every answer misses.", json_schema_extra=_SHORT_LIST
    )


class MergeVerdict(Analysis):
    """One answer written from the analysis of all candidates."""

    answer: str = Field(description="The merged answer, complete and self-contained.")


class DebateVerdict(BestOfVerdict, Analysis):
    """A debate's verdict: the analysis of the final answers, then the best one."""


Verdict = BestOfVerdict | DebateVerdict | MergeVerdict


def verdict_schema(mode: str, labels: list[str], *, fixed_order: bool = False) -> type[BaseModel]:
    """The schema the judge must fill for these candidates (built once per set of labels)."""
    return _verdict_schema(mode, tuple(labels), fixed_order)


@functools.lru_cache(maxsize=256)
def _verdict_schema(mode: str, labels: tuple[str, ...], fixed_order: bool) -> type[BaseModel]:
    """The schema the judge must fill for these candidates.

    Labels are an enum of the labels shown and best-of scores must cover every candidate once, so
    providers with structured output (and grammar-constrained local models) cannot return a label
    that was not shown. The parsed value converts to :class:`BestOfVerdict` / :class:`MergeVerdict`.

    Args:
        mode: ``merge``, ``analysis`` (a streamed merge's first step: the analysis only, the answer
            is written by a second, streamed call), ``debate`` (analysis, then a best-of verdict) or
            anything else (best-of).
        labels: The labels shown, in order.
        fixed_order: Score the candidates in the order shown, one fixed label each (a JSON-schema
            ``prefixItems`` tuple): a grammar then cannot score a label twice. For grammar-constrained
            local judges; some hosted APIs reject ``prefixItems``.
    """
    if mode == "merge":
        return MergeVerdict
    if mode == "analysis":
        return Analysis
    base: type[BestOfVerdict] = DebateVerdict if mode == "debate" else BestOfVerdict
    if fixed_order:
        fixed: list[Any] = []
        for i, label in enumerate(labels):
            one: Any = Literal[label]  # pyright: ignore[reportInvalidTypeForm]
            fixed.append(
                create_model(
                    f"Score{i + 1}", __base__=CandidateScore, label=(one, Field(description="Its label."))
                )
            )
        any_label: Any = Literal[tuple(labels)]  # pyright: ignore[reportInvalidTypeForm]
        in_order: Any = tuple[tuple(fixed)]  # pyright: ignore[reportInvalidTypeForm]
        return create_model(
            base.__name__,
            __base__=base,
            winner=(any_label, Field(description="The best answer's label.")),
            scores=(in_order, Field(description="One per answer, in order.")),
        )
    label_type: Any = Literal[tuple(labels)]  # pyright: ignore[reportInvalidTypeForm]
    score = create_model(
        "CandidateScore",
        __base__=CandidateScore,
        label=(label_type, Field(description="The answer's label.")),
    )
    return create_model(
        base.__name__,
        __base__=base,
        winner=(label_type, Field(description="The best answer's label.")),
        scores=(
            list[score],  # pyright: ignore[reportInvalidTypeForm]
            Field(min_length=len(labels), max_length=len(labels), description="One per answer."),
        ),
    )
