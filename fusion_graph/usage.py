"""Tokens and cost: read from usage metadata, priced from the config."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from langchain_core.messages import AIMessage, BaseMessage
from pydantic import BaseModel

from fusion_graph.config import FusionConfig, ModelSpec

if TYPE_CHECKING:
    from fusion_graph.providers.profiles import ModelProfile

__all__ = [
    "CHARS_PER_TOKEN",
    "PER_MESSAGE",
    "CostEstimate",
    "Usage",
    "UsageReport",
    "estimate_cost",
    "estimate_tokens",
    "messages_tokens",
    "price",
    "reported_cost",
    "tokens_of",
    "worst_case_cost",
]


CHARS_PER_TOKEN = 3
"""A conservative estimate (real tokenizers average nearer 4 characters per token in English)."""
PER_MESSAGE = 4
"""Tokens a chat message costs beyond its text (role and separators)."""


def estimate_tokens(text: str) -> int:
    """An upper-leaning estimate of the tokens in ``text``."""
    return math.ceil(len(text) / CHARS_PER_TOKEN)


def messages_tokens(messages: Sequence[BaseMessage]) -> int:
    """Estimated prompt tokens of a conversation."""
    return sum(estimate_tokens(m.text) + PER_MESSAGE for m in messages)


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

    @classmethod
    def of_record(cls, record: Mapping[str, Any]) -> Usage:
        """The usage of one call recorded in the graph state (a candidate or a judge call)."""
        return cls(
            input_tokens=record["input_tokens"],
            output_tokens=record["output_tokens"],
            cost_usd=record["cost_usd"],
            calls=1,
        )

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
    def from_records(cls, candidates: list[dict[str, Any]], judge_calls: list[dict[str, Any]]) -> UsageReport:
        """Sum candidate and judge-call records."""
        members: dict[str, Usage] = {}
        for record in candidates:
            members[record["member"]] = members.get(record["member"], Usage()) + Usage.of_record(record)
        judge = [Usage.of_record(record) for record in judge_calls]
        total = sum([*members.values(), *judge], Usage())
        return cls(members=members, judge=judge, total=total)


def tokens_of(message: AIMessage) -> tuple[int, int]:
    """(input, output) tokens from a message's usage metadata; (0, 0) when absent."""
    usage = message.usage_metadata
    if not usage:
        return 0, 0
    return int(usage.get("input_tokens", 0)), int(usage.get("output_tokens", 0))


def reported_cost(message: AIMessage, profile: ModelProfile) -> float | None:
    """The cost in US dollars the provider reported for this call itself, where its profile reads one.

    OpenRouter sends ``usage.cost``; langchain-openai (and langchain-mistralai) keep the raw usage object
    as ``response_metadata["token_usage"]``. ``None``: priced from the config instead (:func:`price`).
    """
    if not profile.reported_cost:
        return None
    reported = (message.response_metadata.get("token_usage") or {}).get("cost")
    if isinstance(reported, int | float) and not isinstance(reported, bool):
        return float(reported)
    return None


def price(spec: ModelSpec, input_tokens: int, output_tokens: int) -> float:
    """The cost in US dollars of these tokens at the spec's prices (per million tokens)."""
    return (input_tokens * spec.price_in + output_tokens * spec.price_out) / 1_000_000


def worst_case_cost(spec: ModelSpec, input_tokens: int) -> float:
    """The most one call can cost: its prompt, plus ``max_tokens`` of output (0 when unset)."""
    return price(spec, input_tokens, int(spec.params.get("max_tokens") or 0))


class CostEstimate(BaseModel):
    """Worst-case cost of a fusion before it runs, from prices, prompt size and ``max_tokens``."""

    members: dict[str, float]
    """Each member, over every round it may run."""
    judge: float
    """The judge and, should it fail, every fallback."""
    total: float
    assumed_max_tokens: dict[str, int]
    """Models without ``max_tokens``, and the output length assumed for them."""


def estimate_cost(
    config: FusionConfig, prompt: str | Sequence[BaseMessage], *, assume_max_tokens: int = 1024
) -> CostEstimate:
    """Estimate the worst-case cost of fusing ``prompt`` with ``config``, before any call.

    Tool loops are counted as one call per round (each extra step is checked against the budget when
    it happens). Each sample of a member counts as a call; each judge is counted at its worst: asked
    again once after a self-contradictory verdict, twice with ``judge_swap``, and once more for a
    ``reask`` policy.

    Example:
        >>> estimate_cost(config, "Is 1001 prime?").total
        0.0123
    """
    text = prompt if isinstance(prompt, str) else "\n".join(m.text for m in prompt)
    prompt_tokens = estimate_tokens(text) + PER_MESSAGE
    assumed: dict[str, int] = {}

    def out_tokens(spec: ModelSpec, name: str) -> int:
        value = spec.params.get("max_tokens")
        if isinstance(value, int):
            return value
        assumed[name] = assume_max_tokens
        return assume_max_tokens

    rounds = 1 + (config.rounds if config.mode == "debate" else 0)
    members: dict[str, float] = {}
    answers = 0
    candidates = len(config.candidate_names)
    for spec in config.pool:
        name = spec.name or ""
        out = out_tokens(spec, name)
        answers += out * spec.samples
        first = price(spec, prompt_tokens, out)
        revise = price(spec, prompt_tokens + out * candidates + 200, out)
        members[name] = (first + revise * (rounds - 1)) * spec.samples
    judge_input = prompt_tokens + answers + 400
    judge = 0.0
    # Worst case per judge: each ask may be asked again once (a self-contradictory verdict), judge_swap
    # asks twice, and a "reask" policy asks the first judge once more.
    asks = 2 if config.judge_swap and config.mode != "merge" else 1
    calls = 2 * asks
    reask = config.majority_policy == "reask" if config.mode != "merge" else config.merge_policy == "reask"
    for index, spec in enumerate([config.effective_judge, *config.effective_judge.fallbacks]):
        extra = calls if index == 0 and reask else 0
        judge += price(spec, judge_input, out_tokens(spec, f"judge[{index}]")) * (calls + extra)
    return CostEstimate(
        members=members, judge=judge, total=sum(members.values()) + judge, assumed_max_tokens=assumed
    )
