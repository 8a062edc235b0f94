"""How far to trust each voice: measured reliabilities of members and judges.

A :class:`Calibration` holds, per answer format and task tag, each member's accuracy and each
judge's accuracy *at picking a right candidate when one exists*, with the item counts behind them.
``fusion eval`` writes one from a labelled set (``--calibration-out``); ``FusionConfig(calibration=…)``
takes it, as an object or a JSON file. The decision (``fusion_graph.graph._decision``) turns the
accuracies into log-odds weights; the judge-free fallback orders candidates by them.

Example:
    >>> cal = Calibration(entries=[CalibrationEntry(
    ...     members={"a": Reliability(accuracy=0.7, count=50)},
    ...     judges={"j": Reliability(accuracy=0.9, count=40)},
    ... )])
    >>> cal.lookup(answer_format="auto", tag=None).members["a"].accuracy
    0.7
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from fusion_graph.errors import ConfigError

__all__ = [
    "BASE_RULE",
    "RULES",
    "RULE_MARGIN_Z",
    "Calibration",
    "CalibrationEntry",
    "Reliability",
    "RuleScore",
    "load_calibration",
]

RULE_MARGIN_Z = 1.0
"""How far a rule must beat the default on the labelled items before labels choose it: its paired
gain (wins − losses) must be at least this many standard deviations of a tie, ``z·√(wins + losses)``,
and at least one item. One standard deviation: 50 labels cannot tell rules a point or two apart,
and a switch on noise costs more than it gains."""
BASE_RULE = "weighted"
"""The rule the labelled items are run with (``fusion eval`` with the default ``majority_policy``)."""
RULES = ("weighted", "weights", "judge", "majority")
"""The decision rules a calibration can measure, besides ``member:<name>`` (follow that member):

* ``weighted``: the default without labels (prior weights, the two-thirds cap);
* ``weights``: the members' and the judge's measured accuracies as log-odds weights, and the judge's
  measured accuracy in conflicts deciding them;
* ``judge``: the judge's pick stands (no reversed-order check);
* ``majority``: a strict majority of all final answers stands, else the weights decide."""


class Reliability(BaseModel):
    """One voice's measured accuracy, and on how many items it was measured."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    accuracy: float = Field(ge=0.0, le=1.0)
    """Members: the share of items answered right. Judges: the share of items, among those where at
    least one candidate was right, on which the judge picked a right one."""
    count: int = Field(ge=0)
    """How many items the accuracy was measured on."""


class RuleScore(BaseModel):
    """How one decision rule did on the labelled items, paired against :data:`BASE_RULE`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    right: int = Field(ge=0)
    """Items the rule's answer was right on."""
    count: int = Field(ge=0)
    """Items it was measured on."""
    wins: int = Field(default=0, ge=0)
    """Items it was right on and the default rule wrong."""
    losses: int = Field(default=0, ge=0)
    """Items it was wrong on and the default rule right."""

    @property
    def gain(self) -> int:
        """Wins minus losses against the default rule."""
        return self.wins - self.losses


class CalibrationEntry(BaseModel):
    """Reliabilities measured on one kind of task (an answer format and an optional tag)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    answer_format: str | None = None
    """The answer format the items were read with (``None``: any)."""
    tag: str | None = None
    """The task tag (e.g. a dataset name; ``None``: any task)."""
    members: dict[str, Reliability] = Field(default_factory=dict)
    """Member (candidate) name → accuracy. Samples ``name#i`` fall back to ``name``."""
    judges: dict[str, Reliability] = Field(default_factory=dict)
    """Judge name → accuracy at picking a right candidate when one exists."""
    conflicts: dict[str, Reliability] = Field(default_factory=dict)
    """Judge name → accuracy on the items where its pick disagreed with the members' leading answer
    (the unique largest class of final answers): how often it was right to overrule them. With
    labels this, not the judge's overall accuracy, decides such a conflict."""
    rules: dict[str, RuleScore] = Field(default_factory=dict)
    """Decision rule (see :data:`RULES`, or ``member:<name>``) → how it did on the labelled items,
    replayed on the recorded answers and verdicts. :meth:`chosen_rule` picks the one to decide with."""

    @field_validator("rules")
    @classmethod
    def _known_rules(cls, value: dict[str, RuleScore]) -> dict[str, RuleScore]:
        for name in value:
            if name not in RULES and not (name.startswith("member:") and len(name) > len("member:")):
                raise ValueError(
                    f"unknown decision rule {name!r}; use one of {', '.join(RULES)} or member:<name>"
                )
        return value

    def chosen_rule(self) -> tuple[str, RuleScore | None]:
        """The rule labels choose: the one that beat the default most, by at least :data:`RULE_MARGIN_Z`.

        Returns:
            ``(name, its score)``; ``(BASE_RULE, its score or None)`` when no rule beat the default
            by the margin, or when no rule was measured.
        """
        best_name, best = BASE_RULE, self.rules.get(BASE_RULE)
        best_gain = 0
        for name, score in self.rules.items():
            if name == BASE_RULE:
                continue
            needed = max(1.0, RULE_MARGIN_Z * math.sqrt(score.wins + score.losses))
            if score.gain >= needed and score.gain > best_gain:
                best_name, best, best_gain = name, score, score.gain
        return best_name, best


class Calibration(BaseModel):
    """Measured reliabilities, per answer format and task tag (``fusion eval --calibration-out``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    version: int = 1
    entries: list[CalibrationEntry] = Field(default_factory=list)

    def lookup(self, *, answer_format: str | None, tag: str | None) -> CalibrationEntry | None:
        """The entry that fits best: same format and tag, then same tag, then same format, then any."""

        def score(entry: CalibrationEntry) -> tuple[bool, bool, bool, bool]:
            return (
                entry.tag == tag and tag is not None,
                entry.answer_format == answer_format and answer_format is not None,
                entry.tag is None,
                entry.answer_format is None,
            )

        fitting = [
            e
            for e in self.entries
            if (e.tag is None or e.tag == tag) and (e.answer_format in (None, answer_format))
        ]
        return max(fitting, key=score) if fitting else None

    def save(self, path: str | Path) -> None:
        """Write the calibration as JSON."""
        Path(path).write_text(self.model_dump_json(indent=2) + "\n", encoding="utf-8")


def load_calibration(value: Any, field: str = "calibration") -> Calibration:
    """A :class:`Calibration` from an object, a dict or a JSON file path.

    Raises:
        ConfigError: The file is missing or not JSON, or a value is invalid (an accuracy outside
            [0, 1], a negative count, an unknown key); the error names the field.
    """
    if isinstance(value, Calibration):
        return value
    data = value
    if isinstance(value, str | Path):
        path = Path(value)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ConfigError(
                field,
                f"no calibration file at {str(path)!r}",
                "write one with `fusion eval --calibration-out`",
            ) from None
        except (OSError, json.JSONDecodeError) as exc:
            raise ConfigError(
                field,
                f"cannot read {str(path)!r} as JSON: {exc}",
                "pass the JSON file that `fusion eval --calibration-out` wrote",
            ) from exc
    if not isinstance(data, dict):
        raise ConfigError(
            field,
            f"a {type(value).__name__} is not a calibration",
            "pass a Calibration, a dict of its fields or the path of a calibration JSON file",
        )
    try:
        return Calibration.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in first["loc"])
        where = where.removeprefix(".")
        raise ConfigError(
            f"{field}.{where}" if where else field,
            first["msg"],
            "accuracies are shares in [0, 1] and counts are whole numbers ≥ 0",
        ) from exc
