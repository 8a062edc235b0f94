"""What the candidates' final answers say, as evidence for the decision (pure, no model calls).

The judge's verdict is one opinion; the members' comparable final answers are another. This module
reads the answers once per decision (:class:`Evidence`), states their agreement for the judge's
prompt, finds a strict majority or a plurality, and says who dissents from the final answer.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from fusion_graph import answers
from fusion_graph.state import CandidateRecord

__all__ = ["Evidence", "read_evidence"]


@dataclass
class Evidence:
    """The candidates' extracted final answers, by label, and what follows from them."""

    labels: dict[str, str]
    """Label → candidate name, in the order the judge is shown them."""
    keys: dict[str, str | None]
    """Label → normalised final answer (``None``: nothing comparable)."""
    issues: list[str] = field(default_factory=list)
    """Problems met while reading the answers (a raising ``answer_format`` callable)."""
    answer_format: Any = "auto"
    """How the answers were read (``"json"`` for a run with a ``response_format``)."""

    @property
    def classes(self) -> list[answers.AnswerClass]:
        """Equivalence classes of labels, largest first."""
        return answers.group_answers(self.keys)

    @property
    def comparable(self) -> int:
        """How many candidates have a comparable final answer."""
        return sum(1 for key in self.keys.values() if key is not None)

    def summary(self) -> str | None:
        """The agreement in one line for the judge, e.g. ``answers 1, 3 reach 400; answer 2 reaches 9``."""
        return answers.describe_agreement(self.keys, list(self.labels))

    def majority(self) -> answers.AnswerClass | None:
        """A class holding more than half of at least 3 comparable answers."""
        return answers.strict_majority(self.classes, minimum=3)

    def plurality(self) -> answers.AnswerClass | None:
        """The unique largest class, or ``None`` on a tie or when nothing is comparable."""
        return answers.plurality(self.classes)

    def key_of(self, label: str) -> str | None:
        """The normalised final answer of a label."""
        return self.keys.get(label)

    def all_equivalent(self) -> bool:
        """Whether every candidate reaches the same comparable answer."""
        keys = list(self.keys.values())
        return bool(keys) and None not in keys and len(set(keys)) == 1

    def best_of_class(self, cls: answers.AnswerClass, scores: dict[str, float] | None = None) -> str:
        """The label of a class to answer with: the best-scored one, else the first shown."""
        members = list(cls.members)
        if scores:
            return max(members, key=lambda label: (scores.get(label, 0.0), -members.index(label)))
        return members[0]

    def minority(self, final_key: str | None, final_label: str | None = None) -> list[dict[str, Any]]:
        """Who dissents from the final answer, and with what (comparable answers only)."""
        if final_key is None and final_label is not None:
            final_key = self.keys.get(final_label)
        if final_key is None:
            return []
        return [
            {"member": self.labels[label], "label": label, "answer": answers.display(key)}
            for label, key in self.keys.items()
            if key is not None and key != final_key
        ]


def read_evidence(
    labels: dict[str, str],
    records: dict[str, CandidateRecord],
    answer_format: Any,
) -> Evidence:
    """Extract every candidate's final answer; a failing extractor is an issue, never a crash."""
    items = {label: (records[label]["text"], records[label]["tool_calls"]) for label in labels}
    keys, issues = answers.extract_answers(items, answer_format=answer_format)
    return Evidence(labels=labels, keys=keys, issues=issues, answer_format=answer_format)
