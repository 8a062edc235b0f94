"""Checks that a judge's verdict is not self-contradictory (pure, no model calls).

A verdict that contradicts itself is no evidence: its winner is not its top score, it scores a label
twice or leaves one out, it gives every candidate the same score while their answers differ, or its
"reasons" only copy a candidate. Each problem is named so the judge can be asked again with it.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable

from fusion_graph.verdicts import BestOfVerdict

__all__ = ["normalise_label", "verdict_problems"]

_WORDS = re.compile(r"[a-z0-9]+")
_COPY_MIN_WORDS = 6


def normalise_label(label: str) -> str:
    """A label as written loosely (``[Answer 2]``) in the form shown (``answer_2``)."""
    return label.strip().strip("[]").strip().lower().replace(" ", "_")


def verdict_problems(
    verdict: BestOfVerdict, texts: dict[str, str], *, answers_differ: bool | Callable[[], bool]
) -> list[str]:
    """What is self-contradictory in a best-of (or debate) verdict; empty when it is consistent.

    Args:
        verdict: The parsed verdict.
        texts: Label → the candidate's text as the judge saw it.
        answers_differ: Whether the candidates' answers differ, so that equal scores for all of them
            cannot be a judgement; or a function that says so, called only when every score is
            equal (comparing free-text answers word by word costs more than the rest of the checks).

    Returns:
        One sentence per problem, phrased for the judge (it is shown to it when it is asked again).
    """
    problems: list[str] = []
    winner = normalise_label(verdict.winner)
    if winner not in texts:
        problems.append(f"the winner {verdict.winner!r} is not one of the labels {sorted(texts)}")
    scored = Counter(normalise_label(s.label) for s in verdict.scores)
    twice = sorted(label for label, n in scored.items() if n > 1)
    if twice:
        problems.append(f"it scores {', '.join(twice)} more than once")
    unknown = sorted(label for label in scored if label not in texts)
    if unknown:
        problems.append(f"it scores labels that were not shown: {', '.join(unknown)}")
    missing = sorted(label for label in texts if label not in scored)
    if missing:
        problems.append(f"it gives no score to {', '.join(missing)}")
    by_label = {normalise_label(s.label): s.score for s in verdict.scores}
    if winner in by_label and by_label:
        top = max(by_label.values())
        if by_label[winner] < top:
            best = sorted(label for label, score in by_label.items() if score == top)
            problems.append(
                f"the winner {winner} scores {by_label[winner]:g} but {', '.join(best)} scores {top:g}: "
                "the winner must have the top score"
            )
    if (
        len(by_label) > 1
        and len(set(by_label.values())) == 1
        and (answers_differ() if callable(answers_differ) else answers_differ)
    ):
        problems.append(
            f"every answer gets the same score ({verdict.scores[0].score:g}) although they differ"
        )
    reasons = [s.reason for s in verdict.scores] + [verdict.rationale]
    copied = sorted({label for reason in reasons for label, text in texts.items() if _copies(reason, text)})
    if copied:
        problems.append(
            f"its reasons copy the text of {', '.join(copied)} instead of saying why it is right or wrong"
        )
    return problems


def _copies(reason: str, text: str) -> bool:
    """Whether a reason is a stretch of a candidate's words (at least six words long)."""
    words = _WORDS.findall(reason.lower())
    if len(words) < _COPY_MIN_WORDS:
        return False
    source = " " + " ".join(_WORDS.findall(text.lower())) + " "
    return f" {' '.join(words)} " in source
