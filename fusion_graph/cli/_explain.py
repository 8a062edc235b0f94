"""A fusion's decision in plain words: who decided, and on what evidence.

``fusion run`` (and so ``make demo``) prints this line under the verdict, for someone who has never
read what ``vote:majority`` or ``judge-free:most-consistent`` mean.
"""

from __future__ import annotations

from collections import Counter

from fusion_graph.result import FusionResult

__all__ = ["decision_in_words"]


def decision_in_words(result: FusionResult) -> str:
    """Say who decided the fused answer and on what evidence, in one or two sentences.

    Args:
        result: A finished fusion.

    Returns:
        The explanation, e.g. ``Decided by majority vote: 2 of 3 answers (qwen-0.5b#1, qwen-0.5b#3)
        reach the same final answer, 42. No judge was needed.``
    """
    how = result.decided_by
    final = [c for c in result.candidates if c.round == result.rounds]
    answered = [c for c in final if c.error is None]
    answers = {name: value for name, value in result.answers.items() if value}
    counts = Counter(answers.values())
    chosen = _chosen_answer(result, answers, counts)
    backers = sorted(name for name, value in answers.items() if value == chosen) if chosen else []
    of = f"{len(backers)} of {len(answered)} answers"
    names = f" ({', '.join(backers)})" if backers else ""
    shown = _short(chosen) if chosen else ""
    judge = how.partition(":")[2]
    unread = len(answered) - len(answers)
    unread_note = (
        f" {unread} of {len(answered)} answers had no final answer that could be read and compared."
        if unread
        else ""
    )
    if how == "vote:majority":
        return (
            f"Decided by majority vote: {of}{names} reach the same final answer, {shown}. "
            f"No judge was needed.{unread_note}"
        )
    if how == "vote:plurality":
        return (
            f"Decided by vote: {shown} is the most common final answer ({of}{names}), short of a "
            f"majority; no judge was asked.{unread_note}"
        )
    if how == "vote:tie-break":
        split = f" ({result.agreement_summary})" if result.agreement_summary else ""
        return (
            f"Decided by the tie-break: no final answer was shared by two answers{split}, so "
            f"{result.winner}'s answer ({shown or 'its text'}) stands, as configured "
            f"(tie_break); no judge was asked.{unread_note}"
        )
    why = f" Why: {result.decision.why}." if result.decision is not None else ""
    if how.startswith("labels:"):
        return (
            f"Decided by labels: a calibration measured {judge} as the voice to follow on this task, "
            f"so its answer ({shown}) was taken and no judge was asked.{why}"
        )
    if how.startswith(("majority:", "plurality:")):
        kind = "a strict majority" if how.startswith("majority:") else "the most weight"
        return (
            f"Decided by the answers, over the judge: {of}{names} reach {shown}, {kind}, "
            f"and the judge picked otherwise.{why}"
        )
    if how.startswith(("judge:", "fallback:")):
        split = f" The answers split ({result.agreement_summary})." if result.agreement_summary else ""
        pick = f" It picked {result.winner}." if result.winner else " It wrote the answer."
        role = "the tie-breaking judge" if result.mode == "vote" else "the judge"
        return f"Decided by {role} {judge}.{split}{pick}{why}{unread_note}"
    if how.startswith("judge-free:"):
        asked = result.verdict_issues or result.judge_calls
        why = "the judge's verdicts were unusable" if asked else "no judge was asked"
        rule = "the answer most like the others"
        if judge == "agreement":
            rule = "the final answer most answers agree on"
        pick = f": {result.winner}" if result.winner else ""
        return f"Decided without a judge, because {why}: {rule} was taken{pick}."
    if how == "only-candidate":
        return "Only one answer came back, so it is the answer."
    if how == "scouts:agree":
        return f"The scouts agreed{names}, so the rest of the pool was not asked."
    return f"Decided by {how}."


def _chosen_answer(result: FusionResult, answers: dict[str, str], counts: Counter[str]) -> str | None:
    """The extracted final answer the fusion went with (the winner's, else the most common)."""
    if result.winner and result.winner in answers:
        return answers[result.winner]
    return counts.most_common(1)[0][0] if counts else None


def _short(answer: str, width: int = 60) -> str:
    value = answer.partition(":")[2] if ":" in answer[:12] else answer  # "number:42" → "42"
    return value if len(value) <= width else value[: width - 1] + "…"
