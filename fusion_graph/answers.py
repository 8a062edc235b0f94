r"""Comparable final answers: extract one normalised answer from a candidate, group equal ones.

This module is the one home for deciding whether two candidates *give the same answer*. Every
extraction returns a **key**: a string such that equal keys mean equivalent answers. A key starts
with its kind, so kinds never collide (``number:18`` is not ``short:18``)::

    number:400      number:0.5      number:1/3      (canonical value, see below)
    time:3:30       time:3:00 pm    ratio:2:1
    choice:B        yesno:yes       short:paris
    call:[{"arguments":{"city":"Paris"},"name":"get_weather"}]
    json:{"city":"short:paris","n":"number:3"}
    custom:<what a user-supplied extractor returned>

:func:`display` turns a key into its human form (``400``, ``B``, ``yes``, ``get_weather(city='Paris')``).

Before anything else, ``<think>…</think>`` blocks are dropped and some LaTeX is simplified
(``{,}`` and ``\,`` between digit groups, ``\$``, ``\%``, ``\text{…}``, ``^\circ``).

**When in doubt, no key.** A wrong key builds a false majority that can overrule a right judge; a
missing one only abstains. So numbers are read whole (:mod:`fusion_graph._answer_numbers`): a run of
numbers joined by an operator, a dash, a comma, a colon or a word such as "to" / "or" is read as one
thing, never as one of its numbers.

**Numbers.** A number may carry a sign (``-`` or ``+`` glued to it, the unicode minus ``−`` with or
without a space after it, the word "minus" or "negative"; a ``-`` right after a word, digit or bracket
is an operator or a hyphen, not a sign), a currency symbol (``$ € £ ¥``), thousands separators (commas
in groups of exactly three, ``1,234,567``; thin and no-break spaces, ``1 000``), decimals (``3.50``,
``.5``), scientific notation (``1e3``, ``2.5E-3``, ``3 × 10^8``, ``6.02 \times 10^{23}``), a simple fraction
(``3/4``, ``\frac{3}{4}``, ``\dfrac``, ``\tfrac``) and, when it is the whole answer, one unit word or ``%``
after it (``12%`` is 12, ``18 dollars`` is 18). Where the number is the answer's *only* number it may
also be written with a decimal comma (``1,5``, ``0,500``, ``12,25``; never before exactly three digits:
``1,500`` is 1500; never in brackets: ``(1,5)`` is a pair) or with plain spaces between groups of three
(``1 000``, ``1 234 567``); beside other numbers those could be a list or two numbers and give no key.
Values are exact (:class:`fractions.Fraction`): ``0.5 == 1/2 == 0.50`` and ``18 == 18.0 == $18.00``. The
canonical form is the shortest decimal when the value terminates (``0.5``, ``-3``, ``1234``), else
``p/q`` (``1/3``).

**Times and ratios** are their own kinds, never equal to a number: ``3:30`` and ``12:00:05`` are
``time:`` keys, compared as written (``3:30`` may be 15:30, so it is not ``3:30 am``); ``3 pm`` and
``3:00 p.m.`` are both ``time:3:00 pm``; other colon runs (``2:1``, ``16:9``) are ``ratio:`` keys.

**No key** (``None``, whatever the format) for an expression or a range (``10-3``, ``5 + 3``,
``2^10``, ``3 to 5``, ``3 or 4``, ``3 apples or 4 pears``), a list (``1,2,3``), a date (``2024-01-05``),
a mixed number (``2 3/4``), mixed digit groups (``1.234,5``), a number after "not" / "n't" / "never"
(``not 3``), or a number without a value (``3/0``). Words (``five``) are not read as numbers.

**Markers.** An explicit final answer is ``\boxed{…}`` (or ``\fbox{…}``), a ``#### …`` line, "The
(final / correct) answer is …", "Answer: …" / "Final answer: …" (a value on the next line is taken when
the marker ends its line, as under a "Final Answer" heading). The marker that appears *last* decides. A
marker's value runs to the end of its line and stops at the end of a sentence (``. ``, ``! ``, ``? ``,
``; ``) or at ``, ``; a ``\boxed{…}`` value is its whole content. A ``####`` line whose value is not a
number, letter or yes/no is a Markdown heading, not a marker.

A marker's value is normalised, first match wins:

1. a number, time or ratio at its start (after an optional ``x =``, and after ``=`` when it shows a
   calculation: ``5 + 3 = 8`` gives 8; filler such as "therefore" or "about" is skipped); numbers
   there that are no one answer (``10-3``, ``3 or 4``) give no key at all;
2. a choice letter ``A``–``J`` (``B``, ``(B)``, ``B)``, ``(B) Paris``, ``option B``);
3. ``yes`` / ``no``;
4. otherwise short text: at most 6 words, lowercased, punctuation stripped. Longer text gives no
   answer, and so does text with a symbol between digits (``(10-3)``), which stripping would lose.

A value that opens with a negation ("The answer is not 3", "the answer isn't B") gives the
correction that follows it on its line ("…; it is 4", "… but C", "…, the correct answer is 4") and
otherwise no key: the earlier markers it retracts are not read.

**Formats** (``answer_format``):

- ``"auto"``: tool calls present → the tool-call key. Else the last marker, as above. Else the whole
  answer if it is just a number (with one unit word at most: ``400.``, ``$18.00``, ``12%``), just a letter
  (``B``, ``(B)``, ``(B) Paris``), or just yes/no (``Yes.``). Otherwise ``None``: free text is never
  guessed.
- ``"number"``: the first number (time, ratio) of the last marker that holds one, else the *last* one in
  the text (GSM8K-style reasoning ends on its number). No key when that is no one answer (``10-3``,
  ``3 or 4``), follows "not", or is a decimal comma or space-grouped beside other numbers; an earlier
  number is never taken instead. Tool calls are ignored.
- ``"choice"``: a ``\boxed{B}`` / ``#### B`` marker or an explicit "answer is (B)" / "Answer: B", the
  last one (letter case ignored there, but "the answer is a bit …" gives no letter; a negated "the
  answer is not B" counts with its correction, or as no letter); else the first
  letter standing alone (``B``, ``(B)``, ``B)``, ``B.``; a capital ``I`` starting a sentence such as
  "I think" is a pronoun, not a choice; a letter after "not" is what the answer is not).
- ``"tool_call"``: the tool-call key, ``None`` without a tool call. A call's key holds its name and
  its arguments, normalised: a JSON string is parsed, object keys sorted, strings stripped, integral
  floats made ints (``2.0`` is ``2``); several calls compare as a set, whatever their order.
- ``"text"``: always ``None`` (answers are compared by the judge only).
- ``"json"``: a structured answer, a JSON object (a ```` ```json ```` fence around it is allowed). Each
  field is compared as the formats above compare a whole answer: a JSON number or a string that is
  just a number by value (``"18 dollars"`` is ``18``), a letter as a choice, ``yes``/``no``, short text
  (at most 6 words, lowercased, punctuation stripped), ``true``/``false``/``null`` as themselves,
  nested objects field by field and lists item by item. Longer text is free text: not comparable, so
  it is left out of the key (the judge reads it). The key holds the comparable fields, sorted
  (``json:{"city":"short:paris","n":"number:3"}``); an object with none, or text that is not a JSON
  object, has no key. :func:`json_value_key` is the key of one field's value.
- a callable ``(text) -> str | None``: its stripped result is the answer (``custom:`` key); ``""`` and
  ``None`` mean none. Its exceptions propagate from :func:`extract_answer`; :func:`extract_answers`
  records them instead.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Any, Literal, get_args

from fusion_graph._answer_numbers import canonical_number as _canonical_number
from fusion_graph._answer_numbers import readings as _readings
from fusion_graph.errors import ConfigError

__all__ = [
    "ANSWER_FORMATS",
    "AnswerClass",
    "AnswerExtractor",
    "AnswerFormat",
    "choice_letter",
    "describe_agreement",
    "display",
    "extract_answer",
    "extract_answers",
    "group_answers",
    "json_object",
    "json_value_key",
    "number_value",
    "plurality",
    "strict_majority",
]

AnswerFormat = Literal["auto", "number", "choice", "tool_call", "text", "json"]
"""How final answers are extracted; see the module docstring."""

AnswerExtractor = Callable[[str], str | None]
"""A user-supplied extractor: a candidate's text → its normalised final answer, or ``None``."""

ANSWER_FORMATS: tuple[str, ...] = get_args(AnswerFormat)
"""The names :data:`AnswerFormat` allows."""

_LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
_CHOICES = 10  # A–J

# ---------------------------------------------------------------------------------------------- text

_THINK = re.compile(r"<think>.*?</think>", re.DOTALL | re.IGNORECASE)
_GROUP_SPACE = re.compile(r"(?<=\d)(?:\{,\}|\\,|[\u2009\u202f\u00a0])(?=\d{3}(?!\d))")
_TEXT_CMD = re.compile(r"\\(?:text|textbf|textrm|mathrm|mathbf|mbox)\s*\{([^{}]*)\}")
_DEGREE = re.compile(r"\^\s*(?:\{\s*\\circ\s*\}|\\circ)")


def _prepare(text: str) -> str:
    text = _THINK.sub(" ", text)
    text = _GROUP_SPACE.sub(",", text.replace("{,}", ","))
    text = text.replace("\\$", "$").replace("\\%", "%")
    text = _TEXT_CMD.sub(r"\1", text)
    return _DEGREE.sub("°", text)


# ------------------------------------------------------------------------------------------- numbers

_UNIT = re.compile(r"(?:%|°[CF]?|[$€£¥]|[^\W\d_]{1,20}(?:/[^\W\d_]{1,10})?(?:\^?[23²³])?)\.?")
_ALTERNATIVE = re.compile(
    r"\s*(?:%|°[CF]?|[^\W\d_]{1,20})?[ \t]+(?:or|to|and|through|-|–|—)[ \t]+[$€£¥]?[-+\u2212]?\.?\d",
    re.IGNORECASE,
)
"""After a number: "3 apples or 4 pears", "5 % to 7 %": alternatives or a range, not one answer."""


def _number_key(value: str) -> tuple[bool, str | None]:
    """Read a value that may open with a number: ``(numeric, key)``.

    ``numeric`` is ``False`` when the value does not open with a number, or opens with the subject of a
    sentence ("1001 is not prime"): the caller goes on to letters, yes/no and short text.
    ``(True, None)``: it opens with numbers that are no one answer (``10-3``, ``3 or 4``, ``1,5`` beside
    another number, "not 3"): no key at all.
    """
    value = _FILLER.sub("", _VARIABLE.sub("", value.rsplit("=", 1)[-1].strip()))
    found = _readings(value)
    if not found or found[0].start != 0:
        return False, None
    first = found[0]
    if first.kind == "number" and _SUBJECT.match(value, first.end):
        return False, None
    if first.negated or (first.loose and len(found) > 1) or _ALTERNATIVE.match(value, first.end):
        return True, None
    return True, first.key


# ------------------------------------------------------------------------------------------- markers

_ANSWER_MARKER = re.compile(
    # "is" then "n't" too: "the answer isn't 3" is a marker whose value is negated
    r"(?:\b(?:the|my|our|final|correct|right|best)\s+answer\s*\**\s*(?:is(?:\b|(?=n['’]t\b))|:|=)"
    r"|\banswer\s*\**\s*[:=]"
    r"|\bfinal\s+answer\b(?=[ \t*#:]*$))"
    r"[ \t*]*:?[ \t]*",
    re.IGNORECASE | re.MULTILINE,
)
_HASHES = re.compile(r"^[ \t]*####[ \t]*(?=\S)", re.MULTILINE)
_BOXED = re.compile(r"\\(?:boxed|fbox)\s*\{")
_SENTENCE_END = re.compile(r"[.!?;](?=\s|$)|,\s")
_FILLER = re.compile(
    r"^(?:(?:therefore|thus|hence|so|then|exactly|just|simply|approximately|about|around|roughly"
    r"|equal\s+to|equals)\s+)+",
    re.IGNORECASE,
)
_VARIABLE = re.compile(r"^[A-Za-z]\s*=\s*")
_SUBJECT = re.compile(
    r"\s+(?:is|are|was|were|has|have|had|can|cannot|can't|does|doesn't|do|don't|will|would|"
    r"isn't|aren't|wasn't|must|should)\b",
    re.IGNORECASE,
)
"""After a leading number: the number is the subject of a sentence ("1001 is not prime"), not the answer."""
_NEGATED = re.compile(
    r"(?:(?:definitely|certainly|probably|surely|clearly|obviously|actually)\s+)?(?:not|n['’]t|never)\b\s*",
    re.IGNORECASE,
)
"""A marker's value that opens with a negation: "the answer is not 3", "the answer isn't B"."""
_NEGATED_ITEM = re.compile(r"\(?[A-J]\)?(?!\w)|(?i:yes|no)\b")
"""A letter or yes/no after the negation: "not B". "Not possible" negates no value: it is short text."""
_CLAUSE = (
    r"(?:it|that|this|the\s+(?:correct\s+|right\s+|final\s+|real\s+)?answer)\s*"
    r"(?:is|'s|’s|was|should\s+be|would\s+be|must\s+be)\b[ \t]*:?[ \t]*"
)
_CORRECTION = re.compile(
    rf"[\s,;:.!?—–-]*(?:(?:but|rather|instead)\b[\s,]*(?:{_CLAUSE})?|{_CLAUSE})",
    re.IGNORECASE,
)
"""What may come between a negated value and its correction: "not 3; it is 4", "not B but C"."""


@dataclass(frozen=True)
class _Marker:
    start: int
    value: str
    kind: Literal["boxed", "hashes", "phrase"]
    tail: str = ""
    """The marker's whole line, not cut at the end of a sentence (to read "not 3; it is 4")."""


def _braced(text: str, start: int) -> str | None:
    """The content of the brace group opening just before ``start``, or ``None`` if unbalanced."""
    depth = 1
    for index in range(start, len(text)):
        if text[index] == "{":
            depth += 1
        elif text[index] == "}":
            depth -= 1
            if depth == 0:
                return text[start:index]
    return None


def _line(text: str, start: int, *, next_line: bool) -> str:
    end = text.find("\n", start)
    value = text[start:] if end < 0 else text[start:end]
    if not value.strip(" \t*:") and next_line and end >= 0:
        for line in text[end + 1 :].splitlines():
            if line.strip():
                return line.strip()
    return value.strip()


def _sentence(value: str) -> str:
    cut = _SENTENCE_END.search(value)
    return (value[: cut.start()] if cut else value).strip()


def _markers(text: str) -> list[_Marker]:
    found: list[_Marker] = []
    for match in _BOXED.finditer(text):
        inner = _braced(text, match.end())
        if inner is not None and inner.strip():
            found.append(_Marker(match.start(), inner.strip(), "boxed", inner.strip()))
    for match in _HASHES.finditer(text):
        line = _line(text, match.end(), next_line=False)
        found.append(_Marker(match.start(), _sentence(line), "hashes", line))
    for match in _ANSWER_MARKER.finditer(text):
        line = _line(text, match.end(), next_line=True)
        if _sentence(line):
            found.append(_Marker(match.start(), _sentence(line), "phrase", line))
    found.sort(key=lambda marker: marker.start)
    # a "####" line that gives no number, letter or yes/no is a Markdown heading
    return [marker for marker in found if marker.kind != "hashes" or _marker_key(marker) is not None]


# -------------------------------------------------------------------------------------------- values

_MARKUP = re.compile(r"\*\*|__|`|\\\(|\\\)|\\\[|\\\]")
_CHOICE_ALONE = re.compile(r"\(?\s*([A-J])\s*\)?[.:)]?")
_CHOICE_LED = re.compile(r"(?:\(([A-Ja-j])\)|([A-J])\))\s+\S.*|(?:option|choice)\s+\(?([A-Ja-j])\)?", re.I)
_YES_NO = {"yes": "yes", "no": "no"}
_WORD_CHARS = re.compile(r"[^\w\s]|_")
_DIGIT_SYMBOL = re.compile(r"\d\s*[^\w\s]+\s*\d")
"""Digits around a symbol ("10-3", "(1,5)", "3.5"): short text would drop the symbol, so it gives none."""
_NOT_BEFORE = re.compile(r"(?:\bnot|n['’]t|\bnever)[\s(*]*$", re.IGNORECASE)


def _clean(value: str) -> str:
    value = _MARKUP.sub("", value).strip()
    if len(value) > 1 and value.startswith("$") and value.endswith("$"):
        value = value.strip("$").strip()
    return value.rstrip(".!?,;: \t").strip()


def _whole_key(value: str) -> tuple[bool, str | None]:
    """A whole answer that may be a number: ``(numeric, key)`` as for :func:`_number_key`.

    It is one if it is one number (or time, ratio) and at most a unit word after it.
    """
    found = _readings(value)
    if not found or found[0].start != 0:
        return False, None
    first = found[0]
    rest = value[first.end :].strip()
    if len(found) > 1 or (rest and not _UNIT.fullmatch(rest)):
        return True, None
    return True, first.key


def _choice(value: str, *, lowercase: bool) -> str | None:
    alone = _CHOICE_ALONE.fullmatch(value.upper() if lowercase and len(value) <= 4 else value)
    if alone:
        return alone.group(1)
    led = _CHOICE_LED.fullmatch(value)
    if led:
        letter = next(group for group in led.groups() if group)
        return letter.upper()
    return None


def _short_text(value: str) -> str | None:
    if _DIGIT_SYMBOL.search(value):
        return None
    words = _WORD_CHARS.sub(" ", value.lower()).split()
    return " ".join(words) if 0 < len(words) <= 6 else None


def _negated(value: str) -> int | None:
    """Where the value a negation denies ends ("not 3", "isn't B", "never 4"), or ``None``."""
    negation = _NEGATED.match(value)
    if negation is None:
        return None
    found = _readings(value, negation.end())
    if found and found[0].start == negation.end():
        return found[0].end
    item = _NEGATED_ITEM.match(value, negation.end())
    return item.end() if item is not None else None


def _correction(marker: _Marker, *, numeric_only: bool) -> str | None:
    """The answer a negated marker gives instead: "not 3; it is 4" → 4, "not B but C" → C; else ``None``."""
    rest = _clean(marker.tail)
    item = _negated(rest)
    if item is None:
        return None
    connector = _CORRECTION.match(rest, item)
    if connector is None:
        return None
    value = _clean(_sentence(rest[connector.end() :]))
    if not value or _negated(value) is not None:
        return None
    numeric, key = _number_key(value)
    if numeric:
        return key
    return None if numeric_only else _value_key(value, lowercase=True)


def _marker_key(marker: _Marker) -> str | None:
    value = _clean(marker.value)
    if _negated(value) is not None:
        return _correction(marker, numeric_only=False)
    numeric, key = _number_key(value)
    if numeric:
        return key
    key = _value_key(value, lowercase=True)
    if key is not None or marker.kind == "hashes":
        return key
    short = _short_text(value)
    return f"short:{short}" if short is not None else None


def _auto(text: str) -> str | None:
    markers = _markers(text)
    if markers:
        return _marker_key(markers[-1])
    whole = _clean(text)
    numeric, key = _whole_key(whole)
    return key if numeric else _value_key(whole, lowercase=False)


def _value_key(value: str, *, lowercase: bool) -> str | None:
    """A value read as a choice letter, else yes/no (numbers are read before)."""
    letter = _choice(value, lowercase=lowercase)
    if letter is not None:
        return f"choice:{letter}"
    if value.lower() in _YES_NO:
        return f"yesno:{_YES_NO[value.lower()]}"
    return None


def _final_number_key(text: str) -> str | None:
    """The key ``answer_format="number"`` gives: a number, a time or a ratio, or ``None``."""
    text = _prepare(text)
    for marker in reversed(_markers(text)):
        value = _clean(marker.value)
        if _negated(value) is not None:
            return _correction(marker, numeric_only=True)
        after = value.rsplit("=", 1)[-1]
        found = _readings(after)
        if not found:
            continue
        first = found[0]
        if first.negated or (first.loose and len(found) > 1) or _ALTERNATIVE.match(after, first.end):
            return None
        return first.key
    found = _readings(text)
    if not found or found[-1].negated or (found[-1].loose and len(found) > 1):
        return None
    return found[-1].key


def number_value(text: str) -> Fraction | None:
    r"""The final number of a reply (``answer_format="number"``), exact, or ``None``.

    The first number of the last marker that holds one (``\boxed{}``, ``####``, "The answer is",
    "Answer:"), else the last number in the text. ``None`` when that is no one number: an expression
    or a range (``10-3``, ``3 or 4``), a time or a ratio (``3:30``), a negated number ("not 3"), or a
    decimal comma or space-grouped digits (``1,5``, ``1 000``) that are not the answer's only number.

    Args:
        text: The reply.

    Returns:
        The value as a :class:`~fractions.Fraction`, or ``None``.

    Example:
        >>> number_value("3 + 4 = 7, so the answer is 1,234.50 dollars. Check: 2 * 617.25")
        Fraction(2469, 2)
    """
    key = _final_number_key(text)
    if key is None or not key.startswith("number:"):
        return None
    return Fraction(key.partition(":")[2])


_EXPLICIT_LETTER = "answer(?:\\s+is)?\\s*[:\\-]?\\s*\\(?\\**([{valid}])\\b"
_ALONE_LETTER = "(?:^|[\\s(*\"'])([{valid}])(?:[).:\\s*\"']|$)"


def choice_letter(text: str, count: int = _CHOICES) -> str | None:
    r"""The choice letter a reply gives (``answer_format="choice"``), or ``None``.

    A ``\boxed{B}`` / ``#### B`` marker or an explicit ``answer is (B)`` / ``Answer: b`` wins (the last
    one); otherwise the first letter standing alone (``B``, ``(B)``, ``B)``, ``B.``).

    Args:
        text: The reply.
        count: How many choices there are (``A``… up to 26); letters beyond are ignored.

    Returns:
        The upper-case letter, or ``None``.

    Example:
        >>> choice_letter("I think it is (C). Answer: B", 4)
        'B'
    """
    text = _prepare(text)
    valid = _LETTERS[: max(0, min(count, len(_LETTERS)))]
    if not valid:
        return None
    explicit: list[tuple[int, str | None]] = [
        (match.start(), match.group(1).upper())
        for match in re.finditer(_EXPLICIT_LETTER.format(valid=valid), text, re.IGNORECASE)
        if match.group(1).isupper() or not re.match(r"\s+[a-z]", text[match.end(1) :])  # "is a bit"
    ]
    for marker in _markers(text):
        if marker.kind == "phrase" and _negated(_clean(marker.value)) is not None:
            # "the answer is not B; it is C" gives C; "the answer is not B." retracts what came before
            key = _correction(marker, numeric_only=False) or ""
            letter = key.removeprefix("choice:") if key.startswith("choice:") else None
            explicit.append((marker.start, letter if letter is not None and letter in valid else None))
        elif marker.kind != "phrase":
            letter = _choice(_clean(marker.value), lowercase=True)
            if letter is not None and letter in valid:
                explicit.append((marker.start, letter))
    if explicit:
        return max(explicit, key=lambda found: found[0])[1]
    for match in re.finditer(_ALONE_LETTER.format(valid=valid), text):
        letter = match.group(1)
        if letter == "I" and re.match(r"\s+[a-z']", text[match.end(1) :]):
            continue  # the pronoun: "I think ..."
        if _NOT_BEFORE.search(text, max(0, match.start(1) - 20), match.start(1)):
            continue  # "not B": what the answer is not
        return letter
    return None


# ---------------------------------------------------------------------------------------- tool calls


def _canonical_json(value: Any) -> Any:
    if value is None or isinstance(value, bool | int):
        return value
    if isinstance(value, float):
        return int(value) if math.isfinite(value) and value.is_integer() else value
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, Mapping):
        return {str(key).strip(): _canonical_json(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_canonical_json(item) for item in value]
    return str(value)


def _canonical_call(call: Mapping[str, Any]) -> dict[str, Any]:
    function = call.get("function")
    if isinstance(function, Mapping):
        call = function
    args = call.get("args", call.get("arguments"))
    if isinstance(args, str):
        raw = args.strip()
        try:
            args = json.loads(raw) if raw else {}
        except json.JSONDecodeError:
            args = raw
    return {"name": str(call.get("name") or "").strip(), "arguments": _canonical_json(args or {})}


def _dumps(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _call_key(tool_calls: Sequence[Mapping[str, Any]]) -> str | None:
    calls = [_canonical_call(call) for call in tool_calls]
    calls.sort(key=lambda call: (call["name"], _dumps(call)))
    return "call:" + _dumps(calls) if calls else None


def _render_call(call: Mapping[str, Any]) -> str:
    args = call.get("arguments")
    if isinstance(args, Mapping):
        inner = ", ".join(f"{key}={value!r}" for key, value in args.items())
    else:
        inner = repr(args)
    return f"{call.get('name', '')}({inner})"


# ---------------------------------------------------------------------------------- structured answers

_FENCE = re.compile(r"^\s*```[A-Za-z0-9_-]*\s*\n?(.*?)\n?\s*```\s*$", re.DOTALL)


def json_object(text: str) -> dict[str, Any] | None:
    r"""The JSON object a structured answer holds, or ``None`` when it holds none.

    The whole text must be one JSON object, optionally inside one Markdown code fence.

    Example:
        >>> json_object('```json\n{"n": 3}\n```')
        {'n': 3}
        >>> json_object("n = 3") is None
        True
    """
    fenced = _FENCE.match(text)
    raw = fenced.group(1) if fenced else text
    try:
        value = json.loads(raw)
    except (json.JSONDecodeError, RecursionError):
        return None
    return value if isinstance(value, dict) else None  # pyright: ignore[reportUnknownVariableType]


def json_value_key(value: Any) -> str | None:
    """The key of one field of a structured answer; ``None`` for free text (see ``"json"`` above).

    Example:
        >>> json_value_key(18.0), json_value_key("$18"), json_value_key(" Paris. "), json_value_key(True)
        ('number:18', 'number:18', 'short:paris', 'bool:true')
        >>> json_value_key("Paris is the capital and the largest city of France.") is None
        True
    """
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"bool:{str(value).lower()}"
    if isinstance(value, int | float):
        if isinstance(value, float) and not math.isfinite(value):
            return f"number:{value}"
        return f"number:{_canonical_number(Fraction(str(value)))}"
    if isinstance(value, str):
        prepared = _prepare(value)
        key = _auto(prepared)
        if key is not None:
            return key
        short = _short_text(_clean(prepared))
        return f"short:{short}" if short is not None else None
    if isinstance(value, Mapping):
        fields = _json_fields(value)  # pyright: ignore[reportUnknownArgumentType]
        return "object:" + _dumps(fields) if fields is not None else None
    if isinstance(value, list | tuple):
        items = [json_value_key(item) for item in value]  # pyright: ignore[reportUnknownVariableType]
        return None if None in items else "list:" + _dumps(items)
    return None


def _json_fields(value: Mapping[str, Any]) -> dict[str, str] | None:
    fields = {str(name): json_value_key(item) for name, item in value.items()}
    comparable = {name: key for name, key in fields.items() if key is not None}
    return comparable if comparable or not fields else None


def _json_key(text: str) -> str | None:
    value = json_object(text)
    if value is None:
        return None
    fields = _json_fields(value)
    return "json:" + _dumps(fields) if fields else None


# ------------------------------------------------------------------------------------------------ API


def _check_format(answer_format: object) -> None:
    if not callable(answer_format) and answer_format not in ANSWER_FORMATS:
        raise ConfigError(
            "answer_format",
            f"unknown answer format {answer_format!r}",
            f"use one of {', '.join(ANSWER_FORMATS)}, or a callable (text) -> str | None",
        )


def extract_answer(
    text: str,
    tool_calls: Sequence[Mapping[str, Any]] = (),
    *,
    answer_format: AnswerFormat | AnswerExtractor = "auto",
) -> str | None:
    """The key of a candidate's final answer: equal keys are equivalent answers.

    Args:
        text: The candidate's text.
        tool_calls: Its tool calls (``{"name", "args"}`` as LangChain gives them, ``arguments`` as a
            dict or a JSON string, or OpenAI's ``{"function": {...}}``).
        answer_format: How to extract (see the module docstring), or a callable
            ``(text) -> str | None`` returning the normalised answer.

    Returns:
        A key such as ``"number:400"``, ``"choice:B"``, ``"yesno:yes"``, ``"short:paris"``,
        ``"call:[…]"`` or ``"custom:…"``; ``None`` when the candidate has no comparable answer.

    Raises:
        ConfigError: ``answer_format`` is an unknown name.
        Exception: Whatever a callable ``answer_format`` raises, unchanged.

    Example:
        >>> extract_answer("12 + 6 = 18 so the answer is $18.00.")
        'number:18'
        >>> extract_answer("", [{"name": "get_weather", "args": '{"city": " Paris"}'}])
        'call:[{"arguments":{"city":"Paris"},"name":"get_weather"}]'
        >>> extract_answer("Paris is lovely in spring and the capital of France.") is None
        True
    """
    _check_format(answer_format)
    if callable(answer_format):
        value = answer_format(text)
        if value is None:
            return None
        if not isinstance(value, str):
            raise TypeError(f"answer_format callable returned {type(value).__name__}, expected str or None")
        value = value.strip()
        return f"custom:{value}" if value else None
    if answer_format == "text":
        return None
    if answer_format == "tool_call" or (answer_format == "auto" and tool_calls):
        return _call_key(tool_calls)
    if answer_format == "number":
        return _final_number_key(text)
    if answer_format == "choice":
        letter = choice_letter(text)
        return None if letter is None else f"choice:{letter}"
    if answer_format == "json":
        return _json_key(text)
    return _auto(_prepare(text))


def display(key: str) -> str:
    """The human form of an answer key.

    Args:
        key: A key from :func:`extract_answer`.

    Returns:
        ``"400"`` for ``number:400``, ``"B"``, ``"yes"``, ``"get_weather(city='Paris')"`` (several calls
        joined by ``"; "``); a string that is not a known key is returned as it is.

    Example:
        >>> display('call:[{"arguments":{"city":"Paris"},"name":"get_weather"}]')
        "get_weather(city='Paris')"
    """
    kind, sep, value = key.partition(":")
    if not sep:
        return key
    if kind == "call":
        try:
            calls = json.loads(value)
        except json.JSONDecodeError:
            return value
        if isinstance(calls, list):
            return "; ".join(_render_call(call) for call in calls if isinstance(call, Mapping))
        return value
    if kind in ("number", "time", "ratio", "choice", "yesno", "short", "custom", "bool", "object", "list"):
        return value
    if kind == "json":
        try:
            fields = json.loads(value)
        except json.JSONDecodeError:
            return value
        if isinstance(fields, dict):
            shown = (f"{name}={display(str(item))}" for name, item in fields.items())  # pyright: ignore[reportUnknownVariableType, reportUnknownArgumentType]
            return "{" + ", ".join(shown) + "}"
        return value
    return key


def extract_answers(
    items: Mapping[str, tuple[str, Sequence[Mapping[str, Any]]]],
    *,
    answer_format: AnswerFormat | AnswerExtractor = "auto",
) -> tuple[dict[str, str | None], list[str]]:
    """Extract every candidate's answer key; a failing callable is recorded, not raised.

    Args:
        items: Candidate id (``qwen``, ``qwen#2``) → ``(text, tool_calls)``.
        answer_format: As for :func:`extract_answer`.

    Returns:
        ``(answers, issues)``: id → key or ``None`` (in ``items``' order), and one issue per distinct
        failure of a callable, e.g. ``"answer_format callable raised ValueError: bad (for qwen#2)"``.

    Raises:
        ConfigError: ``answer_format`` is an unknown name.

    Example:
        >>> extract_answers({"a": ("400", []), "b": ("The answer is 400.", [])})
        ({'a': 'number:400', 'b': 'number:400'}, [])
    """
    _check_format(answer_format)
    answers: dict[str, str | None] = {}
    failures: dict[str, list[str]] = {}
    for item_id, (text, tool_calls) in items.items():
        try:
            answers[item_id] = extract_answer(text, tool_calls, answer_format=answer_format)
        except Exception as exc:  # a user callable: recorded, never a crash
            answers[item_id] = None
            problem = f"answer_format callable raised {type(exc).__name__}: {exc}"
            failures.setdefault(problem, []).append(item_id)
    issues = [f"{problem} (for {', '.join(ids)})" for problem, ids in failures.items()]
    return answers, issues


@dataclass(frozen=True)
class AnswerClass:
    """Candidates whose answers are equivalent.

    Attributes:
        key: The shared answer key (see :func:`extract_answer`).
        members: The candidates' ids, in the order they were given.
    """

    key: str
    members: tuple[str, ...]

    @property
    def size(self) -> int:
        """How many candidates give this answer."""
        return len(self.members)


def group_answers(answers: Mapping[str, str | None]) -> list[AnswerClass]:
    """Group candidates by answer key; candidates without an answer are left out.

    Args:
        answers: Candidate id → key or ``None``.

    Returns:
        The classes, largest first; classes of equal size in the order their first member appears.

    Example:
        >>> group_answers({"a": "number:4", "b": "number:5", "c": "number:5", "d": None})
        [AnswerClass(key='number:5', members=('b', 'c')), AnswerClass(key='number:4', members=('a',))]
    """
    members: dict[str, list[str]] = {}
    for item_id, key in answers.items():
        if key is not None:
            members.setdefault(key, []).append(item_id)
    classes = [AnswerClass(key, tuple(ids)) for key, ids in members.items()]
    return sorted(classes, key=lambda answer_class: -answer_class.size)  # stable: first appearance


def _largest(classes: Sequence[AnswerClass]) -> AnswerClass | None:
    best: AnswerClass | None = None
    for answer_class in classes:
        if best is None or answer_class.size > best.size:
            best = answer_class
    return best


def strict_majority(classes: Sequence[AnswerClass], *, minimum: int = 3) -> AnswerClass | None:
    """The class holding more than half of the comparable answers, when there are enough of them.

    Args:
        classes: From :func:`group_answers`.
        minimum: The fewest comparable answers (the classes' sizes summed) a majority needs.

    Returns:
        That class, or ``None``.

    Example:
        >>> classes = group_answers({"a": "number:4", "b": "number:4", "c": "number:5"})
        >>> strict_majority(classes).key
        'number:4'
    """
    total = sum(answer_class.size for answer_class in classes)
    best = _largest(classes)
    if best is None or total < minimum or best.size * 2 <= total:
        return None
    return best


def plurality(classes: Sequence[AnswerClass]) -> AnswerClass | None:
    """The unique largest class; ``None`` on a tie for first or when there is no class.

    Example:
        >>> plurality(group_answers({"a": "choice:A", "b": "choice:B"})) is None
        True
    """
    best = _largest(classes)
    if best is None or sum(answer_class.size == best.size for answer_class in classes) > 1:
        return None
    return best


_LABEL_NUMBER = re.compile(r"(\d+)$")
_SHOWN = 40


def _label(label: str) -> str:
    found = _LABEL_NUMBER.search(label)
    return found.group(1) if found else label


def _who(labels: Sequence[str]) -> str:
    return f"answer{'s' if len(labels) > 1 else ''} {', '.join(_label(label) for label in labels)}"


def _verb(count: int) -> str:
    return "reach" if count > 1 else "reaches"


def _shown(key: str) -> str:
    text = " ".join(display(key).split())
    return text if len(text) <= _SHOWN else text[: _SHOWN - 1] + "…"


def describe_agreement(answers: Mapping[str, str | None], labels: Sequence[str]) -> str | None:
    """A compact line stating which candidates agree, for the judge's prompt.

    Labels are shown by their number (``answer_3`` → ``3``), answers by :func:`display`, cut at 40
    characters, so whole candidates are never repeated.

    Args:
        answers: Label → key or ``None``; a label missing here has no final answer.
        labels: The labels, in the order the judge sees them.

    Returns:
        E.g. ``"answers 1, 3, 4 reach 400; answer 2 reaches 409; answer 5 has no final answer"``, or
        ``None`` when no answer was extracted.

    Example:
        >>> describe_agreement({"answer_1": "choice:B", "answer_2": None}, ["answer_1", "answer_2"])
        'answer 1 reaches B; answer 2 has no final answer'
    """
    ordered = {label: answers.get(label) for label in labels}
    classes = group_answers(ordered)
    if not classes:
        return None
    parts = [f"{_who(group.members)} {_verb(group.size)} {_shown(group.key)}" for group in classes]
    missing = [label for label, key in ordered.items() if key is None]
    if missing:
        parts.append(f"{_who(missing)} {'have' if len(missing) > 1 else 'has'} no final answer")
    return "; ".join(parts)
