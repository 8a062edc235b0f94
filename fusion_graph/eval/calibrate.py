"""A :class:`~fusion_graph.calibration.Calibration` from ``fusion eval``'s scored records.

Members: each candidate's round-0 answers in the pool's fusion rows, scored like the fused answer
(``candidates_correct``). Judges: among the items on which at least one candidate was right, the
share on which the judge's pick (``judge_pick``, before the decision rule weighed it) was right, and
the same share on the items where the pick disagreed with the members' leading answer (``conflicts``).
Rules: each decision rule replayed on the records of the default rule (their answers, the judge's
pick and its check), scored, and paired against what the default decided (``rules``); the
``weights`` rule is replayed with reliabilities measured on the *other* items, so it is not scored
on the labels it was fitted to. Everything comes with its item counts; ``FusionConfig(calibration=…)``
reads the file back.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from typing import Any

from fusion_graph.calibration import BASE_RULE, Calibration, CalibrationEntry, Reliability, RuleScore
from fusion_graph.graph import replay

__all__ = ["calibration_from_records", "leading_answer"]

Counts = dict[str, list[int]]
"""Name → [right, count]."""


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


Seen = list[tuple[str, bool]]
"""(name, right) observations."""


def _observations(record: Mapping[str, Any]) -> tuple[Seen, Seen, Seen]:
    """What one record shows: candidates, the judge's pick and the pick in a conflict, right or not."""
    right: Mapping[str, bool] = record.get("candidates_correct") or {}
    members = [(name.split("#")[0], bool(ok)) for name, ok in right.items()]
    judges: Seen = []
    conflicts: Seen = []
    pick, judge = record.get("judge_pick"), record.get("judge")
    if isinstance(pick, str) and pick in right and judge and any(right.values()):
        judges.append((judge, bool(right[pick])))
        lead = leading_answer(record.get("answers") or {})
        if lead is not None and (record.get("answers") or {}).get(pick) != lead:
            conflicts.append((judge, bool(right[pick])))
    return members, judges, conflicts


def _add(counts: Counts, seen: Seen, sign: int = 1) -> None:
    for name, ok in seen:
        entry = counts.setdefault(name, [0, 0])
        entry[0] += sign * int(ok)
        entry[1] += sign


def _measured(counts: Counts) -> dict[str, Reliability]:
    return {n: Reliability(accuracy=r / c, count=c) for n, (r, c) in counts.items() if c > 0}


def _replayable(record: Mapping[str, Any]) -> bool:
    """A record of the default rule, without labels, that kept what a replay needs."""
    return (
        record.get("rule") == BASE_RULE
        and record.get("weights_source") == "prior"
        and "judge_check" in record
        and bool(record.get("answers"))
    )


def _rule_scores(
    records: list[Mapping[str, Any]], totals: tuple[Counts, Counts, Counts]
) -> dict[str, RuleScore]:
    """Each rule replayed on the default rule's records, paired against what the default decided."""
    members_seen = sorted({n for r in records for n in (r.get("candidates_correct") or {}) if "#" not in n})
    tallies: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0, 0])  # right, count, wins, losses
    for record in records:
        right: Mapping[str, bool] = record.get("candidates_correct") or {}
        answers: dict[str, str | None] = {
            name: (None if value is None else str(value))
            for name, value in (record.get("answers") or {}).items()
        }
        base = bool(record.get("correct"))
        pick, check, judge = record.get("judge_pick"), record.get("judge_check"), record.get("judge")
        outcome: dict[str, bool] = {BASE_RULE: base}
        for rule in ("judge", "majority"):
            winner = replay(answers, pick=pick, check=check, rule=rule)
            outcome[rule] = bool(winner is not None and right.get(winner))
        # Leave this item out of the reliabilities the ``weights`` rule weighs with.
        own = _observations(record)
        loo = tuple({n: list(v) for n, v in counts.items()} for counts in totals)
        for counts, seen in zip(loo, own, strict=True):
            _add(counts, seen, -1)
        members, judges, conflicts = (_measured(c) for c in loo)
        winner = replay(
            answers,
            pick=pick,
            check=check,
            members={n: r.accuracy for n, r in members.items()},
            judge=judges[judge].accuracy if judge in judges else None,
            conflict=(conflicts[judge].accuracy, conflicts[judge].count) if judge in conflicts else None,
        )
        outcome["weights"] = bool(winner is not None and right.get(winner))
        for member in members_seen:
            outcome[f"member:{member}"] = bool(right[member]) if member in right else base
        for rule, ok in outcome.items():
            tally = tallies[rule]
            tally[0] += ok
            tally[1] += 1
            tally[2] += ok and not base
            tally[3] += base and not ok
    return {
        rule: RuleScore(right=r, count=c, wins=w, losses=lo)
        for rule, (r, c, w, lo) in sorted(tallies.items())
    }


def calibration_from_records(
    records: Iterable[Mapping[str, Any]], *, tag: str | None, answer_format: str | None
) -> Calibration:
    """Reliabilities and rule scores measured on the pool's fusion rows (``config`` starting ``fusion:``).

    Args:
        records: ``fusion eval`` records (:func:`fusion_graph.eval.runner.run_eval`).
        tag: The task tag to file them under (the dataset's name).
        answer_format: The answer format they were read with (``None``: any).

    Returns:
        One entry with every member and judge seen; a judge with no item that had a right candidate
        is left out (nothing measured). Rules are scored only on records the default rule decided
        without labels (a run with the default ``majority_policy`` and no calibration).
    """
    totals: tuple[Counts, Counts, Counts] = ({}, {}, {})
    seen: set[tuple[str, str]] = set()  # one observation of a member per item (rows share answers)
    replayable: list[Mapping[str, Any]] = []
    for record in records:
        if not str(record.get("config", "")).startswith("fusion:") or record.get("error"):
            continue
        _, judges, conflicts = _observations(record)
        for name, ok in (record.get("candidates_correct") or {}).items():
            key = (str(record.get("item")), name)
            if key not in seen:
                seen.add(key)
                _add(totals[0], [(name.split("#")[0], bool(ok))])
        _add(totals[1], judges)
        _add(totals[2], conflicts)
        if _replayable(record):
            replayable.append(record)
    return Calibration(
        entries=[
            CalibrationEntry(
                answer_format=answer_format,
                tag=tag,
                members=_measured(totals[0]),
                judges=_measured(totals[1]),
                conflicts=_measured(totals[2]),
                rules=_rule_scores(replayable, totals) if replayable else {},
            )
        ]
    )
