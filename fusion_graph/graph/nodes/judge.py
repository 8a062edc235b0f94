"""The judge: anonymised, shuffled candidates in; a structured verdict and the answer out."""

from __future__ import annotations

import hashlib
import random
from typing import Any, cast

from langchain_core.messages import AIMessage
from langgraph.config import get_config, get_store, get_stream_writer
from langgraph.store.base import BaseStore
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
from fusion_graph.graph import _history, _similarity
from fusion_graph.graph._decision import (
    PRIOR_JUDGE,
    PRIOR_MEMBER,
    JudgeCheck,
    Reliabilities,
    follows_member,
    leader,
    member_weight,
    needs_check,
    read_evidence,
    reliabilities,
    weigh,
)
from fusion_graph.graph._runtime import FusionRuntime
from fusion_graph.graph.nodes import AsyncNode
from fusion_graph.graph.nodes._judge_call import JudgeAsker, JudgeRun, ask_judges
from fusion_graph.graph.nodes._structured import decide_structured
from fusion_graph.graph.nodes._writer import write_answer
from fusion_graph.graph.nodes.gather import candidate_view, finish_round, latest_answers, needs_gather_node
from fusion_graph.state import CandidateRecord, FusionState, JudgeCallRecord
from fusion_graph.structured import run_format
from fusion_graph.verdicts import Analysis, BestOfVerdict, MergeVerdict

__all__ = ["STREAM_ANSWER", "final_candidates", "make_judge_node", "shuffled"]

FREE_TEXT_SAME = 0.9
"""How alike two free-text picks must read to count as the same pick in the reversed-order check."""

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
        structured = run_format(get_config())  # a response_format: structured answers, field by field
        evidence = read_evidence(labels, by_label, "json" if structured else config.answer_format)
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
        store = _store() if config.learn_reliability else None
        run.reliabilities = await _reliabilities(runtime, list(labels.values()), store)
        update = await _route(run, order, state, structured)
        if store is not None and run.decision is not None:
            await _history.record(store, config, _observations(run, update))
        return update

    async def _route(
        run: JudgeRun, order: list[CandidateRecord], state: FusionState, structured: Any
    ) -> dict[str, Any]:
        evidence = run.evidence
        if structured is not None:
            decision = await decide_structured(run, asker, structured)
            if decision is None:
                return _judge_free(run)
            label, answer = decision.label or "answer_1", decision.answer
            return _decide(run, label, decision.decided_by, decision.verdict, answer=answer)
        if state.get("escalated") is False:
            run.decision = weigh(evidence, _rel(run), pick=None, check="no-judge").record
            return _decide(run, _consensus_pick(run)[0], "scouts:agree")
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
        "decision": dict(run.decision) if run.decision is not None else None,
    }
    return update


def _key_of_text(run: JudgeRun, text: str) -> str | None:
    try:
        return answers.extract_answer(text, (), answer_format=run.evidence.answer_format)
    except Exception as exc:  # a user's extractor: its failure is an issue, not a crash
        run.issues.append(f"answer_format raised {type(exc).__name__}: {exc} (for the fused answer)")
        return None


def _store() -> BaseStore | None:
    try:
        return get_store()
    except Exception:  # no store in this graph's context
        return None


async def _reliabilities(runtime: FusionRuntime, names: list[str], store: BaseStore | None) -> Reliabilities:
    """Calibration from labels first; else learned history (``learn_reliability``); else the prior."""
    config = runtime.config
    judge = runtime.judges[0][0]
    learned = None
    if config.calibration is None and store is not None:
        priors = {f"member:{n.split('#')[0]}": PRIOR_MEMBER for n in names} | {f"judge:{judge}": PRIOR_JUDGE}
        learned = await _history.estimates(store, config, priors)
    return reliabilities(config, names, judge, calibration=config.calibration, learned=learned)


def _observations(run: JudgeRun, update: dict[str, Any]) -> dict[str, bool]:
    """What this decision shows about each voice: agreement with the fused answer; a held pick."""
    final = (update.get("evidence") or {}).get("decision") or {}
    winner = final.get("winner")
    out: dict[str, bool] = {}
    for label, key in run.evidence.keys.items():
        if key is not None and winner is not None:
            out[f"member:{run.labels[label].split('#')[0]}"] = answers.display(key) == winner
    if run.check in ("held", "flipped"):
        out[f"judge:{run.runtime.judges[run.judge_index][0]}"] = run.check == "held"
    return out


def _member_weights(run: JudgeRun) -> dict[str, float]:
    rel = cast(Reliabilities, run.reliabilities)
    return {label: member_weight(rel.members.get(name, PRIOR_MEMBER)) for label, name in run.labels.items()}


def _judge_free(run: JudgeRun) -> dict[str, Any]:
    """No judge could decide: the weighted agreement, else the most reliable, else the most consistent."""
    config = run.runtime.config
    if not config.judge_free_fallback:
        judges = run.runtime.judges
        raise JudgeFailed(
            judges[-1][0],
            "; ".join(run.causes),
            raw=run.calls[-1]["raw"] if run.calls else None,
            causes=run.causes,
            exceptions=run.errors,
        )
    label, how = _consensus_pick(run)
    if how == "agreement":
        run.decision = weigh(run.evidence, _rel(run), pick=None, check="no-judge").record
    else:  # not the weighed answer: say what decided
        reason = "the most reliable member" if how == "most-reliable" else "the answer most alike the others"
        took = f"took {run.labels[label]}'s, {reason}"
        _record_taken(run, label, f"no judge decided and no answer had two votes; {took}")
    return _decide(run, label, f"judge-free:{how}")


def _record_taken(run: JudgeRun, label: str, why: str) -> None:
    """Record a decision that took ``label``'s answer without asking the judge, and ``why``."""
    run.decision = weigh(run.evidence, _rel(run), pick=None, check="no-judge").record
    key = run.evidence.key_of(label)
    run.decision["winner"] = answers.display(key) if key is not None else f"text of {run.labels[label]}"
    run.decision["why"] = why


def _rel(run: JudgeRun) -> Reliabilities:
    return cast(Reliabilities, run.reliabilities)


def _consensus_pick(run: JudgeRun) -> tuple[str, str]:
    """The label the candidates' agreement picks, and how it picked.

    ``agreement``: the answer with the most weight (at least two answers behind it, or the only
    comparable candidates); ``most-reliable``: the candidate of the most reliable member, when the
    reliabilities were measured and differ; ``most-consistent``: the answer most alike the others.
    """
    evidence, by_label = run.evidence, run.by_label
    weights = _member_weights(run)
    top = leader(evidence, weights)
    if top is not None and (len(top.members) >= 2 or evidence.comparable == len(by_label)):
        return evidence.best_of_class(top, weights), "agreement"
    rel = _rel(run)
    if rel.source != "prior" and len(set(weights.values())) > 1:
        order = list(by_label)
        return max(order, key=lambda label: (weights[label], -order.index(label))), "most-reliable"
    texts = [candidate_view(record) for record in by_label.values()]
    return list(by_label)[_similarity.most_consistent(texts)], "most-consistent"


async def _vote(run: JudgeRun, asker: JudgeAsker) -> dict[str, Any]:
    """The answer with the most weight; the judge only breaks a tie or reads answers with none.

    A single comparable answer among several is no vote: the judge decides then.
    """
    evidence = run.evidence
    top = leader(evidence, _member_weights(run))
    if top is not None and (len(top.members) >= 2 or len(run.labels) == 1):
        strict = 2 * len(top.members) > len(run.labels)
        run.decision = weigh(evidence, _rel(run), pick=None, check="no-judge").record
        return _decide(run, evidence.best_of_class(top), "vote:majority" if strict else "vote:plurality")
    breaker = _tie_breaker(run)
    if breaker is not None:
        stands = f"{run.labels[breaker]}'s stands (tie_break), no judge asked"
        _record_taken(run, breaker, f"no final answer had two votes; {stands}")
        return _decide(run, breaker, "vote:tie-break")
    asked = await ask_judges(run, asker, "best-of")
    if asked is None:
        return _judge_free(run)
    verdict, decided_by = asked
    classes = evidence.classes
    tied = [c for c in classes if classes and len(c.members) == len(classes[0].members)]
    winner = verdict.winner
    if len(tied) > 1 and all(winner not in c.members for c in tied):
        scores = _scores(verdict)
        best = max(tied, key=lambda c: sum(scores.get(label, 0.0) for label in c.members))
        winner = evidence.best_of_class(best, scores)
        run.issues.append(
            f"the judge's winner {verdict.winner} is outside the tied answers; took {winner}, the tied "
            "answer it scored best"
        )
    run.decision = weigh(evidence, _rel(run), pick=winner, check="unchecked", rule="judge").record
    return _decide(run, winner, decided_by, verdict)


def _tie_breaker(run: JudgeRun) -> str | None:
    """The label of the ``tie_break`` member's answer, if one is set and it answered."""
    name = run.runtime.config.tie_breaker()
    if name is None:
        return None
    label = next((label for label, member in run.labels.items() if member == name), None)
    if label is None:
        run.issues.append(f"tie_break: {name} gave no answer, so the judge breaks the tie")
    return label


async def _check(run: JudgeRun, asker: JudgeAsker, kind: str, pick_key: str | None, pick: str) -> JudgeCheck:
    """Ask the judge again in the reversed order; did its pick (its final answer) hold?"""
    again = await asker.ask(run, run.judge_index, kind, list(run.labels)[::-1], None)
    if again is None:
        run.swap = "the reversed-order check failed; the judge's pick counts unchecked"
        return "unchecked"
    if kind == "merge":
        second = _key_of_text(run, cast(MergeVerdict, again).answer)
        held = second is not None and second == pick_key
    else:
        other = cast(BestOfVerdict, again).winner
        held = other == pick or (pick_key is not None and run.evidence.key_of(other) == pick_key)
        if not held and pick_key is None and run.evidence.key_of(other) is None:  # free text: alike?
            texts = candidate_view(run.by_label[pick]), candidate_view(run.by_label[other])
            held = _similarity.similarity(*texts) >= FREE_TEXT_SAME
    run.swap = f"reversed-order check: the judge's pick {'held' if held else 'changed'}"
    return "held" if held else "flipped"


def _dissent(run: JudgeRun, pick_shown: str, who: str) -> None:
    """Record a strict majority of all final answers that disagrees with the judge."""
    majority = run.evidence.majority()
    if majority is None:
        return
    count = f"{len(majority.members)}/{len(run.labels)}"
    run.dissent = f"{who} ({pick_shown}) but {count} answers reach {answers.display(majority.key)}"


async def _best_of(run: JudgeRun, asker: JudgeAsker, kind: str) -> dict[str, Any]:
    """The judge's pick, weighed against the members' answers (:func:`weigh`)."""
    config = run.runtime.config
    policy = config.majority_policy
    rel = _rel(run)
    if policy == "weighted" and follows_member(rel, run.evidence):  # labels: the judge would not count
        weighed = weigh(run.evidence, rel, pick=None, check="no-judge")
        run.decision = weighed.record
        return _decide(run, run.evidence.best_of_class(weighed.winner), weighed.tag)
    asked = await ask_judges(run, asker, kind)
    if asked is None:
        return _judge_free(run)
    verdict, decided_by = asked
    pick = verdict.winner
    pick_key = run.evidence.key_of(pick)
    majority = run.evidence.majority()
    if majority is not None and pick_key != majority.key:
        shown = answers.display(pick_key) if pick_key is not None else "no comparable answer"
        _dissent(run, shown, f"the judge chose {pick}")
    disagrees = needs_check(run.evidence, pick)
    check: JudgeCheck
    rule = "weighted"
    if not disagrees:
        check = "agreed"
    elif run.check is not None:  # judge_swap: both orders were asked already
        check = run.check
    elif policy == "weighted" and rel.rule == "judge":  # labels: the pick stands unchecked
        check = "unchecked"
    elif policy == "weighted":
        check = await _check(run, asker, kind, pick_key, pick)
    else:
        check, rule = "unchecked", ("judge" if policy == "judge" else "majority")
    if policy == "reask" and majority is not None and pick_key != majority.key:
        count = f"{len(majority.members)}/{len(run.labels)}"
        shown = answers.display(pick_key) if pick_key is not None else "no comparable answer"
        note = prompts.MAJORITY_REASK.format(
            winner=pick, shown=shown, count=count, majority=answers.display(majority.key)
        )
        again = await ask_judges(run, asker, kind, note=note, only_first=True)
        if again is not None and run.evidence.key_of(again[0].winner) == majority.key:
            verdict, decided_by, pick = again[0], again[1], again[0].winner
    weighed = weigh(run.evidence, rel, pick=pick, check=check, rule=rule, scores=_scores(verdict))
    run.decision = weighed.record
    if weighed.judge_stood:
        return _decide(run, pick, decided_by, verdict)
    label = run.evidence.best_of_class(weighed.winner, _scores(verdict))
    return _decide(run, label, weighed.tag, verdict)


async def _merge(run: JudgeRun, asker: JudgeAsker) -> dict[str, Any]:
    """The judge's merged answer, weighed like a pick: its final answer against the members'.

    A merged final answer that no candidate gave is an invented answer (a verdict issue); one that
    only a minority gave is a dissent. ``merge_policy`` says how the merged answer is weighed:
    ``weighted`` (checked by a reversed-order merge when it disagrees with the members' leading
    answer), ``keep``, ``majority`` or ``reask``.
    """
    config = run.runtime.config
    asked = await ask_judges(run, asker, "merge")
    if asked is None:
        return _judge_free(run)
    verdict, decided_by = asked
    merged = cast(MergeVerdict, verdict)
    key = _key_of_text(run, merged.answer)
    _check_merged(run, merged.answer, key)
    policy = config.merge_policy
    weights = _member_weights(run)
    top = leader(run.evidence, weights)
    disagrees = key is not None and top is not None and top.key != key
    check: JudgeCheck = "agreed" if not disagrees else "unchecked"
    rule = {"keep": "judge", "majority": "majority"}.get(policy, "weighted")
    if disagrees and policy == "weighted":
        check = await _check(run, asker, "merge", key, "")
    majority = run.evidence.majority()
    if policy == "reask" and majority is not None and key is not None and key != majority.key:
        shown, target = answers.display(key), answers.display(majority.key)
        novel = key not in set(run.evidence.keys.values())
        which = "which no answer reaches" if novel else "a minority's answer"
        count = f"{len(majority.members)}/{len(run.labels)}"
        note = prompts.MERGE_REASK.format(shown=shown, which=which, count=count, majority=target)
        again = await ask_judges(run, asker, "merge", note=note, only_first=True)
        if again is not None:
            redo = cast(MergeVerdict, again[0])
            if _key_of_text(run, redo.answer) == majority.key:
                merged, decided_by, key = redo, again[1], majority.key
        rule = "majority"
    if key is None:  # nothing to weigh the merged text against
        run.decision = weigh(run.evidence, _rel(run), pick=None, check="no-judge").record
        run.decision["judge_stood"] = True
        run.decision["why"] = "the merged answer has no comparable final answer; it stands"
        return _decide(run, "answer_1", decided_by, merged, answer=merged.answer)
    weighed = weigh(run.evidence, _rel(run), pick=None, merged_key=key, check=check, rule=rule)
    run.decision = weighed.record
    if weighed.judge_stood:
        return _decide(run, "answer_1", decided_by, merged, answer=merged.answer)
    label = run.evidence.best_of_class(weighed.winner)
    return _decide(run, label, weighed.tag, merged)


def _check_merged(run: JudgeRun, text: str, key: str | None) -> None:
    """Record a merged answer that a strict majority of all final answers does not reach."""
    majority = run.evidence.majority()
    if majority is None or key is None or key == majority.key:
        return
    shown, target = answers.display(key), answers.display(majority.key)
    count = f"{len(majority.members)}/{len(run.labels)}"
    novel = key not in set(run.evidence.keys.values())
    which = "which no answer reaches" if novel else "a minority's answer"
    run.dissent = f"the merged answer reaches {shown}, {which}, while {count} answers reach {target}"
    if novel:
        run.issues.append(run.dissent)


async def _merge_streamed(run: JudgeRun, asker: JudgeAsker) -> dict[str, Any]:
    """A merge whose answer streams: a structured analysis, then a plain-text writer call.

    Only for runs that ask for a streamed answer (``configurable["fusion_stream_answer"]``); other
    runs keep :func:`_merge`'s single structured call. The writer is told the majority's answer when
    a strict majority of all final answers exists and ``merge_policy`` is not ``keep``. Its text
    goes out token by token as it is written and cannot be taken back, so the result's answer IS
    the streamed text: the decision record and the dissent say how it compares, whatever
    ``merge_policy`` says. If the analysis fails on every judge, or the writer fails before writing
    anything, the judge-free pick decides (``judge-free:…``, or :class:`JudgeFailed` when that
    fallback is off); a writer that fails midway ends the run with :class:`JudgeFailed`.
    """
    config = run.runtime.config
    asked = await ask_judges(run, asker, "analysis")
    if asked is None:
        return _judge_free(run)
    analysis, decided_by = cast(tuple[Analysis, str], asked)
    majority = run.evidence.majority()
    note = None
    if majority is not None and config.merge_policy != "keep":
        count = f"{len(majority.members)}/{len(run.labels)}"
        note = prompts.WRITER_MAJORITY.format(count=count, majority=answers.display(majority.key))
    text = await write_answer(run, run.judge_index, analysis, note)
    if text is None:
        return _judge_free(run)
    merged = MergeVerdict(**analysis.model_dump(), answer=text)
    key = _key_of_text(run, text)
    _check_merged(run, text, key)
    run.decision = weigh(
        run.evidence, _rel(run), pick=None, merged_key=key, check="unchecked", rule="judge"
    ).record
    if run.dissent is not None and config.merge_policy != "keep":
        run.issues.append(f"merge_policy {config.merge_policy!r} could not act: the answer had been streamed")
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
