"""Scorers: numeric exact match, multiple-choice letter, and function-call match."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from typing import Any

from fusion_graph.answers import choice_letter, number_value

__all__ = ["extract_letter", "extract_number", "score", "score_call", "score_choice", "score_numeric"]


def extract_number(text: str) -> float | None:
    r"""The final number of ``text``, or ``None`` (:func:`fusion_graph.answers.number_value` as a float).

    The number of the last ``\boxed{}`` / ``####`` / "The answer is" marker that holds one, else the
    last number (commas, ``$``, fractions and a trailing period allowed).

    Example:
        >>> extract_number("She started with 1,234.5 apples. #### $18.")
        18.0
    """
    value = number_value(text)
    return None if value is None else float(value)


def score_numeric(text: str, expected: str | float) -> bool:
    """Whether the last number of ``text`` equals ``expected`` (to 1e-6).

    Example:
        >>> score_numeric("5 * 2 = 10, plus 2 is 12. The answer is 18", "18")
        True
    """
    got = extract_number(text)
    want = extract_number(str(expected)) if not isinstance(expected, int | float) else float(expected)
    return got is not None and want is not None and math.isclose(got, want, rel_tol=0, abs_tol=1e-6)


def extract_letter(text: str, count: int) -> str | None:
    r"""The choice letter a reply gives (``A``… for ``count`` choices), or ``None``.

    :func:`fusion_graph.answers.choice_letter`: an explicit ``answer is (B)`` / ``Answer: B`` /
    ``\boxed{B}`` wins (the last one); otherwise the first letter standing alone (``B``, ``(B)``,
    ``B)``, ``B.``).

    Example:
        >>> extract_letter("I think it is (C). Answer: B", 4)
        'B'
    """
    return choice_letter(text, count)


def score_choice(text: str, expected: str, count: int) -> bool:
    """Whether the reply's letter is ``expected``."""
    return extract_letter(text, count) == expected.strip().upper()


def _equal(value: Any, allowed: Any) -> bool:
    if isinstance(value, bool) or isinstance(allowed, bool):
        return value is allowed if isinstance(value, bool) and isinstance(allowed, bool) else False
    if isinstance(value, int | float) and isinstance(allowed, int | float):
        return math.isclose(float(value), float(allowed), rel_tol=1e-9, abs_tol=1e-9)
    if isinstance(value, str) and isinstance(allowed, str):
        return value.strip().lower() == allowed.strip().lower()
    if isinstance(value, Sequence) and isinstance(allowed, Sequence) and not isinstance(value, str):
        return len(value) == len(allowed) and all(_equal(v, a) for v, a in zip(value, allowed, strict=True))
    if isinstance(value, Mapping) and isinstance(allowed, Mapping):
        return set(value) == set(allowed) and all(_equal(value[k], allowed[k]) for k in value)
    return value == allowed


def _arguments(call: Mapping[str, Any]) -> dict[str, Any]:
    args = call.get("args", call.get("arguments", {}))
    if isinstance(args, str):
        try:
            args = json.loads(args)
        except json.JSONDecodeError:
            return {}
    return dict(args) if isinstance(args, Mapping) else {}


def score_call(
    calls: Sequence[Mapping[str, Any]],
    expected: Any,
    names: Mapping[str, str] | None = None,
) -> bool:
    """Whether the model made exactly the expected call: same function name and equal arguments.

    Args:
        calls: The tool calls made (``{"name", "args"}`` as LangChain gives them, or ``arguments``).
        expected: Either one call ``{"name": …, "arguments": {…}}`` (arguments must be equal), or BFCL's
            ground truth ``[{name: {param: [allowed values]}}]``: every argument given must be a
            known parameter with an allowed value, and every parameter whose allowed values do not
            include ``""`` (optional) must be given.
        names: Tool names as sent to the model → the dataset's names (e.g. ``math_factorial`` →
            ``math.factorial``).

    Returns:
        ``True`` for a match.
    """
    names = names or {}
    if len(calls) != 1:
        return False
    call = calls[0]
    name = names.get(str(call.get("name")), str(call.get("name")))
    args = _arguments(call)
    if isinstance(expected, Mapping) and "name" in expected:
        return name == expected["name"] and _equal(args, dict(expected.get("arguments") or {}))
    for option in expected if isinstance(expected, Sequence) else []:
        if not isinstance(option, Mapping) or name not in option:
            continue
        params: Mapping[str, Sequence[Any]] = option[name]
        if any(key not in params for key in args):
            continue
        if any(not any(_equal(args[key], allowed) for allowed in params[key]) for key in args):
            continue
        if any(key not in args and "" not in allowed for key, allowed in params.items()):
            continue
        return True
    return False


def score(
    kind: str,
    expected: Any,
    text: str,
    tool_calls: Sequence[Mapping[str, Any]] = (),
    *,
    choices: int = 0,
    names: Mapping[str, str] | None = None,
) -> bool:
    """Score one reply by the item's kind (``numeric``, ``choice`` or ``call``)."""
    if kind == "numeric":
        return score_numeric(text, expected)
    if kind == "choice":
        return score_choice(text, str(expected), choices)
    if kind == "call":
        return score_call(tool_calls, expected, names)
    raise ValueError(f"unknown item kind {kind!r}")
