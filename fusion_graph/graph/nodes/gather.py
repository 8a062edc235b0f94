"""Gather a round: fail when nobody answered, measure agreement, route the debate."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from typing import Any

from langgraph.config import get_stream_writer
from langgraph.types import Send

from fusion_graph.errors import AllMembersFailed, MemberFailed, QuorumNotReached
from fusion_graph.events import EventWriter, RoundFinished, ScoutsFinished
from fusion_graph.graph import _decision
from fusion_graph.graph._runtime import FusionRuntime
from fusion_graph.graph.nodes import AsyncNode
from fusion_graph.state import CandidateRecord, FusionState, MemberTask
from fusion_graph.usage import estimate_tokens, messages_tokens, worst_case_cost
from tool_registry.convert import clip

__all__ = [
    "answer_agreement",
    "candidate_view",
    "fan_out",
    "finish_round",
    "latest_answers",
    "make_gather_node",
    "make_router",
    "needs_gather_node",
]


def latest_answers(candidates: list[CandidateRecord]) -> dict[str, CandidateRecord]:
    """Each member's latest successful candidate, in the order members first answered."""
    latest: dict[str, CandidateRecord] = {}
    for record in candidates:
        if record["error"] is None and (
            record["member"] not in latest or record["round"] >= latest[record["member"]]["round"]
        ):
            latest[record["member"]] = record
    return latest


def candidate_view(record: CandidateRecord) -> str:
    """A candidate as others see it: its text, and the tool calls it made, if any."""
    from fusion_graph import prompts

    lines = [
        prompts.TOOL_TRACE_LINE.format(name=t["name"], args=t["args"], result=clip(t["result"], 500))
        for t in record["tool_trace"]
    ]
    lines += [f"(asks to call) {c['name']}({c['args']})" for c in record["tool_calls"]]
    text = "\n".join([*lines, record["text"]]) if lines else record["text"]
    return f"{text}\n{prompts.TRUNCATED_NOTE}" if record.get("truncated") else text


def spent_usd(state: FusionState) -> float:
    """What the fusion has cost so far."""
    return sum(r["cost_usd"] for r in state.get("candidates", [])) + sum(
        j["cost_usd"] for j in state.get("judge_calls", [])
    )


def plan_round(
    runtime: FusionRuntime, state: FusionState, round_: int, work: Sequence[tuple[str, str | None, list[str]]]
) -> list[Send]:
    """One ``Send`` per member of a round, with the budget shared out before any call starts.

    Each member's first call is reserved at its worst-case cost, in pool order, after the judge's
    worst case (when the judge can fit at all); a member whose call would not fit is skipped. What
    is left is the round's spare budget for extra tool-loop steps.
    """
    budget = runtime.config.budget_usd
    key = uuid.uuid4().hex
    left: float | None = None
    if budget is not None:
        judge_spec = runtime.judges[0][1]
        answers = sum(int(runtime.members[name][0].params.get("max_tokens") or 0) for name, _, _ in work)
        judge_input = messages_tokens(state["messages"]) + answers + 400
        left = budget - spent_usd(state)
        judge_worst = worst_case_cost(judge_spec, judge_input)
        if judge_worst <= left:  # keep room for the judge, unless it could never fit anyway
            left -= judge_worst
    tasks: list[MemberTask] = []
    for name, own, peers in work:
        task = MemberTask(
            member=name,
            round=round_,
            messages=state["messages"],
            own=own,
            peers=peers,
            round_key=key,
            round_size=len(work),
            skip=None,
            spare_usd=None,
        )
        if left is not None:
            spec = runtime.members[name][0]
            prompt = messages_tokens(state["messages"]) + sum(estimate_tokens(t) for t in [own or "", *peers])
            cost = worst_case_cost(spec, prompt)
            if cost > 0 and cost > left:
                task["skip"] = f"skipped: its call (up to ${cost:.6f}) would cross the budget"
            else:
                left -= cost
        tasks.append(task)
    for task in tasks:
        task["spare_usd"] = max(0.0, left) if left is not None else None
    return [Send("member", task) for task in tasks]


def fan_out(runtime: FusionRuntime) -> Callable[[FusionState], list[Send]]:
    """The first round: one ``Send`` per candidate (only the scouts' when there are scouts)."""

    def route(state: FusionState) -> list[Send]:
        names = runtime.scout_names() or list(runtime.members)
        return plan_round(runtime, state, 0, [(name, None, []) for name in names])

    return route


def answer_agreement(runtime: FusionRuntime, records: Sequence[CandidateRecord]) -> float | None:
    """How far answers agree (see :func:`fusion_graph.graph._decision.answer_agreement`)."""
    return _decision.answer_agreement(
        runtime.config.answer_format, records, [candidate_view(r) for r in records]
    )


def finish_round(runtime: FusionRuntime, state: FusionState) -> dict[str, Any]:
    """End a round: fail when too few answered, measure a debate's agreement, say so to the stream.

    Raises:
        AllMembersFailed: Nobody answered the first round.
        QuorumNotReached: Fewer than ``min_answers`` answered this round.
    """
    consensus = runtime.config.consensus
    candidates = state.get("candidates", [])
    current = max(record["round"] for record in candidates)
    this_round = [record for record in candidates if record["round"] == current]
    answered = [r["member"] for r in this_round if r["error"] is None]
    failed = [r["member"] for r in this_round if r["error"] is not None]
    causes = [
        MemberFailed(r["member"], r["round"], r["error_kind"] or "error", r["error"] or "")
        for r in this_round
        if r["error"] is not None
    ]
    if current == 0 and not answered:
        raise AllMembersFailed(causes)
    quorum = min(runtime.config.min_answers or 1, len(this_round))
    if len(answered) < quorum:
        raise QuorumNotReached(causes, answered=answered, needed=quorum, round=current)
    debate = runtime.config.mode == "debate"
    agreement = answer_agreement(runtime, list(latest_answers(candidates).values())) if debate else None
    converged = bool(debate and consensus is not None and agreement is not None and agreement >= consensus)
    write: EventWriter = get_stream_writer()
    write(
        RoundFinished(
            type="round_finished",
            round=current,
            answered=answered,
            failed=failed,
            agreement=agreement,
            converged=converged,
        )
    )
    return {"round": current, "agreement": agreement, "converged": converged}


def needs_gather_node(runtime: FusionRuntime) -> bool:
    """Whether a node between rounds must route (debate rounds, scouts); else the judge ends the round."""
    return runtime.config.mode == "debate" or bool(runtime.config.scouts)


def make_gather_node(runtime: FusionRuntime) -> AsyncNode[FusionState]:
    """The node after each round, when the graph routes between rounds (see :func:`needs_gather_node`)."""

    async def gather(state: FusionState) -> dict[str, Any]:
        if runtime.config.scouts and state.get("escalated") is None:
            this_round = [r for r in state.get("candidates", []) if r["round"] == 0]
            answered = [r["member"] for r in this_round if r["error"] is None]
            failed = [r["member"] for r in this_round if r["error"] is not None]
            scouts = [r for r in this_round if r["error"] is None]
            agree = _decision.scouts_agree(runtime.config, scouts, [candidate_view(r) for r in scouts])
            write: EventWriter = get_stream_writer()
            write(ScoutsFinished(type="scouts_finished", answered=answered, failed=failed, agree=agree))
            return {"round": 0, "escalated": not agree}
        return finish_round(runtime, state)

    return gather


def make_router(runtime: FusionRuntime) -> Callable[[FusionState], list[Send] | str]:
    """After a round: the rest of the pool (the scouts disagreed), a debate round, or the judge."""
    rounds = runtime.config.rounds
    scouts = set(runtime.scout_names())

    def route(state: FusionState) -> list[Send] | str:
        current = state.get("round", 0)
        candidates = state.get("candidates", [])
        if scouts and state.get("escalated") and current == 0:
            ran = {r["member"] for r in candidates if r["round"] == 0}
            rest = [name for name in runtime.members if name not in scouts and name not in ran]
            if rest:  # reuse the scouts' answers: only the others answer now
                return plan_round(runtime, state, 0, [(name, None, []) for name in rest])
        if runtime.config.mode != "debate" or state.get("escalated") is False:
            return "judge"  # (scouts that agree are not debated)
        answered_now = [r for r in candidates if r["round"] == current and r["error"] is None]
        if state.get("converged") or current >= rounds or len(answered_now) < 2:
            return "judge"
        latest = latest_answers(candidates)
        work = [
            (
                record["member"],
                candidate_view(record),
                [candidate_view(o) for name, o in latest.items() if name != record["member"]],
            )
            for record in answered_now
        ]
        return plan_round(runtime, state, current + 1, work)

    return route
