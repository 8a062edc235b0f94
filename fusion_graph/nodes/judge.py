"""The judge: anonymised, shuffled candidates in; a structured verdict and the answer out."""

from __future__ import annotations

import asyncio
import hashlib
import json
import random
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage
from langchain_core.runnables import Runnable, RunnableConfig
from langchain_core.runnables.config import ensure_config, merge_configs
from langgraph.config import get_stream_writer
from pydantic import BaseModel

from fusion_graph import _similarity, prompts
from fusion_graph._context import CHARS_PER_TOKEN, condense, estimate_tokens, messages_tokens
from fusion_graph._runtime import FusionRuntime
from fusion_graph.config import Judge
from fusion_graph.errors import JudgeFailed
from fusion_graph.nodes.gather import candidate_view, latest_answers, spent_usd
from fusion_graph.state import CandidateRecord, FusionState, JudgeCallRecord
from fusion_graph.usage import price, tokens_of, worst_case_cost
from fusion_graph.verdicts import BestOfVerdict, MergeVerdict, verdict_schema

__all__ = ["final_candidates", "make_judge_node", "render_conversation", "shuffled"]


def final_candidates(state: FusionState, mode: str) -> list[CandidateRecord]:
    """What the judge decides on: first answers, or each member's last answer in a debate."""
    candidates = state.get("candidates", [])
    if mode == "debate":
        return list(latest_answers(candidates).values())
    return [r for r in candidates if r["round"] == 0 and r["error"] is None]


def shuffled(records: list[CandidateRecord], seed: int, salt: str) -> list[CandidateRecord]:
    """The records in an order fixed by the seed and the prompt, so each prompt gets its own."""
    digest = hashlib.sha256(f"{seed}:{salt}".encode()).digest()
    order = list(records)
    random.Random(int.from_bytes(digest[:8], "big")).shuffle(order)
    return order


def render_conversation(messages: Sequence[BaseMessage]) -> str:
    """The conversation as plain text for the judge."""
    return "\n\n".join(f"{m.type}: {m.text}" for m in messages if m.text.strip())


def make_judge_node(runtime: FusionRuntime) -> Callable[[FusionState], Awaitable[dict[str, Any]]]:
    """The node that decides."""
    config = runtime.config

    judge_in_pool = config.judge_member()
    wrappers: dict[tuple[int, type[BaseModel]], Runnable[Any, Any]] = {}

    def decided(*args: Any) -> dict[str, Any]:
        return _decided(config.mode, judge_in_pool, *args)

    async def judge(state: FusionState) -> dict[str, Any]:
        records = final_candidates(state, config.mode)
        conversation = render_conversation(state["messages"])
        order = shuffled(records, config.seed, conversation) if config.shuffle else records
        labels = {f"answer_{i + 1}": record["member"] for i, record in enumerate(order)}
        by_label = dict(zip(labels, order, strict=True))
        write = get_stream_writer()
        if len(order) == 1:
            return decided(order[0]["text"], "only-candidate", order[0], labels, None, [], write)
        asks_tools = any(record["tool_calls"] for record in order)
        public: type[BaseModel] = MergeVerdict if config.mode == "merge" and not asks_tools else BestOfVerdict
        kind = "merge" if public is MergeVerdict else "best-of"
        system = {
            "merge": prompts.MERGE_SYSTEM,
            "debate": prompts.DEBATE_JUDGE_SYSTEM,
        }.get(config.mode, prompts.BEST_OF_SYSTEM)
        if public is BestOfVerdict and config.mode == "merge":
            system = prompts.BEST_OF_SYSTEM
        views = {label: candidate_view(record) for label, record in by_label.items()}
        calls: list[JudgeCallRecord] = []
        causes: list[str] = []
        for index, (name, spec, model) in enumerate(runtime.judges):
            messages, cuts = judge_messages(system, conversation, views, spec)
            worst = worst_case_cost(spec, messages_tokens(messages))
            spent = spent_usd(state) + sum(call["cost_usd"] for call in calls)
            if config.budget_usd is not None and spent + worst > config.budget_usd:
                error = f"budget: skipped, its call (up to ${worst:.6f}) would cross the budget"
                calls.append(_call_record(name, spec, None, 0.0, error, cuts))
                causes.append(f"{name}: {error}")
                continue
            write({"type": "judge_started", "judge": name, "candidates": len(order)})
            started = time.perf_counter()
            raw: AIMessage | None = None
            try:
                grammar_judge = getattr(model, "_llm_type", "") == "fusion-graph-local"
                schema = verdict_schema(kind, list(labels), fixed_order=grammar_judge)
                structured = wrappers.get((index, schema))
                if structured is None:  # built once per judge and schema, not on every fusion
                    structured = wrappers[(index, schema)] = model.with_structured_output(
                        schema, include_raw=True
                    )
                async with asyncio.timeout(spec.timeout):
                    out = await structured.ainvoke(messages, _judge_config(name))
                raw = out["raw"] if isinstance(out, dict) else None
                parsed = out.get("parsed") if isinstance(out, dict) else out
                if parsed is None:
                    problem = out.get("parsing_error") if isinstance(out, dict) else None
                    raise ValueError(f"the verdict did not parse: {problem or 'no structured output'}")
                parsed = parsed.model_dump() if isinstance(parsed, BaseModel) else parsed
                verdict = public.model_validate(parsed)
                if isinstance(verdict, BestOfVerdict):
                    verdict = _check_labels(verdict, labels)
                error = None
            except TimeoutError:
                verdict, error = None, f"timeout: no verdict within {spec.timeout} s"
            except Exception as exc:
                verdict, error = None, f"{type(exc).__name__}: {exc}"
            calls.append(_call_record(name, spec, raw, time.perf_counter() - started, error, cuts))
            if verdict is None:
                causes.append(f"{name}: {error}")
                continue
            decided_by = f"judge:{name}" if index == 0 else f"fallback:{name}"
            if isinstance(verdict, MergeVerdict):
                return decided(verdict.answer, decided_by, None, labels, verdict, calls, write)
            winner = by_label[verdict.winner]
            return decided(winner["text"], decided_by, winner, labels, verdict, calls, write)
        if not config.judge_free_fallback:
            raise JudgeFailed(runtime.judges[-1][0], "; ".join(causes), raw=calls[-1]["raw"], causes=causes)
        pick = order[_similarity.most_consistent([candidate_view(r) for r in order])]
        return decided(pick["text"], "judge-free:most-consistent", pick, labels, None, calls, write)

    return judge


def judge_messages(
    system: str, conversation: str, views: dict[str, str], spec: Judge
) -> tuple[list[BaseMessage], list[str]]:
    """The judge's prompt, with the candidates condensed when it would not fit the judge's window."""
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
    blocks = "\n\n".join(
        prompts.CANDIDATE_BLOCK.format(label=label, text=view) for label, view in views.items()
    )
    user = prompts.JUDGE_USER.format(conversation=conversation, count=len(views), candidates=blocks)
    return [SystemMessage(system), HumanMessage(user)], cuts


def _call_record(
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
        raw=_raw_text(raw) if error else None,
        cuts=cuts,
    )


def _judge_config(name: str) -> RunnableConfig:
    return merge_configs(
        ensure_config(),
        RunnableConfig(tags=["fusion:judge"], metadata={"fusion_judge": name}),
    )


def _check_labels(verdict: BestOfVerdict, labels: dict[str, str]) -> BestOfVerdict:
    """Accept labels written loosely (``[Answer_2]``); reject any that was not shown.

    Every candidate must be scored once: a verdict that scores a label twice or leaves one out is
    a failure of the judge, not a partial verdict.
    """

    def known(label: str, what: str) -> str:
        wanted = label.strip().strip("[]").strip().lower().replace(" ", "_")
        if wanted not in labels:
            raise ValueError(f"the {what} {label!r} is not one of the labels {list(labels)}")
        return wanted

    scores = [s.model_copy(update={"label": known(s.label, "scored label")}) for s in verdict.scores]
    scored = sorted(s.label for s in scores)
    if scored != sorted(labels):
        raise ValueError(f"the scores cover {scored}, not each of {sorted(labels)} once")
    return verdict.model_copy(update={"winner": known(verdict.winner, "winner"), "scores": scores})


def _raw_text(raw: AIMessage | None) -> str | None:
    if raw is None:
        return None
    if raw.text:
        return raw.text
    calls = [c["args"] for c in raw.tool_calls] + [c.get("args") for c in raw.invalid_tool_calls]
    return json.dumps(calls, default=str) if calls else ""


def _decided(
    mode: str,
    judge_in_pool: str | None,
    answer: str,
    decided_by: str,
    winner: CandidateRecord | None,
    labels: dict[str, str],
    verdict: BaseModel | None,
    calls: list[JudgeCallRecord],
    write: Callable[[Any], None],
) -> dict[str, Any]:
    winner_name = winner["member"] if winner is not None else None
    tool_calls = winner["tool_calls"] if winner is not None else []
    write({"type": "verdict", "decided_by": decided_by, "winner": winner_name, "preview": answer[:120]})
    message = AIMessage(
        content=answer,
        name="fusion",
        tool_calls=tool_calls,  # type: ignore[arg-type]
        response_metadata={"fusion": {"decided_by": decided_by, "winner": winner_name}},
    )
    return {
        "mode": mode,
        "judge_in_pool": judge_in_pool,
        "answer": answer,
        "answer_tool_calls": tool_calls,
        "decided_by": decided_by,
        "winner_member": winner_name,
        "labels": labels,
        "verdict": verdict.model_dump() if verdict is not None else None,
        "judge_calls": calls,
        "messages": [message],
    }
