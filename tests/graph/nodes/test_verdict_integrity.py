"""Self-contradictory verdicts, through the real graph and real HTTP: detected, asked again once with
the problem named, then the fallback judge, then the members' agreement; every issue is kept."""

from __future__ import annotations

from typing import Any

import pytest

from fusion_graph import JudgeFailed, fuse
from fusion_graph.testing import ModelScript
from tests._quality_stubs import (
    QUESTION,
    REASK_MARK,
    first_shown,
    judge_script,
    make_config,
    requests_to,
    scores,
    server_of,
    user_text,
)

R400 = "12 * 33 = 396, and 396 + 4 = 400. The answer is 400."
R409 = "I get 12 * 33 = 405, plus 4. The answer is 409."
R400B = "Multiplying first gives 396; adding four.\nFinal answer: 400"
MEMBERS = {"a": R400, "b": R409, "c": R400B}  # shown as answer_1, answer_2, answer_3

GOOD = scores({"answer_1": 9, "answer_2": 2, "answer_3": 8})

BAD: dict[str, tuple[list[dict[str, Any]], str]] = {
    # the make-demo verdict: its winner scored below another answer
    "winner-not-top": (
        scores({"answer_1": 0, "answer_2": 10, "answer_3": 5}),
        "the winner answer_1 scores 0 but answer_2 scores 10: the winner must have the top score",
    ),
    "scored-twice": (
        scores({"answer_1": 9, "answer_2": 3}) + scores({"answer_1": 8}),
        "it scores answer_1 more than once",
    ),
    "all-equal": (
        scores({"answer_1": 7, "answer_2": 7, "answer_3": 7}),
        "every answer gets the same score (7) although they differ",
    ),
    "copied-reasons": (
        [
            {"label": "answer_1", "score": 9, "reason": "correct"},
            {"label": "answer_2", "score": 2, "reason": "I get 12 * 33 = 405, plus 4"},
            {"label": "answer_3", "score": 8, "reason": "correct"},
        ],
        "its reasons copy the text of answer_2",
    ),
}


def _judge(bad: list[dict[str, Any]], *, fixed_on_reask: bool) -> ModelScript:
    def pick_scores(prompt: str) -> list[dict[str, Any]]:
        return GOOD if fixed_on_reask and REASK_MARK in prompt else bad

    return judge_script(winner="answer_1", scores=pick_scores, rationale="400 is the right total.")


async def _run(judges: dict[str, ModelScript], **kwargs: Any):
    fallbacks = tuple(name for name in judges if name != "judge")
    async with server_of(MEMBERS, **judges) as server:
        config = make_config(server, list(MEMBERS), fallbacks=fallbacks, **kwargs)
        result = await fuse(QUESTION, config)
        return result, {name: requests_to(server, name) for name in judges}


@pytest.mark.parametrize("kind", list(BAD))
async def test_bad_verdict_is_asked_again_with_the_problem_named(kind):
    bad, problem = BAD[kind]
    result, requests = await _run({"judge": _judge(bad, fixed_on_reask=True)})
    first, second = requests["judge"]
    assert REASK_MARK not in user_text(first)
    last = second["messages"][-1]
    assert last["role"] == "user" and REASK_MARK in last["content"] and problem in last["content"]
    assert result.decided_by == "judge:judge" and result.winner == "a"
    assert len(result.judge_calls) == 2
    assert any(issue.startswith("judge: ") and problem in issue for issue in result.verdict_issues)


async def test_still_bad_after_the_second_ask_goes_to_the_fallback_judge():
    bad, problem = BAD["winner-not-top"]
    result, requests = await _run(
        {"judge": _judge(bad, fixed_on_reask=False), "fallback": judge_script(pick=first_shown)}
    )
    assert len(requests["judge"]) == 2 and len(requests["fallback"]) == 1
    assert result.decided_by == "fallback:fallback" and result.winner == "a"
    assert [call.judge for call in result.judge_calls] == ["judge", "judge", "fallback"]
    assert sum(problem in issue for issue in result.verdict_issues) == 2  # once per ask


async def test_every_judge_bad_falls_back_to_the_agreement():
    bad_scores, bad_problem = BAD["all-equal"]
    copied, copied_problem = BAD["copied-reasons"]
    result, requests = await _run(
        {"judge": _judge(bad_scores, fixed_on_reask=False), "fallback": _judge(copied, fixed_on_reask=False)}
    )
    assert len(requests["judge"]) == 2 and len(requests["fallback"]) == 2
    assert result.decided_by == "judge-free:agreement"
    assert result.answers[result.winner or ""] == "400"
    assert result.verdict is None
    assert any(i.startswith("judge: ") and bad_problem in i for i in result.verdict_issues)
    assert any(i.startswith("fallback: ") and copied_problem in i for i in result.verdict_issues)
    assert len(result.usage.judge) == 4


async def test_without_judge_free_fallback_bad_verdicts_raise_judge_failed():
    bad, problem = BAD["scored-twice"]
    with pytest.raises(JudgeFailed) as caught:
        await _run({"judge": _judge(bad, fixed_on_reask=False)}, judge_free_fallback=False)
    error = caught.value
    assert error.exceptions and all(isinstance(e, ValueError) for e in error.exceptions)
    assert "contradicted itself twice" in str(error.exceptions[0])
    assert problem in str(error.exceptions[0])
    assert any("judge:" in cause for cause in error.causes)


async def test_a_consistent_verdict_is_asked_once_and_has_no_issues():
    result, requests = await _run({"judge": judge_script(winner="answer_1", scores=GOOD, rationale="ok")})
    assert len(requests["judge"]) == 1
    assert result.verdict_issues == [] and result.decided_by == "judge:judge"


async def test_equal_scores_are_no_issue_when_every_answer_agrees():
    alike = {"a": R400, "b": "The answer is 400.", "c": R400B}
    async with server_of(alike, judge=_judge(BAD["all-equal"][0], fixed_on_reask=False)) as server:
        result = await fuse(QUESTION, make_config(server, list(alike)))
        assert server.calls("judge") == 1
    assert result.verdict_issues == [] and result.decided_by == "judge:judge"
