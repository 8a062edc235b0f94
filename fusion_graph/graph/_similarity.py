"""How alike answers read, word by word (free-text agreement and the judge-free pick).

Whether their *final answers* agree is :mod:`fusion_graph.graph._decision`'s question, read with the
configured ``answer_format``.
"""

from __future__ import annotations

import re
from difflib import SequenceMatcher

__all__ = ["most_consistent", "similarity"]

_WORD = re.compile(r"[a-z0-9]+(?:\.[0-9]+)?")


def _normalise(text: str) -> list[str]:
    return _WORD.findall(text.lower())


def similarity(a: str, b: str) -> float:
    """Similarity of two answers in [0, 1], on their normalised words (order-aware)."""
    left, right = _normalise(a), _normalise(b)
    if not left and not right:
        return 1.0
    return SequenceMatcher(None, left, right, autojunk=False).ratio()


def most_consistent(texts: list[str]) -> int:
    """The index of the answer most similar, on average, to all the others (first on ties)."""
    if len(texts) < 2:
        return 0
    scores = [
        sum(similarity(text, other) for j, other in enumerate(texts) if j != i)
        for i, text in enumerate(texts)
    ]
    return max(range(len(texts)), key=lambda i: (scores[i], -i))
