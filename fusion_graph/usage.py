"""Tokens and cost: read from usage metadata, priced from the config."""

from __future__ import annotations

from typing import Any

from langchain_core.messages import AIMessage
from pydantic import BaseModel

from fusion_graph.config import ModelSpec

__all__ = ["Usage", "UsageReport", "price", "tokens_of"]


class Usage(BaseModel):
    """Tokens and US dollars."""

    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0
    calls: int = 0

    @property
    def total_tokens(self) -> int:
        """Input plus output tokens."""
        return self.input_tokens + self.output_tokens

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            input_tokens=self.input_tokens + other.input_tokens,
            output_tokens=self.output_tokens + other.output_tokens,
            cost_usd=self.cost_usd + other.cost_usd,
            calls=self.calls + other.calls,
        )


class UsageReport(BaseModel):
    """Usage per member (all rounds), per judge call, and in total."""

    members: dict[str, Usage]
    judge: list[Usage]
    total: Usage

    @classmethod
    def from_records(
        cls, candidates: list[dict[str, Any]], judge_calls: list[dict[str, Any]]
    ) -> UsageReport:
        """Sum candidate and judge-call records."""
        members: dict[str, Usage] = {}
        for record in candidates:
            members[record["member"]] = members.get(record["member"], Usage()) + _usage(record)
        judge = [_usage(record) for record in judge_calls]
        total = sum([*members.values(), *judge], Usage())
        return cls(members=members, judge=judge, total=total)


def _usage(record: dict[str, Any]) -> Usage:
    return Usage(
        input_tokens=record["input_tokens"],
        output_tokens=record["output_tokens"],
        cost_usd=record["cost_usd"],
        calls=1,
    )


def tokens_of(message: AIMessage) -> tuple[int, int]:
    """(input, output) tokens from a message's usage metadata; (0, 0) when absent."""
    usage = message.usage_metadata
    if not usage:
        return 0, 0
    return int(usage.get("input_tokens", 0)), int(usage.get("output_tokens", 0))


def price(spec: ModelSpec, input_tokens: int, output_tokens: int) -> float:
    """The cost in US dollars of these tokens at the spec's prices (per million tokens)."""
    return (input_tokens * spec.price_in + output_tokens * spec.price_out) / 1_000_000
