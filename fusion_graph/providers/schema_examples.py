"""JSON-schema examples: one generator for the ``fake:`` provider and the test kit's judge.

:func:`example_from_schema` builds a value valid against a schema (every property, bounded
numbers, labels picked from a prompt); the OpenAI stub server's judge answers with it.
:func:`sample_from_schema` is the same walk with the ``fake:`` provider's values (``scripted …``
texts, 7s, the first enum option, one score per ``[answer_N]`` label in the messages).
:func:`consistent_verdict` then gives a best-of verdict's winner the top score.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from langchain_core.messages import BaseMessage

__all__ = [
    "DEFAULT_LABEL_PATTERN",
    "JudgePick",
    "consistent_verdict",
    "example_from_schema",
    "sample_from_schema",
]

JudgePick = str | Callable[[str, list[str] | None], str]
"""How the judge picks a label: a regex over the prompt, or ``(prompt, options) -> label``."""

DEFAULT_LABEL_PATTERN = (
    r"(?m)^\[([A-Za-z0-9][\w.-]*)\]\s*$"
    r"|\b(?:Response|Candidate|Answer|Member)\s+([A-Za-z0-9][\w.-]*)"
)
"""Default regex for free-text label fields.

It matches a label alone in brackets on its own line (``[answer_2]``, as fusion-graph's
candidate blocks show them) or the word after ``Response``/``Candidate``/``Answer``/
``Member`` (``Response B``). The first non-empty group of a match is the label.
"""

_LABEL_FIELD = re.compile(r"winner|label|best|choice|select|pick|prefer|chosen|rank", re.IGNORECASE)
_ANSWER_LABEL = re.compile(r"\[(answer_\d+)\]")
_DEEP = 12  # schema depth past which optional branches and arrays are left empty


def _pick_label(prompt: str, options: list[str] | None, pick: JudgePick | None) -> str:
    if callable(pick):
        label = str(pick(prompt, options))
        return label if options is None or label in options else options[0]
    if isinstance(pick, str) or options is None:
        for match in re.finditer(pick or DEFAULT_LABEL_PATTERN, prompt):
            label = next((g for g in match.groups() if g), match.group(0))
            if options is None or label in options:
                return label
        return options[0] if options else "A"
    best: tuple[int, str] | None = None
    for option in options:
        found = re.search(rf"(?<!\w){re.escape(option)}(?!\w)", prompt)
        if found and (best is None or found.start() < best[0]):
            best = (found.start(), option)
    return best[1] if best else options[0]


def example_from_schema(
    schema: Mapping[str, Any],
    *,
    prompt: str = "",
    pick: JudgePick | None = None,
    fields: Mapping[str, Any] | None = None,
) -> Any:
    """Generate a value that validates against a JSON schema.

    Objects get every property (as OpenAI strict mode requires), arrays one element
    (or ``minItems``), strings short text (within ``minLength``/``maxLength``),
    numbers the middle of their bounds, ``anyOf``/``oneOf`` their first non-null
    branch, ``$ref`` is resolved against ``$defs``/``definitions``. Recursive schemas
    end where an optional branch or an array may be left empty. Enum values and
    strings in fields named like ``winner``/``label`` are picked from ``prompt``.
    ``pattern`` constraints are not honoured.

    Args:
        schema: The JSON schema (a root schema; its ``$defs`` resolve references).
        prompt: Text that label fields pick their value from.
        pick: A regex or callable choosing labels; see ``ModelScript.judge_pick``.
        fields: Fixed values by property name.

    Returns:
        A JSON-serialisable value matching the schema.

    Example:
        >>> example_from_schema({"type": "object", "properties": {
        ...     "winner": {"enum": ["A", "B"]}}}, prompt="B is best")
        {'winner': 'B'}
    """
    return _Gen(schema, prompt, pick, fields or {}).value(schema, name="", depth=0)


class _Gen:
    def __init__(
        self,
        root: Mapping[str, Any],
        prompt: str,
        pick: JudgePick | None,
        fields: Mapping[str, Any],
    ) -> None:
        self.root = root
        self.prompt = prompt
        self.pick = pick
        self.fields = fields
        self.label_turn = -1

    def resolve(self, schema: Mapping[str, Any]) -> Mapping[str, Any]:
        seen = 0
        while "$ref" in schema and seen < 32:
            ref = str(schema["$ref"])
            target: Any = self.root
            if not ref.startswith("#"):
                raise ValueError(f"only local $ref are supported: {ref}")
            for part in ref.lstrip("#").strip("/").split("/"):
                if part:
                    target = target[part.replace("~1", "/").replace("~0", "~")]
            schema = {**target, **{k: v for k, v in schema.items() if k != "$ref"}}
            seen += 1
        return schema

    def value(self, schema: Any, *, name: str, depth: int) -> Any:
        if not isinstance(schema, Mapping):
            return "stub" if schema is not False else None
        schema = self.resolve(schema)
        if depth > 24:
            return None
        if "const" in schema:
            return schema["const"]
        if "enum" in schema:
            return self.enum(list(schema["enum"]), name)
        for key in ("anyOf", "oneOf"):
            if key in schema:
                branches = [self.resolve(b) for b in schema[key] if isinstance(b, Mapping)]
                non_null = [b for b in branches if b.get("type") != "null"]
                if depth > _DEEP and len(non_null) < len(branches):
                    return None  # stop recursive schemas at an optional branch
                chosen = (non_null or branches or [{}])[0]
                return self.value(chosen, name=name, depth=depth + 1)
        if "allOf" in schema:
            merged: dict[str, Any] = {}
            for part in schema["allOf"]:
                merged.update(self.resolve(part))
            rest = {k: v for k, v in schema.items() if k != "allOf"}
            return self.value({**merged, **rest}, name=name, depth=depth + 1)
        kind = schema.get("type")
        if isinstance(kind, list):
            kinds = [k for k in kind if k != "null"] or ["null"]
            kind = kinds[0]
        if kind is None:
            if "properties" in schema:
                kind = "object"
            elif "items" in schema or "prefixItems" in schema:
                kind = "array"
            elif "default" in schema:
                return schema["default"]
            else:
                kind = "string"
        if kind == "object":
            return self.object(schema, depth)
        if kind == "array":
            return self.array(schema, name, depth)
        if kind == "string":
            return self.string(schema, name)
        if kind in ("integer", "number"):
            return self.number(schema, integer=kind == "integer")
        if kind == "boolean":
            return True
        return None

    def enum(self, options: list[Any], name: str) -> Any:
        strings = [o for o in options if isinstance(o, str)]
        if strings and name == "label":  # one score per candidate: walk the labels in turn
            self.label_turn += 1
            return strings[self.label_turn % len(strings)]
        if strings:
            return _pick_label(self.prompt, strings, self.pick)
        return options[0] if options else None

    def object(self, schema: Mapping[str, Any], depth: int) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for prop, sub in (schema.get("properties") or {}).items():
            if prop in self.fields:
                fixed = self.fields[prop]
                out[prop] = fixed(self.prompt) if callable(fixed) else fixed
            else:
                out[prop] = self.value(sub, name=prop, depth=depth + 1)
        return out

    def array(self, schema: Mapping[str, Any], name: str, depth: int) -> list[Any]:
        prefix = list(schema.get("prefixItems") or [])
        items = [self.value(s, name=name, depth=depth + 1) for s in prefix]
        count = int(schema.get("minItems", 0))
        if depth <= _DEEP:
            count = max(1, count)  # deeper, recursive schemas end in empty arrays
        if "maxItems" in schema:
            count = min(count, int(schema["maxItems"]))
        item_schema = schema.get("items", {})
        while len(items) < count and item_schema is not False:
            items.append(self.value(item_schema, name=name, depth=depth + 1))
        return items

    def string(self, schema: Mapping[str, Any], name: str) -> str:
        fmt = schema.get("format")
        if _LABEL_FIELD.search(name):
            text = _pick_label(self.prompt, None, self.pick)
        elif fmt == "date-time":
            text = "2024-01-01T00:00:00Z"
        elif fmt == "date":
            text = "2024-01-01"
        elif fmt == "time":
            text = "00:00:00"
        elif fmt == "email":
            text = "stub@example.com"
        elif fmt in ("uri", "url"):
            text = "https://example.com/"
        elif fmt == "uuid":
            text = "00000000-0000-4000-8000-000000000000"
        else:
            text = f"stub {name}".strip() if name else "stub text"
        low = int(schema.get("minLength", 0))
        if len(text) < low:
            text = text + "x" * (low - len(text))
        if "maxLength" in schema:
            text = text[: int(schema["maxLength"])]
        return text

    @staticmethod
    def number(schema: Mapping[str, Any], *, integer: bool) -> int | float:
        low = schema.get("minimum", schema.get("exclusiveMinimum"))
        high = schema.get("maximum", schema.get("exclusiveMaximum"))
        if low is not None and high is not None:
            mid: float = (float(low) + float(high)) / 2
        elif low is not None:
            mid = float(low) + 1
        elif high is not None:
            mid = float(high) - 1
        else:
            mid = 1.0 if integer else 0.5
        if integer:
            value = int(mid)
            if "exclusiveMinimum" in schema and value <= schema["exclusiveMinimum"]:
                value += 1
            return value
        return mid


class _ScriptedGen(_Gen):
    """The ``fake:`` provider's values on the same walk: fixed texts, 7s, labels from the messages."""

    def __init__(self, root: Mapping[str, Any], labels: list[str]) -> None:
        super().__init__(root, "", None, {})
        self.labels = labels

    def enum(self, options: list[Any], name: str) -> Any:
        return options[0]

    def array(self, schema: Mapping[str, Any], name: str, depth: int) -> list[Any]:
        item = schema.get("items", {})
        resolved = self.resolve(item) if isinstance(item, Mapping) else {}
        if "label" in (resolved.get("properties") or {}):  # one entry per candidate shown
            return [{**self.value(item, name="", depth=depth + 1), "label": label} for label in self.labels]
        return super().array(schema, name, depth)

    def string(self, schema: Mapping[str, Any], name: str) -> str:
        if name in ("winner", "label"):
            return self.labels[0]
        return f"scripted {name or 'text'}"

    @staticmethod
    def number(schema: Mapping[str, Any], *, integer: bool) -> int | float:
        value = max(schema.get("minimum", 0), min(schema.get("maximum", 7), 7))
        return value if integer else float(value)


def sample_from_schema(schema: dict[str, Any], messages: Sequence[BaseMessage] = ()) -> Any:
    """A value valid against a JSON schema, picking candidate labels seen in the messages.

    The ``fake:`` provider's answer to a forced tool call. Strings named ``winner`` or ``label``
    take the first ``[answer_N]`` label in the messages, other strings read ``scripted <name>``;
    numbers are 7 (within their bounds), an enum its first option; a list of objects with a
    ``label`` field gets one item per label. A best-of verdict is made consistent
    (:func:`consistent_verdict`).

    Args:
        schema: The JSON schema (a root schema; its ``$defs`` resolve references).
        messages: The conversation whose ``[answer_N]`` labels the value uses (``answer_1`` if none).

    Returns:
        A JSON-serialisable value matching the schema.

    Example:
        >>> sample_from_schema({"type": "object", "properties": {"winner": {"type": "string"}}})
        {'winner': 'answer_1'}
    """
    labels = _ANSWER_LABEL.findall(" ".join(str(m.content) for m in messages)) or ["answer_1"]
    return consistent_verdict(_ScriptedGen(schema, labels).value(schema, name="", depth=0))


def consistent_verdict(value: Any) -> Any:
    """Give a generated best-of verdict's winner the top score (9, the others 5), as a judge would.

    Anything that is not a verdict with a winner and per-label scores is returned unchanged.

    Args:
        value: A generated value.

    Returns:
        The value, with the scores of a verdict made consistent.
    """
    if not isinstance(value, dict) or "winner" not in value or not isinstance(value.get("scores"), list):
        return value
    scores = [
        {**score, "score": 9 if score.get("label") == value["winner"] else 5}
        if isinstance(score, dict) and "label" in score
        else score
        for score in value["scores"]
    ]
    return {**value, "scores": scores}
