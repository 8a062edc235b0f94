"""The built-in offline pool: real local models, no API key, no network."""

from __future__ import annotations

import os

from fusion_graph.config import FusionConfig, Judge, Member, Mode

__all__ = ["JUDGE_MAX_TOKENS", "MEMBER_MAX_TOKENS", "default_config", "pool_config"]


MEMBER_MAX_TOKENS = 512
"""Enough for the bundled members to finish a short reasoning answer.

Measured on the first 10 GSM8K-100 questions and ``make demo``'s prompt with the default sampling:
Qwen2.5-Coder-0.5B stops by itself after 166-547 tokens (median 298, the demo 376), SmolLM2-135M
after 67-431 (median 227, the demo 78) except when it loops. At 160 most answers stopped before
their final number. A cap is no cost when the model stops earlier; it bounds the loops.
"""

JUDGE_MAX_TOKENS = 1024
"""A merge judge writes the analysis and a whole answer built from answers of up to 512 tokens."""


def default_config(
    mode: Mode = "best-of", *, rounds: int = 1, max_tokens: int = MEMBER_MAX_TOKENS
) -> FusionConfig:
    """The offline default: :func:`pool_config`.

    Args:
        mode: ``best-of``, ``merge``, ``debate`` or ``vote``.
        rounds: Debate rounds.
        max_tokens: Most tokens each member may write (:data:`MEMBER_MAX_TOKENS`).

    Returns:
        The configuration (models load on first use, from the ``local`` extra's weight packages).
    """
    return pool_config(mode, rounds=rounds, max_tokens=max_tokens)


def pool_config(
    mode: Mode = "best-of", *, rounds: int = 1, max_tokens: int = MEMBER_MAX_TOKENS
) -> FusionConfig:
    """Two different bundled local models answer; the larger one judges.

    Each member gets an equal share of the CPU cores so that parallel members do not oversubscribe
    them. The judge gets the same share, not all the cores: generation is memory-bound, and on a
    small machine that other work also uses, two threads made Qwen 2-3 times slower than one. It
    loads its own copy of Qwen (``instance="judge"``; the weights are memory-mapped, so only the KV
    cache is extra) so that its long fixed prompt prefix (instructions, verdict schema) stays
    cached from one fusion to the next. It decodes greedily and without a repeat penalty, which
    would push a JSON verdict away from the keys and labels it must repeat.

    The members get no instruction of their own: asked to be brief or to end with an answer line,
    Qwen still wrote as long (ending in a boxed answer either way) and SmolLM2 ignored it.

    Args:
        mode: ``best-of``, ``merge``, ``debate`` or ``vote``.
        rounds: Debate rounds.
        max_tokens: Most tokens each member may write (:data:`MEMBER_MAX_TOKENS`).

    Returns:
        The configuration (models load on first use, from the ``local`` extra's weight packages).
    """
    cores = os.cpu_count() or 2
    members = 2
    share = max(1, cores // members)
    common = {"n_ctx": 4096, "temperature": 0.2, "seed": 7}
    return FusionConfig(
        pool=[
            Member(
                "local:qwen2.5-coder-0.5b",
                name="qwen-0.5b",
                timeout=300,
                params={**common, "n_threads": share, "max_tokens": max_tokens},
            ),
            Member(
                "local:smollm2-135m",
                name="smollm2-135m",
                timeout=300,
                params={**common, "n_threads": share, "max_tokens": max_tokens},
            ),
        ],
        judge=Judge(
            "local:qwen2.5-coder-0.5b",
            name="qwen-0.5b-judge",
            timeout=300,
            params={
                **common,
                "n_threads": share,
                "max_tokens": JUDGE_MAX_TOKENS,
                "temperature": 0.0,
                "repeat_penalty": 1.0,
                "instance": "judge",
            },
        ),
        mode=mode,
        rounds=rounds,
    )
