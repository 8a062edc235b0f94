"""A streamed merge's second step: the judge writes the answer as plain text, each token sent at once.

Used only when a run asks for a streamed answer (``configurable["fusion_stream_answer"]``, set by
``Fusion.stream(stream_mode="messages")``, ``FusionChatModel.astream``/``stream`` and ``fusion serve``
with ``stream: true``). The judge first fills the structured :class:`~fusion_graph.verdicts.Analysis`
(no answer field); then this call gets the conversation, the labelled candidates and that analysis,
and its text chunks go out as ``answer_delta`` events the moment they arrive.
"""

from __future__ import annotations

import asyncio
import time

from langchain_core.messages import AIMessageChunk, HumanMessage

from fusion_graph import answers, prompts
from fusion_graph.errors import JudgeFailed
from fusion_graph.events import AnswerDelta, AnswerStarted
from fusion_graph.graph._decision import over_budget
from fusion_graph.graph.nodes._judge_call import JudgeRun, call_record, judge_config, judge_messages
from fusion_graph.graph.nodes.gather import candidate_view
from fusion_graph.verdicts import Analysis

__all__ = ["render_analysis", "write_answer"]

_SECTIONS = (
    ("Consensus", "consensus"),
    ("Contradictions", "contradictions"),
    ("Unique insights", "unique_insights"),
    ("Blind spots", "blind_spots"),
)


def render_analysis(analysis: Analysis) -> str:
    """The analysis as short plain-text lists, for the writer's prompt."""
    lines: list[str] = []
    for title, name in _SECTIONS:
        points: list[str] = getattr(analysis, name)
        lines.append(f"{title}:")
        lines.extend(f"- {point}" for point in points or ["(none)"])
    return "\n".join(lines)


async def write_answer(run: JudgeRun, index: int, analysis: Analysis, note: str | None) -> str | None:
    """Stream the judge's written answer; every text chunk is an ``answer_delta`` at once.

    The call is recorded in ``run.calls`` like every judge call (tokens, cost, latency), so its
    usage is counted. The budget check is the structured calls' one.

    Args:
        run: The decision in progress (its ``write`` sends the events).
        index: Which of the runtime's judges writes (the one whose analysis is used).
        analysis: The judge's analysis of the candidates.
        note: An extra instruction (the majority the answer must reach), or ``None``.

    Returns:
        The written answer, or ``None`` when the call failed (or was skipped, or wrote nothing)
        before any text went out: the caller then falls back (the judge-free pick).

    Raises:
        JudgeFailed: The call failed after some text had been streamed. Streamed text cannot be
            taken back, so the run ends with this error rather than with a different answer.
    """
    name, spec, model = run.runtime.judges[index]
    views = {label: candidate_view(record) for label, record in run.by_label.items()}
    summary = answers.describe_agreement(
        {label: run.evidence.key_of(label) for label in run.labels}, list(run.labels)
    )
    messages, cuts = judge_messages("writer", run.conversation, views, spec, agreement=summary)
    extra = prompts.WRITER_ANALYSIS.format(analysis=render_analysis(analysis))
    if note:
        extra += "\n\n" + note
    messages[-1] = HumanMessage(f"{messages[-1].text}\n\n{extra}")
    worst = over_budget(run.runtime.config, spec, messages, run.spent())
    if worst is not None:
        error = f"budget: skipped the writer, its call (up to ${worst:.6f}) would cross the budget"
        run.calls.append(call_record(name, spec, None, 0.0, error, cuts))
        run.causes.append(f"{name}: {error}")
        return None
    run.write(AnswerStarted(type="answer_started", source="writer"))
    started = time.perf_counter()
    raw: AIMessageChunk | None = None
    parts: list[str] = []
    error: str | None = None
    failure: BaseException | None = None
    try:
        async with asyncio.timeout(spec.timeout):
            async for chunk in model.astream(messages, judge_config(name)):
                raw = chunk if raw is None else raw + chunk  # type: ignore[assignment]
                text = chunk.text
                if text:
                    parts.append(text)
                    run.write(AnswerDelta(type="answer_delta", text=text))
    except TimeoutError as exc:
        error, failure = f"timeout: the writer did not finish within {spec.timeout} s", exc
    except Exception as exc:
        error, failure = f"{type(exc).__name__}: {exc}", exc
    text = "".join(parts)
    if error is None and not text.strip():
        error = "the written answer is empty"
        failure = ValueError(error)
    run.calls.append(call_record(name, spec, raw, time.perf_counter() - started, error, cuts))
    if error is None:
        return text
    run.causes.append(f"{name}: writer: {error}")
    run.errors.append(failure or ValueError(error))
    if text:
        raise JudgeFailed(
            name,
            f"the writer failed after {len(text)} characters had been streamed: {error}",
            raw=text,
            causes=run.causes,
            exceptions=run.errors,
        )
    return None
