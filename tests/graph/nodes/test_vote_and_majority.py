"""Agreement as evidence, through the real graph and real HTTP: vote, the judge's agreement line,
a strict majority against the judge in best-of and debate, and merged answers nobody gave."""

from __future__ import annotations

import pytest

from fusion_graph import BestOfVerdict, fuse
from fusion_graph.result import Dissent, FusionResult
from tests._quality_stubs import (
    MAJORITY_MARK,
    QUESTION,
    first_shown,
    judge_script,
    label_with,
    make_config,
    requests_to,
    server_of,
    user_text,
)

R400 = "12 * 33 = 396, and 396 + 4 = 400. The answer is 400."
R400B = "Multiplying first gives 396; adding four.\nFinal answer: 400"
R409 = "I get 12 * 33 = 405, plus 4. The answer is 409."
R409B = "Four hundred and nine, by my count.\nFinal answer: 409"
R401 = "The answer is 401."
FREE = ["It depends on how the expression is read.", "Nobody can say without brackets.", "Ask a teacher."]


async def _fuse(members: dict[str, str], judge, **kwargs) -> tuple[FusionResult, int, list[dict]]:
    async with server_of(members, judge=judge) as server:
        result = await fuse(QUESTION, make_config(server, list(members), **kwargs))
        return result, server.calls("judge"), requests_to(server, "judge")


# ------------------------------------------------------------------------------------------------ vote


async def test_vote_strict_majority_never_calls_the_judge():
    members = {"a": R400, "b": R409, "c": R400B}
    result, judge_calls, _ = await _fuse(members, judge_script(pick=first_shown), mode="vote")
    assert result.decided_by == "vote:majority"
    assert judge_calls == 0 and result.judge_calls == [] and result.verdict is None
    assert result.winner == "a" and result.answer == R400
    assert result.answers == {"a": "400", "b": "409", "c": "400"}
    assert result.minority == [Dissent(member="b", answer="409", label="answer_2")]
    assert result.usage.judge == []


async def test_vote_plurality_without_a_majority_still_needs_no_judge():
    members = {"a": R400, "b": R409, "c": R400B, "d": R401}
    result, judge_calls, _ = await _fuse(members, judge_script(pick=first_shown), mode="vote")
    assert result.decided_by == "vote:plurality"
    assert judge_calls == 0
    assert result.winner in {"a", "c"}
    assert {d.member for d in result.minority} == {"b", "d"}


async def test_vote_tie_asks_the_judge_once_and_keeps_a_tied_answer():
    members = {"b": R409, "a": R400, "d": R409B, "c": R400B}
    result, judge_calls, _ = await _fuse(members, judge_script(pick=first_shown), mode="vote")
    assert judge_calls == 1 and len(result.judge_calls) == 1
    assert result.decided_by == "judge:judge"
    assert result.winner == "b"  # the judge's pick, which is in a tied class
    assert result.answers[result.winner] in {"400", "409"}


async def test_vote_tie_overrides_a_judge_pick_outside_the_tied_answers():
    members = {"a": R400, "b": R409, "c": R400B, "d": R409B, "e": FREE[0]}
    judge = judge_script(pick=label_with(FREE[0]))
    result, judge_calls, _ = await _fuse(members, judge, mode="vote")
    assert judge_calls == 1
    assert isinstance(result.verdict, BestOfVerdict)
    assert result.verdict.winner == "answer_5"  # the judge chose e
    assert result.winner in {"a", "b", "c", "d"}
    assert any("outside the tied answers" in issue for issue in result.verdict_issues)


async def test_vote_with_nothing_extractable_lets_the_judge_decide():
    members = dict(zip("abc", FREE, strict=True))
    result, judge_calls, _ = await _fuse(members, judge_script(pick=label_with(FREE[1])), mode="vote")
    assert result.decided_by == "judge:judge" and judge_calls == 1
    assert result.winner == "b" and result.answer == FREE[1]
    assert result.answers == {"a": None, "b": None, "c": None}
    assert result.agreement_summary is None and result.minority == []


# ----------------------------------------------------------------------------------- the judge's prompt


async def test_judge_prompt_states_agreement_once_without_repeating_candidates():
    members = {"a": R400, "b": R409, "c": R400B}
    result, _, requests = await _fuse(members, judge_script(pick=label_with("= 400")))
    (request,) = requests
    prompt = user_text(request)
    assert "answers 1, 3 reach 400; answer 2 reaches 409" in prompt
    assert result.agreement_summary == "answers 1, 3 reach 400; answer 2 reaches 409"
    everything = "\n".join(str(m["content"]) for m in request["messages"])
    for text in members.values():
        assert everything.count(text) == 1, text
    # the agreement line is short: it names answers, it does not quote them
    line = next(line for line in prompt.splitlines() if "reach" in line)
    assert len(line) < 80


# -------------------------------------------------------------------- a strict majority against the judge

WRONG_FIRST = {"w": R409, "a": R400, "b": R400B}
DISSENT = "the judge chose answer_1 (409) but 2/3 answers reach 400"


def _mode_kwargs(mode: str) -> dict:
    return {"mode": mode, "rounds": 1} if mode == "debate" else {"mode": mode}


@pytest.mark.parametrize("mode", ["best-of", "debate"])
async def test_majority_policy_majority_overrides_the_judge(mode):
    result, judge_calls, _ = await _fuse(
        WRONG_FIRST, judge_script(pick=first_shown), majority_policy="majority", **_mode_kwargs(mode)
    )
    assert judge_calls == 1
    assert result.decided_by == "majority:2/3"
    assert result.winner in {"a", "b"} and result.answers[result.winner] == "400"
    assert result.dissent == DISSENT
    assert result.minority == [Dissent(member="w", answer="409", label="answer_1")]
    if mode == "debate":
        assert result.rounds == 1


@pytest.mark.parametrize("mode", ["best-of", "debate"])
async def test_majority_policy_judge_keeps_the_judge_and_records_the_dissent(mode):
    result, judge_calls, _ = await _fuse(
        WRONG_FIRST, judge_script(pick=first_shown), majority_policy="judge", **_mode_kwargs(mode)
    )
    assert judge_calls == 1
    assert result.decided_by == "judge:judge" and result.winner == "w"
    assert result.dissent == DISSENT
    assert {(d.member, d.answer) for d in result.minority} == {("a", "400"), ("b", "400")}


@pytest.mark.parametrize("mode", ["best-of", "debate"])
async def test_majority_policy_reask_takes_the_majority_when_the_judge_insists(mode):
    result, judge_calls, requests = await _fuse(
        WRONG_FIRST, judge_script(pick=first_shown), majority_policy="reask", **_mode_kwargs(mode)
    )
    assert judge_calls == 2 and len(result.judge_calls) == 2
    assert MAJORITY_MARK not in user_text(requests[0])
    assert "you chose answer_1 (409), but 2/3 answers reach 400" in user_text(requests[1])
    assert result.decided_by == "majority:2/3"
    assert result.answers[result.winner or ""] == "400"
    assert result.dissent == DISSENT


@pytest.mark.parametrize("mode", ["best-of", "debate"])
async def test_majority_policy_reask_accepts_a_judge_that_changes_its_mind(mode):
    def pick(prompt: str, options: list[str] | None) -> str:
        return label_with("Final answer: 400")(prompt, options) if MAJORITY_MARK in prompt else "answer_1"

    result, judge_calls, _ = await _fuse(
        WRONG_FIRST, judge_script(pick=pick), majority_policy="reask", **_mode_kwargs(mode)
    )
    assert judge_calls == 2
    assert result.decided_by == "judge:judge" and result.winner == "b"
    assert result.dissent == DISSENT  # recorded, although the judge then agreed
    assert result.minority == [Dissent(member="w", answer="409", label="answer_1")]


@pytest.mark.parametrize(
    "members",
    [{"w": R409, "a": R400}, {"w": R409, "a": R400, "f": FREE[0]}],
    ids=["two-answers", "two-comparable"],
)
async def test_no_majority_check_below_three_comparable_answers(members):
    result, _, _ = await _fuse(members, judge_script(pick=first_shown), majority_policy="majority")
    assert result.decided_by == "judge:judge" and result.winner == "w"
    assert result.dissent is None


# ------------------------------------------------------------------------------------------------ merge

NOVEL = "Combining the answers: the answer is 401."
MERGED_400 = "Both careful answers agree: the answer is 400."


def _merge_judge(first: str, again: str | None = None):
    def answer(prompt: str) -> str:
        return again if again is not None and MAJORITY_MARK in prompt else first

    return judge_script(answer=answer)


async def test_merge_novel_answer_kept_and_flagged():
    result, judge_calls, _ = await _fuse(WRONG_FIRST, _merge_judge(NOVEL), mode="merge", merge_policy="keep")
    assert judge_calls == 1
    assert result.answer == NOVEL and result.decided_by == "judge:judge"
    flagged = [issue for issue in result.verdict_issues if "401, which no answer reaches" in issue]
    assert flagged and "2/3 answers reach 400" in flagged[0]
    assert result.dissent == flagged[0]
    assert {d.member for d in result.minority} == {"w", "a", "b"}


async def test_merge_novel_answer_replaced_by_the_majority():
    result, judge_calls, _ = await _fuse(
        WRONG_FIRST, _merge_judge(NOVEL), mode="merge", merge_policy="majority"
    )
    assert judge_calls == 1
    assert result.decided_by == "majority:2/3"
    assert result.answer in {R400, R400B}
    assert any("401, which no answer reaches" in issue for issue in result.verdict_issues)


async def test_merge_reask_fixed_by_the_judge():
    result, judge_calls, requests = await _fuse(
        WRONG_FIRST, _merge_judge(NOVEL, MERGED_400), mode="merge", merge_policy="reask"
    )
    assert judge_calls == 2
    assert "your merged answer reaches 401, which no answer reaches" in user_text(requests[1])
    assert result.decided_by == "judge:judge" and result.answer == MERGED_400
    assert result.minority == [Dissent(member="w", answer="409", label="answer_1")]
    assert any("401" in issue for issue in result.verdict_issues)


async def test_merge_reask_still_novel_takes_the_majority():
    result, judge_calls, _ = await _fuse(
        WRONG_FIRST,
        _merge_judge(NOVEL, "Now I say 402. The answer is 402."),
        mode="merge",
        merge_policy="reask",
    )
    assert judge_calls == 2
    assert result.decided_by == "majority:2/3" and result.answer in {R400, R400B}


async def test_merge_novel_answer_without_a_majority_is_not_flagged():
    members = {"w": R409, "a": R400, "c": R401}
    result, _, _ = await _fuse(members, _merge_judge(NOVEL.replace("401", "402")), mode="merge")
    assert result.decided_by == "judge:judge"
    assert result.dissent is None and result.verdict_issues == []


async def test_merge_that_reaches_the_majority_is_not_flagged():
    result, _, _ = await _fuse(WRONG_FIRST, _merge_judge(MERGED_400), mode="merge")
    assert result.decided_by == "judge:judge" and result.answer == MERGED_400
    assert result.dissent is None and result.verdict_issues == []
    assert result.minority == [Dissent(member="w", answer="409", label="answer_1")]


MERGED_409 = "Going with the first answer: the answer is 409."


async def test_merge_taking_a_minority_answer_is_a_dissent_and_the_majority_decides():
    # An uninformative merge judge that copies whichever answer it read first: the answer it writes
    # is a candidate's, so it is no invented answer, but a strict majority reaches another one.
    result, judge_calls, _ = await _fuse(
        WRONG_FIRST, _merge_judge(MERGED_409), mode="merge", merge_policy="majority"
    )
    assert judge_calls == 1
    assert result.decided_by == "majority:2/3" and result.answer in {R400, R400B}
    assert result.dissent is not None and "409, a minority's answer" in result.dissent
    assert not any("409" in issue for issue in result.verdict_issues)  # a dissent, not a verdict issue
    kept, _, _ = await _fuse(WRONG_FIRST, _merge_judge(MERGED_409), mode="merge", merge_policy="keep")
    assert kept.answer == MERGED_409 and kept.dissent is not None
