"""The judge: anonymised, shuffled candidates in; a structured verdict and the answer out."""

from __future__ import annotations

import hashlib
import random
from typing import Any, cast

from langchain_core.messages import AIMessage
from langgraph.config import get_config, get_stream_writer
from pydantic import BaseModel

from fusion_graph import answers, prompts
from fusion_graph.errors import JudgeFailed
from fusion_graph.events import (
    AnswerDelta,
    AnswerFinished,
    AnswerStarted,
    EventWriter,
    VerdictEvent,
    answer_pieces,
)
from fusion_graph.graph import _similarity
from fusion_graph.graph._runtime import FusionRuntime
from fusion_graph.graph.nodes import AsyncNode
from fusion_graph.graph.nodes._evidence import Evidence, read_evidence
from fusion_graph.graph.nodes._judge_call import JudgeAsker, JudgeRun, ask_judges
from fusion_graph.graph.nodes._writer import write_answer
from fusion_graph.graph.nodes.gather import candidate_view, finish_round, latest_answers, needs_gather_node
from fusion_graph.state import CandidateRecord, FusionState, JudgeCallRecord
from fusion_graph.verdicts import Analysis, BestOfVerdict, MergeVerdict

__all__ = ["STREAM_ANSWER", "final_candidates", "make_judge_node", "shuffled"]

STREAM_ANSWER = "fusion_stream_answer"
"""The ``configurable`` flag of a run that streams its answer: a merge then writes it in a second,
streamed call (see :mod:`fusion_graph.graph.nodes._writer`); other modes send the picked text in pieces."""


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


def make_judge_node(runtime: FusionRuntime) -> AsyncNode[FusionState]:
    """The node that decides, from the judge's verdict and the candidates' agreement."""
    config = runtime.config
    judge_in_pool = config.judge_member()
    asker = JudgeAsker(runtime)

    ends_round = not needs_gather_node(runtime)

    async def judge(state: FusionState) -> dict[str, Any]:
        if ends_round:  # no gather node in this graph: end the round here
            ended = finish_round(runtime, state)
            return {**ended, **await decide(state)}
        return await decide(state)

    async def decide(state: FusionState) -> dict[str, Any]:
        records = final_candidates(state, config.mode)
        conversation = prompts.render_conversation(state["messages"])
        order = shuffled(records, config.seed, conversation) if config.shuffle else records
        labels = {f"answer_{i + 1}": record["member"] for i, record in enumerate(order)}
        by_label = dict(zip(labels, order, strict=True))
        evidence = read_evidence(labels, by_label, config.answer_format)
        run = JudgeRun(
            runtime=runtime,
            state=state,
            conversation=conversation,
            labels=labels,
            by_label=by_label,
            evidence=evidence,
            write=get_stream_writer(),
            judge_in_pool=judge_in_pool,
            streams_answer=bool(get_config().get("configurable", {}).get(STREAM_ANSWER)),
        )
        run.issues.extend(evidence.issues)
        if state.get("escalated") is False:
            return _decide(run, _consensus_pick(evidence, by_label)[0], "scouts:agree")
        if len(order) == 1:
            return _decide(run, "answer_1", "only-candidate")
        asks_tools = any(record["tool_calls"] for record in order)
        if config.mode == "vote":
            return await _vote(run, asker)
        if config.mode == "merge" and not asks_tools:
            return await (_merge_streamed(run, asker) if run.streams_answer else _merge(run, asker))
        return await _best_of(run, asker, "debate" if config.mode == "debate" else "best-of")

    return judge


def _decide(
    run: JudgeRun,
    label: str,
    decided_by: str,
    verdict: BaseModel | None = None,
    answer: str | None = None,
    *,
    streamed: bool = False,
) -> dict[str, Any]:
    """The state update for a decision: a winning label, or a written ``answer`` (merge).

    The answer's events (``answer_started``, ``answer_delta``…) go out here, unless the answer was
    ``streamed`` already by the writer.
    """
    winner = run.by_label[label] if answer is None else None
    final_key = run.evidence.key_of(label) if answer is None else _key_of_text(run, answer)
    text = answer if answer is not None else run.by_label[label]["text"]
    update = _decided(
        run.runtime.config.mode,
        run.judge_in_pool,
        text,
        decided_by,
        winner,
        run.labels,
        verdict,
        run.calls,
        run.write,
        pieces=None if streamed else answer_pieces(text, 8 if run.streams_answer else None),
    )
    update["evidence"] = {
        "answers": {
            run.labels[lab]: (answers.display(key) if key is not None else None)
            for lab, key in run.evidence.keys.items()
        },
        "agreement": run.evidence.summary(),
        "verdict_issues": list(run.issues),
        "dissent": run.dissent,
        "minority": run.evidence.minority(final_key),
        "swap": run.swap,
    }
    return update

def _judge_free(run: JudgeRun) -> dict[str, Any]:
    """No judge could decide: the agreement decides, or the most consistent answer."""
    config = run.runtime.config
    if not config.judge_free_fallback:
        judges = run.runtime.judges
        raise JudgeFailed(
            judges[-1][0], "; ".join(run.causes), raw=run.calls[-1]["raw"] if run.calls else None,
            causes=run.causes,
            exceptions=run.errors,
        )
    label, how = _consensus_pick(run.evidence, run.by_label)
    return _decide(run, label, f"judge-free:{how}")

def _key_of_text(run: JudgeRun, text: str) -> str | None:
    try:
        return answers.extract_answer(text, (), answer_format=run.runtime.config.answer_format)
    except Exception as exc:  # a user's extractor: its failure is an issue, not a crash
        run.issues.append(f"answer_format raised {type(exc).__name__}: {exc} (for the fused answer)")
        return None


def _consensus_pick(evidence: Evidence, by_label: dict[str, CandidateRecord]) -> tuple[str, str]:
    """The label the candidates' agreement picks, and how it picked.

    ``agreement``: the unique largest class of final answers; ``most-consistent``: the answer most
    alike the others.
    """
    top = evidence.plurality()
    if top is not None:
        return evidence.best_of_class(top), "agreement"
    texts = [candidate_view(record) for record in by_label.values()]
    return list(by_label)[_similarity.most_consistent(texts)], "most-consistent"


async def _vote(run: JudgeRun, asker: JudgeAsker) -> dict[str, Any]:
    """The most common final answer; the judge only breaks a tie or reads answers with none."""
    evidence = run.evidence
    top = evidence.plurality()
    if top is not None:
        strict = 2 * len(top.members) > len(run.labels)
        return _decide(run, evidence.best_of_class(top), "vote:majority" if strict else "vote:plurality")
    asked = await ask_judges(run, asker, "best-of")
    if asked is None:
        return _judge_free(run)
    verdict, decided_by = asked
    classes = evidence.classes
    tied = [c for c in classes if classes and len(c.members) == len(classes[0].members)]
    winner = verdict.winner
    if tied and all(winner not in c.members for c in tied):
        scores = _scores(verdict)
        best = max(tied, key=lambda c: sum(scores.get(label, 0.0) for label in c.members))
        winner = evidence.best_of_class(best, scores)
        run.issues.append(
            f"the judge's winner {verdict.winner} is outside the tied answers; took {winner}, the tied "
            "answer it scored best"
        )
    return _decide(run, winner, decided_by, verdict)


async def _best_of(run: JudgeRun, asker: JudgeAsker, kind: str) -> dict[str, Any]:
    """The judge's winner, checked against a strict majority of the comparable answers."""
    config = run.runtime.config
    asked = await ask_judges(run, asker, kind)
    if asked is None:
        return _judge_free(run)
    verdict, decided_by = asked
    winner = verdict.winner
    majority = run.evidence.majority()
    winner_key = run.evidence.key_of(winner)
    if majority is None or winner_key == majority.key:
        return _decide(run, winner, decided_by, verdict)
    shown = answers.display(winner_key) if winner_key is not None else "no comparable answer"
    count = f"{len(majority.members)}/{run.evidence.comparable}"
    run.dissent = (
        f"the judge chose {winner} ({shown}) but {count} answers reach {answers.display(majority.key)}"
    )
    if config.majority_policy == "judge":
        return _decide(run, winner, decided_by, verdict)
    if config.majority_policy == "reask":
        note = prompts.MAJORITY_REASK.format(
            winner=winner, shown=shown, count=count, majority=answers.display(majority.key)
        )
        again = await ask_judges(run, asker, kind, note=note, only_first=True)
        if again is not None and run.evidence.key_of(again[0].winner) == majority.key:
            return _decide(run, again[0].winner, again[1], again[0])
    label = run.evidence.best_of_class(majority, _scores(verdict))
    return _decide(run, label, f"majority:{count}", verdict)


async def _merge(run: JudgeRun, asker: JudgeAsker) -> dict[str, Any]:
    """The judge's merged answer, checked against a strict majority of the comparable answers.

    A merged final answer that no candidate gave is an invented answer (a verdict issue); one that
    only a minority gave is a dissent. Either way, when a strict majority reaches another answer,
    ``merge_policy`` decides.
    """
    config = run.runtime.config
    asked = await ask_judges(run, asker, "merge")
    if asked is None:
        return _judge_free(run)
    verdict, decided_by = asked
    merged = cast(MergeVerdict, verdict)
    checked = _check_merged(run, merged.answer)
    if checked is None:
        return _decide(run, "answer_1", decided_by, merged, answer=merged.answer)
    majority, shown, which, count, target = checked
    if config.merge_policy == "keep":
        return _decide(run, "answer_1", decided_by, merged, answer=merged.answer)
    if config.merge_policy == "reask":
        note = prompts.MERGE_REASK.format(shown=shown, which=which, count=count, majority=target)
        again = await ask_judges(run, asker, "merge", note=note, only_first=True)
        if again is not None:
            redo = cast(MergeVerdict, again[0])
            if _key_of_text(run, redo.answer) == majority.key:
                return _decide(run, "answer_1", again[1], redo, answer=redo.answer)
    label = run.evidence.best_of_class(majority)
    return _decide(run, label, f"majority:{count}", merged)


def _check_merged(run: JudgeRun, text: str) -> tuple[Any, str, str, str, str] | None:
    """Check a merged answer against a strict majority; ``None`` when it passes.

    On a miss, the dissent (and, for an answer no candidate gave, a verdict issue) is recorded and
    ``(majority, shown, which, count, target)`` returned for the policy to act on.
    """
    majority = run.evidence.majority()
    key = _key_of_text(run, text)
    if majority is None or key is None or key == majority.key:
        return None
    shown, target = answers.display(key), answers.display(majority.key)
    count = f"{len(majority.members)}/{run.evidence.comparable}"
    novel = key not in set(run.evidence.keys.values())
    which = "which no answer reaches" if novel else "a minority's answer"
    run.dissent = f"the merged answer reaches {shown}, {which}, while {count} answers reach {target}"
    if novel:
        run.issues.append(run.dissent)
    return majority, shown, which, count, target


async def _merge_streamed(run: JudgeRun, asker: JudgeAsker) -> dict[str, Any]:
    """A merge whose answer streams: a structured analysis, then a plain-text writer call.

    Only for runs that ask for a streamed answer (``configurable["fusion_stream_answer"]``); other
    runs keep :func:`_merge`'s single structured call. The writer is told the majority's answer when
    a strict majority of comparable answers exists and ``merge_policy`` is not ``keep``. Its text
    goes out token by token as it is written and cannot be taken back, so the result's answer IS
    the streamed text: the majority check afterwards (as in :func:`_merge`) only records a dissent
    and verdict issues, whatever ``merge_policy`` says. If the analysis fails on every judge, or the
    writer fails before writing anything, the judge-free pick decides (``judge-free:…``, or
    :class:`JudgeFailed` when that fallback is off); a writer that fails midway ends the run with
    :class:`JudgeFailed`.
    """
    config = run.runtime.config
    asked = await ask_judges(run, asker, "analysis")
    if asked is None:
        return _judge_free(run)
    analysis, decided_by = cast(tuple[Analysis, str], asked)
    majority = run.evidence.majority()
    note = None
    if majority is not None and config.merge_policy != "keep":
        count = f"{len(majority.members)}/{run.evidence.comparable}"
        note = prompts.WRITER_MAJORITY.format(count=count, majority=answers.display(majority.key))
    text = await write_answer(run, run.judge_index, analysis, note)
    if text is None:
        return _judge_free(run)
    merged = MergeVerdict(**analysis.model_dump(), answer=text)
    if _check_merged(run, text) is not None and config.merge_policy != "keep":
        run.issues.append(
            f"merge_policy {config.merge_policy!r} could not act: the answer had been streamed"
        )
    return _decide(run, "answer_1", decided_by, merged, answer=text, streamed=True)


def _scores(verdict: BestOfVerdict) -> dict[str, float]:
    return {s.label: s.score for s in verdict.scores}


def _decided(
    mode: str,
    judge_in_pool: str | None,
    answer: str,
    decided_by: str,
    winner: CandidateRecord | None,
    labels: dict[str, str],
    verdict: BaseModel | None,
    calls: list[JudgeCallRecord],
    write: EventWriter,
    *,
    pieces: list[str] | None,
) -> dict[str, Any]:
    winner_name = winner["member"] if winner is not None else None
    tool_calls = winner["tool_calls"] if winner is not None else []
    if pieces is not None:
        write(AnswerStarted(type="answer_started", source="pick"))
        for piece in pieces:
            write(AnswerDelta(type="answer_delta", text=piece))
    write(AnswerFinished(type="answer_finished", tool_calls=list(tool_calls)))
    write(VerdictEvent(type="verdict", decided_by=decided_by, winner=winner_name, preview=answer[:120]))
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
