"""The one home of a fusion's decision: agreement, weights, the budget check, and the rule.

Every question of the form "do these answers agree?" and "who wins?" is answered here, from the
same inputs, so the gather node (debate consensus, scouts), the judge node, the judge asker and the
merge writer cannot disagree about it:

* **Evidence**: each candidate's final answer read once per decision with the configured
  ``answer_format`` (:class:`Evidence`), its classes, majority and plurality.
* **Agreement**: :func:`answer_agreement` (a debate's consensus), :func:`scouts_agree`,
  :func:`all_alike` (whether a verdict that scores everything alike contradicts itself).
* **Weights**: :func:`reliabilities` gives each voice a reliability — measured from labels (a
  :class:`~fusion_graph.calibration.Calibration`), learned from history (a LangGraph store, see
  :mod:`fusion_graph.graph._history`) or the prior — and :func:`log_odds` turns it into a vote weight.
* **The rule**: :func:`weigh`. Members vote for their final answer with their weight; the judge
  votes for its pick with its weight, *when its pick held under the reversed order* (asked only when
  the judge and the members' leading answer disagree); the answer with the most weight wins. Without
  labels, no single voice overrules more than two thirds of all final answers. The inputs and the
  outcome are one :class:`DecisionRecord`, kept in the result.
* **Budget**: :func:`over_budget`, the one check before any judge or writer call.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from itertools import combinations
from typing import Any, Literal, TypedDict, cast, get_args

from langchain_core.messages import BaseMessage

from fusion_graph import answers
from fusion_graph.calibration import BASE_RULE, Calibration, CalibrationEntry
from fusion_graph.config import FusionConfig, Judge
from fusion_graph.graph import _similarity
from fusion_graph.state import CandidateRecord
from fusion_graph.usage import messages_tokens, worst_case_cost

__all__ = [
    "PRIOR_JUDGE",
    "PRIOR_MEMBER",
    "DecisionRecord",
    "Evidence",
    "JudgeCheck",
    "Reliabilities",
    "all_alike",
    "answer_agreement",
    "final_keys",
    "follows_member",
    "log_odds",
    "member_weight",
    "over_budget",
    "read_evidence",
    "reliabilities",
    "replay",
    "scouts_agree",
    "weigh",
]

PRIOR_MEMBER = 0.6
"""A member's reliability before anything is measured: better than a coin, no better than another."""
PRIOR_JUDGE = 0.9
"""A judge's reliability (at picking a right candidate when one exists) before anything is measured,
for a pick that held under the reversed order. With members at :data:`PRIOR_MEMBER` it outweighs any
majority short of the two-thirds cap, so a stable judge stands against a bare wrong majority."""
CONFLICT_PRIOR = 4.0
"""Pseudo-items (at one half) a measured conflict accuracy is shrunk with."""
SUPERMAJORITY = 2 / 3
"""Without labels, no single voice overrules a class holding more than this share of all final answers."""

JudgeCheck = Literal["agreed", "held", "flipped", "unchecked", "no-judge"]
"""What the judge's pick went through: it ``agreed`` with the members' leading answer (nothing to
check); it ``held`` under the reversed order; it ``flipped`` (then its vote counts for nothing); it
was ``unchecked`` (a policy or a streamed answer that does not check); or there was ``no-judge``."""


# --------------------------------------------------------------------------- evidence


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
        """A class holding more than half of *all* final answers (at least 2 of them, from ≥ 3).

        Answers without a comparable final answer count in the denominator: two comparable answers
        out of five are not a majority.
        """
        classes = self.classes
        total = len(self.keys)
        if not classes or total < 3 or 2 * len(classes[0].members) <= total:
            return None
        return classes[0]

    def plurality(self) -> answers.AnswerClass | None:
        """The unique largest class, or ``None`` on a tie or when nothing is comparable."""
        return answers.plurality(self.classes)

    def key_of(self, label: str) -> str | None:
        """The normalised final answer of a label."""
        return self.keys.get(label)

    def class_of(self, label: str) -> answers.AnswerClass:
        """The class of a label (a class of its own when it has no comparable answer)."""
        key = self.keys.get(label)
        if key is not None:
            for cls in self.classes:
                if label in cls.members:
                    return cls
        return answers.AnswerClass(key=f"label:{label}", members=(label,))

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


# --------------------------------------------------------------------------- agreement


def final_keys(answer_format: Any, records: Sequence[CandidateRecord]) -> list[str | None]:
    """Each record's final answer read with ``answer_format`` (a failing extractor reads as none)."""
    items = {f"{i}": (r["text"], r["tool_calls"]) for i, r in enumerate(records)}
    keys, _ = answers.extract_answers(items, answer_format=answer_format)
    return list(keys.values())


def _agreement(keys: Sequence[str | None], views: Sequence[str]) -> float | None:
    """Agreement of final answers, else of the wording.

    1.0 or 0.0 on final answers when each has one; 0.0 when two comparable ones differ; else the
    lowest pairwise word similarity of the views.
    """
    if len(views) < 2:
        return None
    found = {key for key in keys if key is not None}
    if len(found) > 1:
        return 0.0
    if None not in keys:
        return 1.0
    return min(_similarity.similarity(a, b) for a, b in combinations(views, 2))


def answer_agreement(
    answer_format: Any, records: Sequence[CandidateRecord], views: Sequence[str]
) -> float | None:
    """How far answers agree (a debate's consensus): on their final answers, else their wording.

    Two answers worded alike that reach different final answers do not agree; two worded apart that
    reach the same one do. ``views`` are the candidates as others see them (text and tool calls).
    """
    return _agreement(final_keys(answer_format, records), views)


def scouts_agree(config: FusionConfig, records: Sequence[CandidateRecord], views: Sequence[str]) -> bool:
    """Whether the scouts agree: the same final answer each, or (none comparable) alike enough."""
    if config.escalate == "always" or len(records) < 2:
        return False
    keys = final_keys(config.answer_format, records)
    if None not in keys:
        return len(set(keys)) == 1
    if set(keys) != {None}:
        return False  # some reach a final answer, some do not
    level = _agreement(keys, views)
    return level is not None and level >= config.scout_agreement


def all_alike(evidence: Evidence, texts: Sequence[str]) -> bool:
    """Whether the candidates reach one answer (or, when some are not comparable, read alike)."""
    if evidence.comparable == len(evidence.labels):
        return evidence.all_equivalent()
    return _agreement(list(evidence.keys.values()), texts) == 1.0


# --------------------------------------------------------------------------- budget


def over_budget(
    config: FusionConfig, spec: Judge, messages: Sequence[BaseMessage], spent: float
) -> float | None:
    """The worst-case cost of a judge call when it would cross ``budget_usd``, else ``None``."""
    if config.budget_usd is None:
        return None
    worst = worst_case_cost(spec, messages_tokens(list(messages)))
    return worst if spent + worst > config.budget_usd else None


# --------------------------------------------------------------------------- weights


@dataclass(frozen=True)
class Reliabilities:
    """Each voice's reliability for one decision, and where it came from."""

    members: dict[str, float]
    """Candidate name → probability its final answer is right."""
    judge: float
    """Probability the judge picks a right candidate when one exists (for a pick that held)."""
    source: Literal["prior", "calibration", "history"]
    labelled: bool
    """Measured from labels: the two-thirds cap is lifted."""
    conflict: tuple[float, int] | None = None
    """Labels only: the judge's accuracy (and item count) when its pick was not the members' most
    common answer (the unique largest class). It decides such a conflict: the pick stands when,
    shrunk to one half with :data:`CONFLICT_PRIOR` pseudo-items, it is above one half."""
    rule: str | None = None
    """The decision rule labels chose (``CalibrationEntry.chosen_rule``): ``weighted`` weighs as
    without labels, ``weights`` with the measured reliabilities, ``judge``, ``majority`` or
    ``member:<name>`` replace the rule. ``None``: no rule was measured (a calibration without
    ``rules`` weighs with the measured reliabilities)."""
    rule_why: str | None = None
    """What the labels showed about the chosen rule, for the decision record."""

    def for_weighing(self) -> Reliabilities:
        """The reliabilities the rule weighs with: the prior, unless labels chose ``weights``.

        Every other rule was measured (replayed) with the prior weights where the weights decide,
        so it decides with them too. The measured accuracies stay in ``members`` for the judge-free
        fallback's ordering.
        """
        if self.rule in (None, "weights"):
            return self
        return replace(
            self,
            members=dict.fromkeys(self.members, PRIOR_MEMBER),
            judge=PRIOR_JUDGE,
            labelled=False,
            conflict=None,
        )


MIN_MEMBER_WEIGHT = 0.1
"""A member's least weight: a weak model's answer still counts a little, so weak members that agree
outweigh one that stands alone (with many possible answers, agreement is evidence)."""


def member_weight(p: float) -> float:
    """A member's vote weight: :func:`log_odds`, at least :data:`MIN_MEMBER_WEIGHT`."""
    return max(log_odds(p), MIN_MEMBER_WEIGHT)


def log_odds(p: float) -> float:
    """The vote weight of a voice right with probability ``p``: its log-odds, never below 0.

    ``p`` is clipped to [0.5, 0.98]. A voice no better than a coin abstains rather than voting
    *against* its own answer: with many possible answers, a negative weight would push the decision
    to some other answer that nobody has shown to be likelier.
    """
    p = min(max(p, 0.5), 0.98)
    return math.log(p / (1 - p))


def reliabilities(
    config: FusionConfig,
    candidates: Sequence[str],
    judge: str,
    *,
    calibration: Calibration | None,
    learned: Mapping[str, float] | None = None,
) -> Reliabilities:
    """The voices' reliabilities: from labels when calibrated, else learned history, else the prior.

    A candidate ``name#i`` (a sample) takes its member's reliability.
    """
    fmt = config.answer_format if isinstance(config.answer_format, str) else None
    entry = calibration.lookup(answer_format=fmt, tag=config.task_tag) if calibration else None
    if entry is not None:
        members = {
            name: (entry.members.get(name) or entry.members.get(name.split("#")[0])) for name in candidates
        }
        judged = entry.judges.get(judge)
        conflict = entry.conflicts.get(judge)
        rule, why = _chosen(entry, candidates)
        return Reliabilities(
            members={n: (r.accuracy if r is not None else PRIOR_MEMBER) for n, r in members.items()},
            judge=judged.accuracy if judged is not None else PRIOR_JUDGE,
            source="calibration",
            labelled=True,
            conflict=(conflict.accuracy, conflict.count) if conflict is not None and conflict.count else None,
            rule=rule,
            rule_why=why,
        )
    if learned:
        return Reliabilities(
            members={n: learned.get(f"member:{n.split('#')[0]}", PRIOR_MEMBER) for n in candidates},
            judge=learned.get(f"judge:{judge}", PRIOR_JUDGE),
            source="history",
            labelled=False,
        )
    return Reliabilities(
        members=dict.fromkeys(candidates, PRIOR_MEMBER), judge=PRIOR_JUDGE, source="prior", labelled=False
    )


def _chosen(entry: CalibrationEntry, candidates: Sequence[str]) -> tuple[str | None, str | None]:
    """The rule the labels chose, and why; ``member:<name>`` only while that member is a candidate."""
    if not entry.rules:
        return None, None
    name, score = entry.chosen_rule()
    base = entry.rules.get(BASE_RULE)
    if name.startswith("member:") and name.removeprefix("member:") not in candidates:
        name, score = BASE_RULE, base
    if score is None:
        return name, None
    if name == BASE_RULE:
        return name, (
            f"labels: the default rule was right on {score.right} of {score.count} labelled items and "
            "no other rule beat it by the margin"
        )
    return name, (
        f"labels: rule {name} was right on {score.right} of {score.count} labelled items, "
        f"+{score.wins} / -{score.losses} against the default rule"
    )


# --------------------------------------------------------------------------- the rule


class DecisionRecord(TypedDict):
    """Why the answer is the answer: the rule's inputs and outcome, kept in the result."""

    rule: str
    """``weighted`` (the default), or the ``majority_policy`` that replaced the judge's weight."""
    source: str
    """Where the weights came from: ``prior``, ``calibration`` or ``history``."""
    weights: dict[str, float]
    """Vote weight of each candidate (by name) and of ``judge``."""
    judge_pick: str | None
    """The candidate the judge picked (by name), ``None`` when no judge decided."""
    judge_check: str
    """See :data:`JudgeCheck`."""
    scores: dict[str, float]
    """Each final answer's total weight (shown answers; ``text of <name>`` for free text)."""
    winner: str
    """The winning answer, as in ``scores``."""
    judge_stood: bool
    """Whether the answer is the judge's pick (or its class)."""
    why: str
    """The decision in one sentence."""


@dataclass(frozen=True)
class Weighed:
    """The outcome of :func:`weigh`: the winning class, the record, and a ``decided_by`` tag."""

    winner: answers.AnswerClass
    record: DecisionRecord
    judge_stood: bool
    tag: str
    """``judge`` when the judge's class won, else ``majority:k/n`` or ``plurality:k/n``, or
    ``labels:<name>`` when labels chose to follow that member."""


def _shown(cls: answers.AnswerClass, evidence: Evidence) -> str:
    if cls.key.startswith("label:"):
        return f"text of {evidence.labels[cls.members[0]]}"
    return answers.display(cls.key)


def leader(evidence: Evidence, weights: Mapping[str, float]) -> answers.AnswerClass | None:
    """The members' answer with the most weight (comparable answers only; ``None`` on a tie)."""
    totals = [(sum(weights[label] for label in c.members), c) for c in evidence.classes]
    if not totals:
        return None
    totals.sort(key=lambda t: -t[0])
    if len(totals) > 1 and math.isclose(totals[0][0], totals[1][0]):
        return None
    return totals[0][1]


def follows_member(rel: Reliabilities, evidence: Evidence) -> bool:
    """Whether labels chose to follow one member and it answered: the judge need not be asked."""
    rule = rel.rule or ""
    return rule.startswith("member:") and rule[7:] in evidence.labels.values()


def needs_check(evidence: Evidence, pick: str) -> bool:
    """Whether the judge's pick disagrees with the members: another answer is more common than its own.

    Counted, not weighed: where no answer outnumbers the pick's (three different answers, say), the
    judge breaks the tie and the weights settle it, with no second call.
    """
    mine = evidence.class_of(pick)
    return any(len(c.members) > len(mine.members) for c in evidence.classes if c.key != mine.key)


def weigh(
    evidence: Evidence,
    rel: Reliabilities,
    *,
    pick: str | None,
    check: JudgeCheck,
    rule: str = "weighted",
    scores: Mapping[str, float] | None = None,
    merged_key: str | None = None,
) -> Weighed:
    """The rule: each voice adds its weight to its answer; the heaviest answer wins.

    Args:
        evidence: The candidates' final answers, by label.
        rel: The voices' reliabilities (:func:`reliabilities`).
        pick: The judge's pick (a label), or ``None`` when no judge decided.
        check: What the pick went through (see :data:`JudgeCheck`): a ``flipped`` pick weighs 0.
        rule: ``weighted``; ``judge`` (the pick always stands) or ``majority`` (a strict majority of
            all final answers always stands) replace the judge's weight, as ``majority_policy`` says.
        scores: The verdict's scores by label, to choose a label within the winning class.
        merged_key: A merge: the merged answer's final answer, which the judge votes for instead
            of a pick (its own class when no candidate reaches it).

    Ties go to the judge's class, then to the class with the best-scored candidate, then to the one
    shown first. Without labels (``rel.labelled`` false) a class holding more than two thirds of
    all final answers wins whatever the weights, so no single voice overrules it.

    With a calibration whose labels chose a rule (``rel.rule``), the default ``weighted`` rule
    becomes that rule: ``weighted`` weighs with the prior, ``weights`` with the measured
    reliabilities, ``judge`` and ``majority`` as above, ``member:<name>`` takes that member's answer.
    """
    chosen = rel.rule if rule == "weighted" else None
    if chosen in ("judge", "majority") or (chosen or "").startswith("member:"):
        rule = cast(str, chosen)
    rel = rel.for_weighing()
    member_w = {
        label: member_weight(rel.members.get(name, PRIOR_MEMBER)) for label, name in evidence.labels.items()
    }
    total_n = len(evidence.labels)
    judge_w = 0.0
    classes = list(evidence.classes)
    mine: answers.AnswerClass | None = None
    if pick is not None:
        mine = evidence.class_of(pick)
    elif merged_key is not None:
        mine = next((c for c in classes if c.key == merged_key), None)
        mine = mine or answers.AnswerClass(key=merged_key, members=())
    if mine is not None and check != "flipped":
        judge_w = log_odds(rel.judge)
    overrules: bool | None = None  # labels decide a conflict (see Reliabilities.conflict)
    plural = evidence.plurality()  # a conflict, as measured: the pick is not the most common answer
    conflict = (
        mine is not None
        and plural is not None
        and plural.key != mine.key
        and len(plural.members) > len(mine.members)
    )
    if conflict and rel.labelled and rel.conflict is not None and check not in ("agreed", "no-judge"):
        accuracy, count = rel.conflict
        shrunk = (accuracy * count + 0.5 * CONFLICT_PRIOR) / (count + CONFLICT_PRIOR)
        overrules = shrunk > 0.5 and check != "flipped"
    if mine is not None and all(c.key != mine.key for c in classes):
        classes.append(mine)
    totals: dict[str, float] = {}
    for cls in classes:
        totals[cls.key] = sum(member_w[label] for label in cls.members)
        if mine is not None and cls.key == mine.key:
            totals[cls.key] += judge_w
    majority = evidence.majority()
    override: str | None = None
    if overrules is not None and rule == "weighted":
        override = mine.key if overrules and mine is not None else plural.key if plural is not None else None
    elif rule == "judge" and mine is not None:
        override = mine.key
    elif rule == "majority" and majority is not None:
        override = majority.key
    elif rule.startswith("member:"):
        followed = next((lab for lab, name in evidence.labels.items() if name == rule[7:]), None)
        if followed is not None:
            cls = evidence.class_of(followed)
            if all(c.key != cls.key for c in classes):
                classes.append(cls)
            override = cls.key
    elif not rel.labelled:
        top = classes[0] if evidence.classes else None
        beyond = top is not None and len(top.members) > SUPERMAJORITY * total_n
        if top is not None and beyond and (mine is None or mine.key != top.key):
            override = top.key
    by_key = {cls.key: cls for cls in classes}
    if not classes:  # nothing comparable and no pick: the first candidate (callers pick their own)
        first = next(iter(evidence.labels))
        winner = evidence.class_of(first)
        by_key[winner.key] = winner
        totals[winner.key] = member_w[first]
    elif override is not None:
        winner = by_key[override]
    else:
        best_score = {
            key: max(((scores or {}).get(label, 0.0) for label in c.members), default=0.0)
            for key, c in by_key.items()
        }
        order = list(by_key)
        winner = by_key[
            max(
                order,
                key=lambda k: (
                    round(totals[k], 9),
                    mine is not None and k == mine.key,
                    best_score[k],
                    -order.index(k),
                ),
            )
        ]
    stood = mine is not None and winner.key == mine.key
    size = len(winner.members)
    kind = "majority" if 2 * size > total_n else "plurality"
    tag = "judge" if stood else f"{kind}:{size}/{total_n}"
    if rule.startswith("member:") and override is not None and not stood:
        tag = f"labels:{rule[7:]}"
    why = _why(
        evidence,
        winner,
        mine,
        stood,
        check,
        override is not None and not stood,
        rule,
        size,
        total_n,
        labelled=overrules is not None,
    )
    if rule.startswith("member:"):
        why = (
            f"labels chose to follow {rule[7:]}: {size} of {total_n} answers reach {_shown(winner, evidence)}"
        )
    if chosen is not None and rel.rule_why:
        why += f" ({rel.rule_why})"
    elif overrules is not None and rel.conflict is not None:
        accuracy, count = rel.conflict
        why += (
            f" (labels: the judge was right in {accuracy:.0%} of {count} measured conflicts, so "
            f"{'its pick' if overrules else 'the members'} decide{'s' if overrules else ''})"
        )
    record = DecisionRecord(
        rule=rule,
        source=rel.source,
        weights={
            **{evidence.labels[label]: round(w, 3) for label, w in member_w.items()},
            "judge": round(judge_w, 3),
        },
        judge_pick=(
            evidence.labels[pick] if pick is not None else "merged answer" if mine is not None else None
        ),
        judge_check=check,
        scores={_shown(by_key[k], evidence): round(v, 3) for k, v in totals.items()},
        winner=_shown(winner, evidence),
        judge_stood=stood,
        why=why,
    )
    return Weighed(winner=winner, record=record, judge_stood=stood, tag=tag)


def _why(
    evidence: Evidence,
    winner: answers.AnswerClass,
    mine: answers.AnswerClass | None,
    stood: bool,
    check: JudgeCheck,
    capped: bool,
    rule: str,
    size: int,
    total: int,
    *,
    labelled: bool = False,
) -> str:
    answer = _shown(winner, evidence)
    if mine is None:
        return f"no judge decided; {size} of {total} answers reach {answer}, the most weight"
    if stood:
        if check == "agreed":
            return f"the judge's pick reaches {answer}, as the members' leading answer does"
        if check == "held":
            return f"the judge's pick ({answer}) held when the order was reversed, and outweighs the rest"
        return f"the judge's pick ({answer}) has the most weight"
    if capped and rule == "majority":
        return f"majority_policy='majority': {size} of {total} answers reach {answer}"
    if capped and labelled:
        return f"{size} of {total} answers reach {answer}, against the judge's pick"
    if capped:
        return (
            f"{size} of {total} answers reach {answer}: more than two thirds, which one voice "
            "cannot overrule without labels"
        )
    if check == "flipped":
        return (
            f"the judge's pick changed when the order was reversed, so its vote did not count; "
            f"{size} of {total} answers reach {answer}"
        )
    return f"{size} of {total} answers reach {answer}, which outweighs the judge's pick"


def replay(
    answers_by_name: Mapping[str, str | None],
    *,
    pick: str | None,
    check: str | None,
    rule: str = "weighted",
    members: Mapping[str, float] | None = None,
    judge: float | None = None,
    conflict: tuple[float, int] | None = None,
) -> str | None:
    """The candidate whose answer a rule would have chosen, from a recorded decision's inputs.

    ``fusion eval`` calibrates by replaying each rule on its labelled records: the candidates'
    final answers (by name), the judge's pick and what its check found.

    Args:
        answers_by_name: Each candidate's final answer (``None``: nothing comparable).
        pick: The judge's pick (a candidate name), or ``None``.
        check: What the pick went through (``Decision.judge_check``).
        rule: ``weighted``, ``judge`` or ``majority`` (see :func:`weigh`).
        members: Measured accuracies by member (a sample ``name#i`` takes ``name``'s): weigh as
            with labels. ``None``: the prior, as without labels.
        judge: The judge's measured accuracy (with ``members``; default the prior).
        conflict: The judge's measured conflict accuracy and its count (with ``members``).

    Returns:
        A candidate of the winning answer, or ``None`` when the winner is an answer no candidate gave.
    """
    names = list(answers_by_name)
    if members is None:
        rel = Reliabilities(
            members=dict.fromkeys(names, PRIOR_MEMBER), judge=PRIOR_JUDGE, source="prior", labelled=False
        )
    else:
        rel = Reliabilities(
            members={n: members.get(n.split("#")[0], PRIOR_MEMBER) for n in names},
            judge=PRIOR_JUDGE if judge is None else judge,
            source="calibration",
            labelled=True,
            conflict=conflict,
        )
    evidence = Evidence(labels={name: name for name in names}, keys=dict(answers_by_name))
    if pick not in evidence.labels:
        pick, check = None, "no-judge"
    judge_check = cast(JudgeCheck, check if check in get_args(JudgeCheck) else "unchecked")
    weighed = weigh(evidence, rel, pick=pick, check=judge_check, rule=rule)
    return weighed.winner.members[0] if weighed.winner.members else None
