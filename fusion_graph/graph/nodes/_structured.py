"""Structured answers in the graph: members answer in the schema; the judge node decides field by field.

**Members.** Each answers by its provider's structured-output method (``ModelProfile.structured_output``),
bound directly rather than through ``with_structured_output``, so the reply stays an ``AIMessage`` with
its usage and streams under a deadline like any other answer:

- ``json_schema``: OpenAI's ``response_format`` as the caller sent it (``strict`` kept); Ollama's
  ``format`` with the schema;
- ``json_mode``: ``response_format={"type": "json_object"}``;
- ``function_calling`` and ``grammar`` (the local models: llama.cpp constrains sampling with a grammar
  built from the schema): one forced call of a tool whose parameters are the schema; the call's
  arguments become the answer's text.

**The decision** (``docs/decisions.md``, "Structured answers"). Candidates whose text is not a JSON
object valid under the schema are left out (a verdict issue each); none left is a
:class:`~fusion_graph.StructuredOutputError`. The rest are merged field by field, nested objects
recursively: a field whose values are comparable (numbers, choices, yes/no, short text, booleans,
as :func:`fusion_graph.answers.json_value_key` reads them) takes the value of the unique largest
class of equal values; a tie, or free text that differs, is settled by one best-of judge call over
the candidates: the judge's ranking (winner first, then by score) picks among the tied values and
gives the free text. Without a judge verdict the most consistent candidate goes first
(``judge_free_fallback``). A field is kept when the first-ranked candidate has it or more than half
do. The merged object is checked against the schema; if the mix breaks it (a ``oneOf``, a
dependency), the first-ranked valid candidate's whole object is the answer (``…:whole``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, cast

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage
from langchain_core.runnables import Runnable
from pydantic import BaseModel

from fusion_graph import answers
from fusion_graph.errors import StructuredOutputError
from fusion_graph.graph import _similarity
from fusion_graph.graph.nodes._judge_call import JudgeAsker, JudgeRun, ask_judges
from fusion_graph.graph.nodes.gather import candidate_view
from fusion_graph.providers.profiles import ModelProfile
from fusion_graph.structured import ResponseFormat
from fusion_graph.verdicts import BestOfVerdict

__all__ = ["StructuredDecision", "bind_structured", "decide_structured", "structured_reply"]


def bind_structured(
    model: BaseChatModel, profile: ModelProfile, response_format: ResponseFormat
) -> Runnable[Any, Any]:
    """``model`` bound to answer in the format, by its provider's structured-output method."""
    method = profile.structured_output
    if method == "json_schema":
        if profile.name == "ollama":
            return model.bind(format=response_format.schema)
        return model.bind(response_format=response_format.openai())
    if method == "json_mode":
        return model.bind(response_format={"type": "json_object"})
    tool = profile.adapt_tool(response_format.tool())
    return model.bind_tools([tool], tool_choice=profile.tool_choice(response_format.name))


def structured_reply(message: AIMessage, response_format: ResponseFormat) -> AIMessage:
    """A reply whose answer came as the forced call of the format's tool, with the arguments as its text."""
    calls = [call for call in message.tool_calls if call["name"] == response_format.name]
    if not calls:
        return message
    text = json.dumps(calls[0]["args"], ensure_ascii=False)
    return message.model_copy(update={"content": text, "tool_calls": [], "invalid_tool_calls": []})


@dataclass(frozen=True)
class StructuredDecision:
    """The fused structured answer.

    Attributes:
        answer: The answer, JSON valid under the schema.
        label: The candidate whose object is exactly the answer, if one is.
        decided_by: ``fields:unanimous``, ``fields:vote``, ``fields+judge:NAME``, ``fields+judge-free``,
            with ``:whole`` when a mixed object broke the schema and one candidate's whole object is used.
        verdict: The judge's verdict, when the judge was asked.
    """

    answer: str
    label: str | None
    decided_by: str
    verdict: BaseModel | None


async def decide_structured(
    run: JudgeRun, asker: JudgeAsker, response_format: ResponseFormat
) -> StructuredDecision | None:
    """Merge the valid candidates field by field, asking the judge only for ties and free text.

    Returns:
        The decision; ``None`` when the judge was needed, every judge failed and
        ``judge_free_fallback`` is off (the caller raises ``JudgeFailed``).

    Raises:
        StructuredOutputError: No candidate is a JSON object valid under the schema.
    """
    valid: dict[str, dict[str, Any]] = {}
    causes: list[str] = []
    for label, record in run.by_label.items():
        value, problem = response_format.read(record["text"])
        if value is None:
            causes.append(f"{record['member']}: {problem}")
            run.issues.append(
                f"{label} ({record['member']}) is not valid under the response_format: {problem}"
            )
        else:
            valid[label] = value
    if not valid:
        first = next(iter(run.by_label.values()), None)
        raise StructuredOutputError(
            "no member answered with a JSON object valid under the schema",
            raw=first["text"] if first is not None else None,
            causes=causes,
        )
    order = list(valid)
    merged, open_fields = _merge(cast(dict[str, Any], valid), order, len(valid))
    keys = {answers.json_value_key(value) for value in valid.values()}
    decided_by = "fields:unanimous" if len(keys) == 1 and None not in keys else "fields:vote"
    verdict: BaseModel | None = None
    if open_fields and len(valid) > 1:
        asked = await ask_judges(run, asker, "best-of")
        if asked is not None:
            verdict, by = asked
            order = _ranked(cast(BestOfVerdict, verdict), order)
            decided_by = f"fields+{by}"
        elif not run.runtime.config.judge_free_fallback:
            return None
        else:
            texts = [candidate_view(run.by_label[label]) for label in order]
            first = order[_similarity.most_consistent(texts)]
            order = [first, *(label for label in order if label != first)]
            decided_by = "fields+judge-free"
        merged, _ = _merge(cast(dict[str, Any], valid), order, len(valid))
    problems = response_format.problems(merged)
    if problems:
        run.issues.append(
            f"the field-by-field answer broke the schema ({'; '.join(problems)}); "
            f"took {order[0]}'s whole answer"
        )
        merged, decided_by = valid[order[0]], f"{decided_by}:whole"
    label = next((label for label in order if valid[label] == merged), None)
    return StructuredDecision(json.dumps(merged, ensure_ascii=False), label, decided_by, verdict)


def _ranked(verdict: BestOfVerdict, order: list[str]) -> list[str]:
    """The valid labels, the judge's winner first, then by its scores (ties: the shown order)."""
    scores = {score.label: score.score for score in verdict.scores}
    ranked = sorted(
        order, key=lambda label: (label != verdict.winner, -scores.get(label, 0.0), order.index(label))
    )
    return ranked


def _merge(values: dict[str, Any], order: list[str], total: int) -> tuple[Any, bool]:
    """The merged value at one place of the answer, and whether a tie or differing free text was met.

    ``values`` holds the candidates that have a value here (label → value), ``order`` ranks every
    candidate, ``total`` is how many candidates there are.
    """
    present = [label for label in order if label in values]
    if all(isinstance(values[label], dict) for label in present):
        merged: dict[str, Any] = {}
        open_fields = False
        names: list[str] = []
        for label in present:
            names += [name for name in values[label] if name not in names]
        for name in names:
            sub = {label: values[label][name] for label in present if name in values[label]}
            if present[0] not in sub and 2 * len(sub) <= total:
                continue
            merged[name], opened = _merge(sub, order, total)
            open_fields = open_fields or opened
        return merged, open_fields
    keys = {label: answers.json_value_key(values[label]) for label in present}
    if None in keys.values():  # free text somewhere: the first-ranked candidate's value
        same = all(values[label] == values[present[0]] for label in present)
        return values[present[0]], not same
    classes = answers.group_answers({label: keys[label] for label in present})
    top = answers.plurality(classes)
    if top is not None:
        return values[top.members[0]], False
    best = min(
        (c for c in classes if c.size == classes[0].size),
        key=lambda c: min(present.index(label) for label in c.members),
    )
    first = min(best.members, key=present.index)
    return values[first], True
