r"""Reading numbers, times and ratios for :mod:`fusion_graph.answers`: when in doubt, nothing.

A wrong number key builds a false majority that can overrule a right judge; a missing one only
abstains. So the text is first cut into **readings**: maximal runs of numbers joined by something
(``10-3``, ``3:30``, ``1,5``, ``1 000``, ``3 or 4``), each read as a whole:

- one number: its exact value. A sign is ``-``/``+`` glued to it, the unicode minus ``−`` (a space
  may follow it) or the word "minus"/"negative"; ``1e3``, ``2.5e-3`` and ``3 × 10^8`` are scientific
  notation; ``$1,234.50`` has thousands commas (groups of exactly three); ``3/4`` is a fraction;
- ``H:MM`` (``3:30``, ``12:00:05``) a time, other colon runs (``2:1``, ``16:9``) a ratio, compared as
  written; ``3 pm`` / ``3:30 p.m.`` a time of day (``3:00 pm``, ``3:30 pm``);
- **loose** numbers, read only where the number is the answer's only number: a decimal comma
  (``1,5``, ``0,500``, ``12,25``: never before exactly three digits, where ``1,500`` is 1500, nor in
  brackets, where ``(1,5)`` is a pair) and digit groups split by plain spaces (``1 000``,
  ``1 234 567``; thin and no-break spaces are thousands separators everywhere, read as commas by
  :mod:`fusion_graph.answers` first);
- anything else is **compound** and has no value: an expression or a range (``10-3``, ``5 + 3``,
  ``2^10``, ``3 to 5``, ``3 or 4``, ``2024-01-05``), a list (``1,2,3``), mixed digit groups
  (``1.234,5``, ``1.2.3``).

A reading right after "not", "n't" or "never" is **negated**: it is what the answer is not.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from fractions import Fraction
from typing import Literal

__all__ = ["Reading", "canonical_number", "readings"]

_MAX_EXPONENT = 400  # 1e999999 is not worth a million-digit Fraction; it gives no value
_MAX_LENGTH = 200  # nor is a number written with thousands of digits (Python refuses to convert it)

_SIGN = (
    r"(?P<sign>(?<![\w)\]}])[-+\u2212](?=[$€£¥]?\.?\d)"  # glued: -5, +3, −5, -$4
    r"|(?<![\w)\]}])\u2212[ \t\u00a0](?=[$€£¥]?\.?\d)"  # the unicode minus is never a bullet: − 5
    r"|\b(?:minus|negative)[ \t]+(?=[$€£¥]?\.?\d))"
)
_EXPONENT = r"[-+\u2212]?\d{1,6}"
_ATOM = re.compile(
    r"(?<![\d.])(?:"
    r"(?P<fsign>(?<![\w)\]}])[-+\u2212])?\\[dt]?frac\s*\{\s*(?P<fnsign>[-\u2212])?(?P<fnum>\d+(?:\.\d+)?)\s*\}"
    r"\s*\{\s*(?P<fden>\d+(?:\.\d+)?)\s*\}"
    rf"|{_SIGN}?(?P<cur>[$€£¥][ \t]?)?"
    r"(?:(?P<int>[1-9]\d{0,2}(?:,\d{3})+(?!\d)|\d+)(?P<dec>\.\d+)?|(?P<bare>\.\d+))"
    rf"(?:[eE](?P<exp>{_EXPONENT})(?!\w|\.\d)"
    r"|[ \t]*(?:×|\\times|\\cdot|\*|x)[ \t]*10[ \t]*\^[ \t]*"
    rf"(?:\{{[ \t]*(?P<texp>{_EXPONENT})[ \t]*\}}|(?P<pexp>{_EXPONENT})))?"
    r"(?:/(?P<den>\d+(?:\.\d+)?)(?![\d/]))?"
    r")",
    re.IGNORECASE,
)
# What joins two numbers into one reading; anything else between them (a word, a newline, "=") parts them.
_JOIN = re.compile(
    r"[:,x]"  # tight only: "Step 3: 30" and "3, 4" are two numbers
    r"|[ \t]*(?:(?:%|[ap]\.?m\.?)[ \t]*)?(?:[-+*/×÷^–—\u2212]|\\times|\\cdot|\\div)?[ \t]*"  # 1 pm - 4 pm
    r"|[ \t]*\)?[ \t]*(?:[-+*/×÷^\u2212]|\\times|\\cdot|\\div)[ \t]*\(?[ \t]*"  # (3 + 4) * 2, 5 - (-3)
    r"|[ \t]*(?:%|[ap]\.?m\.?)?[ \t]+(?:to|or|and|by|x|times|plus|minus|over|out[ \t]+of|divided[ \t]+by"
    r"|multiplied[ \t]+by|through|thru)[ \t]+",
    re.IGNORECASE,
)
_MERIDIEM = re.compile(r"[ \t]?([ap])\.?[ \t]?m\b\.?", re.IGNORECASE)
_DIGIT_AFTER = re.compile(r"[.,:]\d")  # "1.2.3", "1.234,5": mixed groups the atoms could not join
_NEGATION = re.compile(
    r"(?:\bnot|\bcannot|n['’]t|\bnever|\bno[ \t]+longer)[ \t]+"
    r"(?:(?:equal|equals|exactly|just|quite|simply|really|even|be|to|the|number|value)[ \t]+){0,3}$",
    re.IGNORECASE,
)
_NEGATION_LOOKBACK = 60
_BRACKETED = re.compile(r"[(\[][ \t]*$")


@dataclass(frozen=True)
class Reading:
    """One run of numbers in a text, read as a whole.

    Attributes:
        start: Where the run starts (its sign or currency included).
        end: Where it ends (a time's "pm" included).
        kind: ``"number"``, ``"time"``, ``"ratio"`` or ``"compound"`` (no value: an expression, a range,
            a list).
        value: The number's exact value (``kind == "number"`` only).
        text: A time's or ratio's normalised form (``3:30``, ``3:30 pm``, ``2:1``); else ``""``.
        loose: A decimal comma or plain-space digit groups: read only where it is the only number.
        negated: It follows "not" / "n't" / "never": what the answer is not.
    """

    start: int
    end: int
    kind: Literal["number", "time", "ratio", "compound"]
    value: Fraction | None = None
    text: str = ""
    loose: bool = False
    negated: bool = False

    @property
    def key(self) -> str | None:
        """The answer key (``number:1000``, ``time:3:30``, ``ratio:2:1``), ``None`` for a compound."""
        if self.kind == "number" and self.value is not None:
            return f"number:{canonical_number(self.value)}"
        if self.kind in ("time", "ratio"):
            return f"{self.kind}:{self.text}"
        return None


def canonical_number(value: Fraction) -> str:
    """The shortest decimal when ``value`` terminates, else ``p/q``.

    Example:
        >>> canonical_number(Fraction(5, 2)), canonical_number(Fraction(-1, 3))
        ('2.5', '-1/3')
    """
    den = value.denominator
    twos = fives = 0
    while den % 2 == 0:
        den //= 2
        twos += 1
    while den % 5 == 0:
        den //= 5
        fives += 1
    if den != 1:
        return f"{value.numerator}/{value.denominator}"
    places = max(twos, fives)
    scaled = abs(value.numerator) * 10**places // value.denominator
    digits = str(scaled).rjust(places + 1, "0")
    text = digits if places == 0 else f"{digits[:-places]}.{digits[-places:]}"
    return f"-{text}" if value < 0 else text


# --------------------------------------------------------------------------------------------- atoms


def _negative(match: re.Match[str]) -> bool:
    sign = (match.group("sign") or "").strip().lower()
    return sign in ("-", "\u2212", "minus", "negative")


def _exponent(match: re.Match[str]) -> int | None:
    raw = match.group("exp") or match.group("texp") or match.group("pexp")
    return None if raw is None else int(raw.replace("\u2212", "-"))


def _atom_value(match: re.Match[str]) -> Fraction | None:
    if match.group("fnum") is not None:
        negative = (match.group("fsign") in ("-", "\u2212")) != bool(match.group("fnsign"))
        num, den = Fraction(match.group("fnum")), Fraction(match.group("fden"))
    else:
        fraction = match.group("dec") or match.group("bare") or ""
        digits = (match.group("int") or "").replace(",", "") + fraction
        num = Fraction(digits)
        exponent = _exponent(match)
        if exponent is not None:
            if abs(exponent) > _MAX_EXPONENT:
                return None
            num *= Fraction(10) ** exponent
        den = Fraction(match.group("den")) if match.group("den") else Fraction(1)
        negative = _negative(match)
    if den == 0:
        return None
    return -num / den if negative else num / den


def _plain(match: re.Match[str], *, signed: bool = False) -> bool:
    """An integer written with digits only (a sign allowed when ``signed``): no commas, point, exponent."""
    if match.group("fnum") is not None or match.group("int") is None:
        return False
    extras = ("dec", "exp", "texp", "pexp", "den", "cur") + (() if signed else ("sign",))
    return "," not in match.group("int") and not any(match.group(name) for name in extras)


def _digits(match: re.Match[str]) -> str:
    return match.group("int") or ""


# ------------------------------------------------------------------------------------------ readings


def _colon(
    atoms: list[re.Match[str]], meridiem: re.Match[str] | None
) -> tuple[Literal["time", "ratio"], str] | None:
    """``(kind, text)`` of a colon run, or ``None`` when it is neither a time nor a ratio."""
    parts = [_digits(atom) for atom in atoms]
    if not all(_plain(atom) for atom in atoms) or len(parts) > 3:
        return None
    clock = len(parts) >= 2 and all(len(part) == 2 and int(part) < 60 for part in parts[1:])
    if meridiem is not None:
        if not clock or not 1 <= int(parts[0]) <= 12:
            return None
        return "time", f"{int(parts[0])}:{':'.join(parts[1:])} {meridiem.group(1).lower()}m"
    if clock and int(parts[0]) <= 24:
        return "time", ":".join(parts)
    return ("ratio", ":".join(parts)) if len(parts) == 2 else None


def _decimal_comma(atoms: list[re.Match[str]]) -> Fraction | None:
    """``1,5`` → 1.5: an integer, a comma, digits; never ``1,500`` (thousands) unless it is ``0,500``."""
    whole, part = atoms
    digits, decimals = _digits(whole), _digits(part)
    if not (_plain(whole, signed=True) or _currency_only(whole)):
        return None
    if not _plain(part) or (digits != "0" and (len(decimals) == 3 or digits.startswith("0"))):
        return None
    value = Fraction(f"{digits}.{decimals}")
    return -value if _negative(whole) else value


def _currency_only(match: re.Match[str]) -> bool:
    """An integer with a currency symbol (``€1`` of ``€1,50``) and nothing else."""
    if match.group("cur") is None or match.group("int") is None or "," in match.group("int"):
        return False
    return not any(match.group(name) for name in ("dec", "exp", "texp", "pexp", "den"))


def _space_groups(atoms: list[re.Match[str]]) -> Fraction | None:
    """``1 000`` / ``1 234 567.5``: 1–3 leading digits, then groups of exactly three."""
    first, rest = atoms[0], atoms[1:]
    if not (_plain(first, signed=True) or _currency_only(first)) or len(_digits(first)) > 3:
        return None
    for index, atom in enumerate(rest):
        last = index == len(rest) - 1
        if atom.group("sign") or len(_digits(atom)) != 3 or "," in _digits(atom):
            return None
        extras = ("exp", "texp", "pexp", "den", "cur") + (() if last else ("dec",))
        if atom.group("int") is None or any(atom.group(name) for name in extras):
            return None
    digits = "".join(_digits(atom) for atom in atoms) + (rest[-1].group("dec") or "")
    value = Fraction(digits)
    return -value if _negative(first) else value


def _time_of_day(text: str, atoms: list[re.Match[str]], gaps: list[str], negated: bool) -> Reading | None:
    """``3 pm``, ``3:30 p.m.``: a time of day, or ``None`` when no am/pm follows."""
    start, end = atoms[0].start(), atoms[-1].end()
    meridiem = _MERIDIEM.match(text, end)
    if meridiem is None:
        return None
    if len(atoms) == 1:
        hour = _digits(atoms[0])
        if not _plain(atoms[0]) or len(hour) > 2 or not 1 <= int(hour) <= 12:
            return None
        return Reading(
            start,
            meridiem.end(),
            "time",
            text=f"{int(hour)}:00 {meridiem.group(1).lower()}m",
            negated=negated,
        )
    if not all(gap == ":" for gap in gaps):
        return None
    colon = _colon(atoms, meridiem)
    if colon is None:
        return Reading(start, meridiem.end(), "compound", negated=negated)
    return Reading(start, meridiem.end(), colon[0], text=colon[1], negated=negated)


def _reading(text: str, atoms: list[re.Match[str]], gaps: list[str]) -> Reading:
    start, end = atoms[0].start(), atoms[-1].end()
    negated = _NEGATION.search(text[max(0, start - _NEGATION_LOOKBACK) : start]) is not None
    if any(len(atom.group(0)) > _MAX_LENGTH for atom in atoms):
        return Reading(start, end, "compound", negated=negated)
    timed = _time_of_day(text, atoms, gaps, negated)
    if timed is not None:
        return timed
    if _DIGIT_AFTER.match(text, end):
        return Reading(start, end, "compound", negated=negated)
    if len(atoms) == 1:
        value = _atom_value(atoms[0])
        kind: Literal["number", "compound"] = "number" if value is not None else "compound"
        return Reading(start, end, kind, value=value, negated=negated)
    if all(gap == ":" for gap in gaps):
        colon = _colon(atoms, None)
        if colon is not None:
            return Reading(start, end, colon[0], text=colon[1], negated=negated)
    elif gaps == [","]:
        value = _decimal_comma(atoms)
        if value is not None and not _BRACKETED.search(text, 0, start):  # "(1,5)" is a pair
            return Reading(start, end, "number", value=value, loose=True, negated=negated)
    elif all(gap == " " for gap in gaps):
        value = _space_groups(atoms)
        if value is not None:
            return Reading(start, end, "number", value=value, loose=True, negated=negated)
    return Reading(start, end, "compound", negated=negated)


def readings(text: str, start: int = 0) -> list[Reading]:
    """Every run of numbers in ``text``, in order, each read as a whole (see the module docstring).

    Args:
        text: Prepared text (:func:`fusion_graph.answers._prepare`: thin spaces already read as commas).
        start: Where to start reading (a number cut there is read from there).

    Returns:
        The readings, in the order they appear.

    Example:
        >>> [r.key for r in readings("1e3 apples, 10-3 pears at 3:30, not 4")]
        ['number:1000', None, 'time:3:30', 'number:4']
    """
    atoms = list(_ATOM.finditer(text, start))
    found: list[Reading] = []
    index = 0
    while index < len(atoms):
        group, gaps = [atoms[index]], []
        index += 1
        while index < len(atoms):
            gap = text[group[-1].end() : atoms[index].start()]
            if _JOIN.fullmatch(gap) is None:
                break
            group.append(atoms[index])
            gaps.append(gap)
            index += 1
        found.append(_reading(text, group, gaps))
    return found
