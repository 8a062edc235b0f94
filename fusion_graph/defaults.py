"""The built-in offline pool: real local models, no API key, no network."""

from __future__ import annotations

import os

from fusion_graph.config import FusionConfig, Judge, Member, Mode

__all__ = ["default_config"]


def default_config(mode: Mode = "best-of", *, rounds: int = 1, max_tokens: int = 160) -> FusionConfig:
    """Two different bundled local models answer; the larger one judges.

    Each member gets an equal share of the CPU cores so that parallel members do not oversubscribe
    them; the judge, which runs alone, gets them all.

    Args:
        mode: ``best-of``, ``merge`` or ``debate``.
        rounds: Debate rounds.
        max_tokens: Most tokens each member may write.

    Returns:
        The configuration (models load on first use, from the ``local`` extra's weight packages).
    """
    cores = os.cpu_count() or 2
    members = 2
    share = max(1, cores // members)
    common = {"n_ctx": 4096, "temperature": 0.2, "seed": 7}
    return FusionConfig(
        pool=[
            Member("local:qwen2.5-coder-0.5b", name="qwen-0.5b", timeout=300,
                   params={**common, "n_threads": share, "max_tokens": max_tokens}),
            Member("local:smollm2-135m", name="smollm2-135m", timeout=300,
                   params={**common, "n_threads": share, "max_tokens": max_tokens}),
        ],
        judge=Judge("local:qwen2.5-coder-0.5b", name="qwen-0.5b-judge", timeout=300,
                    params={**common, "n_threads": cores, "max_tokens": 384, "temperature": 0.0}),
        mode=mode,
        rounds=rounds,
    )
