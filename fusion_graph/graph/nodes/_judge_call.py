"""Asking a judge: its prompt, one structured call, the checks, a second ask, swap and fallbacks."""

from __future__ import annotations

import asyncio
import json
import re
import time
from dataclasses import dataclass, field
from typing import Any, cast

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage
from langchain_core.runnables import Runnable, RunnableConfig
from langchain_core.runnables.config import ensure_config, merge_configs
from pydantic import BaseModel

from fusion_graph import answers, prompts
from fusion_graph.config import Judge
from fusion_graph.events import EventWriter, JudgeStarted
from fusion_graph.graph._context import condense
from fusion_graph.graph._decision import (
    DecisionRecord,
    Evidence,
    JudgeCheck,
    Reliabilities,
    all_alike,
    over_budget,
)
from fusion_graph.graph._runtime import FusionRuntime
from fusion_graph.graph.nodes._verdict_checks import normalise_label, verdict_problems
from fusion_graph.graph.nodes.gather import candidate_view, spent_usd
from fusion_graph.state import CandidateRecord, FusionState, JudgeCallRecord
from fusion_graph.usage import CHARS_PER_TOKEN, estimate_tokens, price, tokens_of
from fusion_graph.verdicts import Analysis, BestOfVerdict, DebateVerdict, MergeVerdict, verdict_schema

__all__ = ["JudgeAsker", "JudgeRun", "ask_judges", "call_record", "judge_config", "judge_messages"]


@dataclass
class JudgeRun:
    """One decision in progress: the candidates, the evidence, and the judge calls made so far."""

    runtime: FusionRuntime
    state: FusionState
    conversation: str
    labels: dict[str, str]
    by_label: dict[str, CandidateRecord]
    evidence: Evidence
    write: EventWriter
    judge_in_pool: str | None
    calls: list[JudgeCallRecord] = field(default_factory=list)
    causes: list[str] = field(default_factory=list)
    errors: list[BaseException] = field(default_factory=list)
    issues: list[str] = field(default_factory=list)
    dissent: str | None = None
    swap: str | None = None
    streams_answer: bool = False
    """The run asked for a streamed answer: a picked answer goes out in several pieces, and a merge
    is an analysis then a streamed writer call (see :mod:`fusion_graph.graph.nodes._writer`)."""
    judge_index: int = 0
    """Which of the runtime's judges gave the last verdict :func:`ask_judges` returned."""
    reliabilities: Reliabilities | None = None
    """The voices' reliabilities for this decision (prior, calibration or history)."""
    check: JudgeCheck | None = None
    """What the judge's pick went through (set by ``judge_swap``'s two orders, or the check)."""
    decision: DecisionRecord | None = None
    """Why the answer is the answer (see :mod:`fusion_graph.graph._decision`)."""

    def spent(self) -> float:
        """What the fusion has cost so far, this decision's judge calls included."""
        return spent_usd(self.state) + sum(call["cost_usd"] for call in self.calls)


async def ask_judges(
    run: JudgeRun, asker: JudgeAsker, kind: str, *, note: str | None = None, only_first: bool = False
) -> tuple[Any, str] | None:
    """Ask the judge, then its fallbacks, until one gives a consistent verdict.

    A verdict with problems (see :func:`verdict_problems`) is asked again once, with the problems
    named; if that fails too, the next fallback is asked. With ``judge_swap`` a best-of verdict is
    asked twice, the second time in reversed order, and the two are combined.
    """
    config = run.runtime.config
    judges = run.runtime.judges[:1] if only_first else run.runtime.judges
    for index, (name, _, _) in enumerate(judges):
        decided_by = f"judge:{name}" if index == 0 else f"fallback:{name}"
        order = list(run.labels)
        verdict = await asker.ask(run, index, kind, order, note)
        if verdict is None:
            continue
        if kind not in ("merge", "analysis") and config.judge_swap:
            swapped = await asker.ask(run, index, kind, order[::-1], note)
            if swapped is not None:
                verdict = combine(run, cast(BestOfVerdict, verdict), cast(BestOfVerdict, swapped))
            else:
                run.swap = "the reversed-order verdict failed; the first verdict decides"
        run.judge_index = index
        return verdict, decided_by
    return None


def combine(run: JudgeRun, first: BestOfVerdict, second: BestOfVerdict) -> BestOfVerdict:
    """Two verdicts on the same candidates in opposite orders, as one."""
    total: dict[str, float] = {label: 0.0 for label in run.labels}
    for verdict in (first, second):
        for score in verdict.scores:
            total[score.label] = total.get(score.label, 0.0) + score.score
    if first.winner == second.winner:
        run.swap = f"both orders chose {first.winner}"
        winner = first.winner
        run.check = "held"
    else:
        same = run.evidence.key_of(first.winner)
        run.check = "held" if same is not None and same == run.evidence.key_of(second.winner) else "flipped"
        sizes = {
            label: next((len(c.members) for c in run.evidence.classes if label in c.members), 0)
            for label in (first.winner, second.winner)
        }
        winner = max((first.winner, second.winner), key=lambda label: (sizes[label], total.get(label, 0.0)))
        run.swap = (
            f"the orders disagreed ({first.winner} vs {second.winner}); {winner} has more agreement "
            "or the higher summed score"
        )
    averaged = [
        score.model_copy(update={"score": round(total[score.label] / 2, 2)}) for score in first.scores
    ]
    return first.model_copy(update={"winner": winner, "scores": averaged})


class JudgeAsker:
    """Calls one judge for a structured verdict, checks it, and asks once more on a problem."""

    def __init__(self, runtime: FusionRuntime) -> None:
        self.runtime = runtime
        self.wrappers: dict[tuple[int, type[BaseModel]], Runnable[Any, Any]] = {}

    async def ask(
        self, run: JudgeRun, index: int, kind: str, order: list[str], note: str | None
    ) -> BaseModel | None:
        """One judge's verdict on the candidates in ``order`` (labels renumbered as shown)."""
        name, spec, model = self.runtime.judges[index]
        shown = {f"answer_{i + 1}": label for i, label in enumerate(order)}
        views = {new: candidate_view(run.by_label[old]) for new, old in shown.items()}
        summary = answers.describe_agreement(
            {new: run.evidence.key_of(old) for new, old in shown.items()}, list(shown)
        )
        messages, cuts = judge_messages(kind, run.conversation, views, spec, agreement=summary)
        if note is not None:
            messages.append(HumanMessage(_renumber(note, shown)))
        problems: list[str] = []
        for attempt in range(2):
            if attempt == 1:
                retry = prompts.VERDICT_REASK.format(problems="; ".join(problems))
                messages = [*messages, HumanMessage(retry)]
            verdict = await self._call(run, index, kind, list(shown), messages, cuts)
            if verdict is None:
                return None
            if kind == "analysis":  # a streamed merge's analysis: nothing in it can contradict itself
                return verdict
            if isinstance(verdict, MergeVerdict):
                if verdict.answer.strip():
                    return verdict
                problems = ["the merged answer is empty"]
            else:
                best = cast(BestOfVerdict, verdict)
                problems = verdict_problems(best, views, answers_differ=lambda: _differ(run))
                if not problems:
                    return _relabel(best, shown)
            run.issues.extend(f"{name}: {_run_labels(problem, shown)}" for problem in problems)
        cause = f"the verdict contradicted itself twice ({_run_labels('; '.join(problems), shown)})"
        run.causes.append(f"{name}: {cause}")
        run.errors.append(ValueError(cause))
        return None

    async def _call(
        self,
        run: JudgeRun,
        index: int,
        kind: str,
        labels: list[str],
        messages: list[BaseMessage],
        cuts: list[str],
    ) -> BaseModel | None:
        name, spec, model = self.runtime.judges[index]
        config = self.runtime.config
        worst = over_budget(config, spec, messages, run.spent())
        if worst is not None:
            error = f"budget: skipped, its call (up to ${worst:.6f}) would cross the budget"
            run.calls.append(call_record(name, spec, None, 0.0, error, cuts))
            run.causes.append(f"{name}: {error}")
            return None
        run.write(JudgeStarted(type="judge_started", judge=name, candidates=len(labels)))
        started = time.perf_counter()
        raw: AIMessage | None = None
        public: type[BaseModel] = _PUBLIC.get(kind, BestOfVerdict)
        verdict: BaseModel | None = None
        error: str | None = None
        try:
            grammar_judge = self.runtime.judge_profiles[index].structured_output == "grammar"
            schema = verdict_schema(kind, labels, fixed_order=grammar_judge)
            structured = self.wrappers.get((index, schema))
            if structured is None:  # built once per judge and schema, not on every fusion
                structured = self.wrappers[(index, schema)] = model.with_structured_output(
                    schema, include_raw=True
                )
            async with asyncio.timeout(spec.timeout):
                out = await structured.ainvoke(messages, judge_config(name))
            raw = out["raw"] if isinstance(out, dict) else None
            parsed = out.get("parsed") if isinstance(out, dict) else out
            if parsed is None:
                problem = out.get("parsing_error") if isinstance(out, dict) else None
                raise ValueError(f"the verdict did not parse: {problem or 'no structured output'}")
            parsed = parsed.model_dump() if isinstance(parsed, BaseModel) else parsed
            verdict = public.model_validate(parsed)
        except TimeoutError as exc:
            error = f"timeout: no verdict within {spec.timeout} s"
            run.errors.append(exc)
        except Exception as exc:
            error = f"{type(exc).__name__}: {exc}"
            run.errors.append(exc)
        run.calls.append(call_record(name, spec, raw, time.perf_counter() - started, error, cuts))
        if verdict is None:
            run.causes.append(f"{name}: {error}")
        return verdict


_PUBLIC: dict[str, type[BaseModel]] = {
    "merge": MergeVerdict,
    "debate": DebateVerdict,
    "analysis": Analysis,
}


def _differ(run: JudgeRun) -> bool:
    """Whether the candidates' answers differ (asked only when a verdict scores them all alike)."""
    return not all_alike(run.evidence, [r["text"] for r in run.by_label.values()])


def _relabel(verdict: BestOfVerdict, shown: dict[str, str]) -> BestOfVerdict:
    """A verdict on renumbered labels, in the run's own labels."""
    scores = [s.model_copy(update={"label": shown[normalise_label(s.label)]}) for s in verdict.scores]
    return verdict.model_copy(update={"winner": shown[normalise_label(verdict.winner)], "scores": scores})


def _run_labels(text: str, shown: dict[str, str]) -> str:
    """A problem written with the labels this call showed, in the run's labels (as the result shows)."""
    return re.sub(r"answer_\d+", lambda m: shown.get(m.group(0), m.group(0)), text)


def _renumber(note: str, shown: dict[str, str]) -> str:
    """A note written with the run's labels, in the labels this call shows."""
    back = {old: new for new, old in shown.items()}
    return re.sub(r"answer_\d+", lambda m: back.get(m.group(0), m.group(0)), note)


def judge_messages(
    kind: str, conversation: str, views: dict[str, str], spec: Judge, *, agreement: str | None = None
) -> tuple[list[BaseMessage], list[str]]:
    """The judge's prompt (:func:`prompts.judge_prompt`), the answers condensed to fit its window."""
    system = prompts.judge_system(kind)
    cuts: list[str] = []
    window = spec.context_window
    if window is not None:
        reserve = int(spec.params.get("max_tokens") or 1024)
        fixed = estimate_tokens(system + conversation) + 200
        share = max(200, (window - reserve - fixed) * CHARS_PER_TOKEN // max(1, len(views)))
        if any(len(view) > share for view in views.values()):
            cuts.append(
                f"judge {spec.label}: condensed answers longer than {share} characters to fit {window} tokens"
            )
            views = {label: condense(view, share) for label, view in views.items()}
        if estimate_tokens(conversation) > window // 2:
            cuts.append(f"judge {spec.label}: condensed the conversation to half of {window} tokens")
            conversation = condense(conversation, window // 2 * CHARS_PER_TOKEN)
    system, user = prompts.judge_prompt(kind, conversation, views, agreement=agreement)
    return [SystemMessage(system), HumanMessage(user)], cuts


def call_record(
    name: str, spec: Judge, raw: AIMessage | None, seconds: float, error: str | None, cuts: list[str]
) -> JudgeCallRecord:
    spent = tokens_of(raw) if raw is not None else (0, 0)
    return JudgeCallRecord(
        judge=name,
        input_tokens=spent[0],
        output_tokens=spent[1],
        cost_usd=price(spec, *spent),
        latency_s=round(seconds, 4),
        error=error,
        raw=raw_text(raw) if error else None,
        cuts=cuts,
    )


def judge_config(name: str) -> RunnableConfig:
    return merge_configs(
        ensure_config(),
        RunnableConfig(tags=["fusion:judge"], metadata={"fusion_judge": name}),
    )


def raw_text(raw: AIMessage | None) -> str | None:
    if raw is None:
        return None
    if raw.text:
        return raw.text
    calls = [c["args"] for c in raw.tool_calls] + [c.get("args") for c in raw.invalid_tool_calls]
    return json.dumps(calls, default=str) if calls else ""
