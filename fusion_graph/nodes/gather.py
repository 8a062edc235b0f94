"""Gather a round: fail when nobody answered, measure agreement, route the debate."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from langgraph.config import get_stream_writer
from langgraph.types import Send

from fusion_graph import _similarity
from fusion_graph._runtime import FusionRuntime
from fusion_graph.errors import AllMembersFailed, MemberFailed
from fusion_graph.state import CandidateRecord, FusionState, MemberTask

__all__ = ["candidate_view", "fan_out", "latest_answers", "make_gather_node", "make_router"]


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
        prompts.TOOL_TRACE_LINE.format(name=t["name"], args=t["args"], result=t["result"][:500])
        for t in record["tool_trace"]
    ]
    lines += [f"(asks to call) {c['name']}({c['args']})" for c in record["tool_calls"]]
    return "\n".join([*lines, record["text"]]) if lines else record["text"]


def fan_out(runtime: FusionRuntime) -> Callable[[FusionState], list[Send]]:
    """The first round: one ``Send`` per member."""

    def route(state: FusionState) -> list[Send]:
        return [
            Send("member", MemberTask(member=name, round=0, messages=state["messages"], own=None,
                                      peers=[]))
            for name in runtime.members
        ]

    return route


def make_gather_node(runtime: FusionRuntime) -> Callable[[FusionState], Awaitable[dict[str, Any]]]:
    """The node after each round."""
    consensus = runtime.config.consensus

    async def gather(state: FusionState) -> dict[str, Any]:
        candidates = state.get("candidates", [])
        current = max(record["round"] for record in candidates)
        this_round = [record for record in candidates if record["round"] == current]
        answered = [r["member"] for r in this_round if r["error"] is None]
        failed = [r["member"] for r in this_round if r["error"] is not None]
        if current == 0 and not answered:
            raise AllMembersFailed([
                MemberFailed(r["member"], r["round"], r["error_kind"] or "error", r["error"] or "")
                for r in this_round
            ])
        texts = [candidate_view(r) for r in latest_answers(candidates).values()]
        agreement = _similarity.agreement(texts)
        converged = bool(
            runtime.config.mode == "debate"
            and consensus is not None
            and agreement is not None
            and agreement >= consensus
        )
        get_stream_writer()({
            "type": "round_finished", "round": current, "answered": answered, "failed": failed,
            "agreement": agreement, "converged": converged,
        })
        return {"round": current, "agreement": agreement, "converged": converged}

    return gather


def make_router(runtime: FusionRuntime) -> Callable[[FusionState], list[Send] | str]:
    """After a debate round: another round of revisions, or the judge."""
    rounds = runtime.config.rounds

    def route(state: FusionState) -> list[Send] | str:
        current = state.get("round", 0)
        candidates = state.get("candidates", [])
        answered_now = [r for r in candidates if r["round"] == current and r["error"] is None]
        if state.get("converged") or current >= rounds or len(answered_now) < 2:
            return "judge"
        latest = latest_answers(candidates)
        return [
            Send(
                "member",
                MemberTask(
                    member=record["member"],
                    round=current + 1,
                    messages=state["messages"],
                    own=candidate_view(record),
                    peers=[candidate_view(o) for name, o in latest.items() if name != record["member"]],
                ),
            )
            for record in answered_now
        ]

    return route
