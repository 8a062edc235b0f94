"""How alike answers are: the consensus stop of debates and the judge-free pick."""

from __future__ import annotations

import re
from difflib import SequenceMatcher
from itertools import combinations

from fusion_graph import answers

__all__ = ["agreement", "final_number", "most_consistent", "similarity"]

_WORD = re.compile(r"[a-z0-9]+(?:\.[0-9]+)?")


def _normalise(text: str) -> list[str]:
    return _WORD.findall(text.lower())


def similarity(a: str, b: str) -> float:
    """Similarity of two answers in [0, 1], on their normalised words (order-aware)."""
    left, right = _normalise(a), _normalise(b)
    if not left and not right:
        return 1.0
    return SequenceMatcher(None, left, right, autojunk=False).ratio()


def final_number(text: str) -> str | None:
    """The answer's final number (``answers``' ``number`` format), shown as text, or ``None``."""
    key = answers.extract_answer(text, answer_format="number")
    return answers.display(key) if key is not None else None


def agreement(texts: list[str]) -> float | None:
    """The lowest pairwise similarity of the answers (``None`` for fewer than two).

    Answers worded alike but ending on different numbers do not agree (0.0), whatever their wording.
    """
    if len(texts) < 2:
        return None
    numbers = {final_number(text) for text in texts}
    if len(numbers) > 1 and None not in numbers:
        return 0.0
    return min(similarity(a, b) for a, b in combinations(texts, 2))


def most_consistent(texts: list[str]) -> int:
    """The index of the answer most similar, on average, to all the others (first on ties)."""
    if len(texts) < 2:
        return 0
    scores = [
        sum(similarity(text, other) for j, other in enumerate(texts) if j != i)
        for i, text in enumerate(texts)
    ]
    return max(range(len(texts)), key=lambda i: (scores[i], -i))
