"""The built-in offline pool: real local models, no API key, no network."""

from __future__ import annotations

import os

from fusion_graph.config import FusionConfig, Judge, Member, Mode

__all__ = ["default_config"]


def default_config(mode: Mode = "best-of", *, rounds: int = 1, max_tokens: int = 160) -> FusionConfig:
    """Two different bundled local models answer; the larger one judges.

    Each member gets an equal share of the CPU cores so that parallel members do not oversubscribe
    them. The judge gets the same share, not all the cores: generation is memory-bound, and on a
    small machine that other work also uses, two threads made Qwen 2-3 times slower than one. It
    loads its own copy of Qwen (``instance="judge"``; the weights are memory-mapped, so only the KV
    cache is extra) so that its long fixed prompt prefix (instructions, verdict schema) stays
    cached from one fusion to the next. It decodes greedily and without a repeat penalty, which
    would push a JSON verdict away from the keys and labels it must repeat.

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
                "max_tokens": 512,
                "temperature": 0.0,
                "repeat_penalty": 1.0,
                "instance": "judge",
            },
        ),
        mode=mode,
        rounds=rounds,
    )
