"""A :class:`~fusion_graph.calibration.Calibration` from ``fusion eval``'s scored records.

Members: each candidate's round-0 answers in the pool's fusion rows, scored like the fused answer
(``candidates_correct``). Judges: among the items on which at least one candidate was right, the
share on which the judge's pick (``judge_pick``, before the decision rule weighed it) was right, and
the same share on the items where the pick disagreed with the members' leading answer (``conflicts``).
Both come with their item counts; ``FusionConfig(calibration=…)`` reads the file back.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from typing import Any

from fusion_graph.calibration import Calibration, CalibrationEntry, Reliability

__all__ = ["calibration_from_records", "leading_answer"]


def leading_answer(answers: Mapping[str, Any]) -> Any:
    """The unique most common comparable answer (``None`` on a tie or when none is comparable)."""
    counts: dict[Any, int] = defaultdict(int)
    for value in answers.values():
        if value is not None:
            counts[value] += 1
    ranked = sorted(counts.items(), key=lambda kv: -kv[1])
    if not ranked or (len(ranked) > 1 and ranked[0][1] == ranked[1][1]):
        return None
    return ranked[0][0]


def calibration_from_records(
    records: Iterable[Mapping[str, Any]], *, tag: str | None, answer_format: str | None
) -> Calibration:
    """Reliabilities measured on the pool's fusion rows (``config`` starting ``fusion:``).

    Args:
        records: ``fusion eval`` records (:func:`fusion_graph.eval.runner.run_eval`).
        tag: The task tag to file them under (the dataset's name).
        answer_format: The answer format they were read with (``None``: any).

    Returns:
        One entry with every member and judge seen; a judge with no item that had a right candidate
        is left out (nothing measured).
    """
    members: dict[str, list[bool]] = defaultdict(list)
    judges: dict[str, list[bool]] = defaultdict(list)
    conflicts: dict[str, list[bool]] = defaultdict(list)
    seen: set[tuple[str, str]] = set()  # one observation of a member per item (rows share answers)
    for record in records:
        if not str(record.get("config", "")).startswith("fusion:") or record.get("error"):
            continue
        right: Mapping[str, bool] = record.get("candidates_correct") or {}
        for name, ok in right.items():
            base = name.split("#")[0] if "#" in name else name
            key = (str(record.get("item")), name)
            if key not in seen:
                seen.add(key)
                members[base].append(bool(ok))
        pick, judge = record.get("judge_pick"), record.get("judge")
        if isinstance(pick, str) and pick in right and judge and any(right.values()):
            judges[judge].append(bool(right[pick]))
            lead = leading_answer(record.get("answers") or {})
            if lead is not None and (record.get("answers") or {}).get(pick) != lead:
                conflicts[judge].append(bool(right[pick]))
    return Calibration(
        entries=[
            CalibrationEntry(
                answer_format=answer_format,
                tag=tag,
                members={n: Reliability(accuracy=sum(v) / len(v), count=len(v)) for n, v in members.items()},
                judges={
                    n: Reliability(accuracy=sum(v) / len(v), count=len(v)) for n, v in judges.items() if v
                },
                conflicts={
                    n: Reliability(accuracy=sum(v) / len(v), count=len(v)) for n, v in conflicts.items() if v
                },
            )
        ]
    )
