"""judge_swap, samples and scouts, through the real graph and real HTTP."""

from __future__ import annotations

from typing import Any

import pytest

from fusion_graph import BestOfVerdict, FusionConfig, Member, fuse
from fusion_graph.testing import Fault, ModelScript
from tests._quality_stubs import (
    QUESTION,
    REASK_MARK,
    blocks,
    first_shown,
    judge_script,
    label_with,
    make_config,
    member_spec,
    requests_to,
    scores,
    server_of,
    user_text,
)

R400 = "12 * 33 = 396, and 396 + 4 = 400. The answer is 400."
R400B = "Multiplying first gives 396; adding four.\nFinal answer: 400"
R409 = "I get 12 * 33 = 405, plus 4. The answer is 409."
R401 = "The answer is 401."

# ------------------------------------------------------------------------------------------- judge_swap


async def test_swap_asks_twice_in_reversed_order_and_agreeing_orders_decide():
    members = {"a": R400, "b": R409, "c": R401}
    async with server_of(members, judge=judge_script(pick=label_with("= 400"))) as server:
        result = await fuse(QUESTION, make_config(server, list(members), judge_swap=True))
        first, second = requests_to(server, "judge")
    shown_first, shown_second = blocks(user_text(first)), blocks(user_text(second))
    assert list(shown_first.values()) == [R400, R409, R401]
    assert list(shown_second.values()) == [R401, R409, R400]
    # the agreement line follows the order shown
    assert "answer 1 reaches 400" in user_text(first)
    assert "answer 3 reaches 400" in user_text(second)
    assert result.winner == "a" and result.decided_by == "judge:judge"
    assert result.swap == "both orders chose answer_1"
    assert len(result.judge_calls) == 2 and len(result.usage.judge) == 2
    assert all(u.input_tokens > 0 for u in result.usage.judge)
    member_tokens = sum(u.total_tokens for u in result.usage.members.values())
    judge_tokens = sum(u.total_tokens for u in result.usage.judge)
    assert result.usage.total.total_tokens == member_tokens + judge_tokens


async def test_swap_disagreement_is_decided_by_agreement():
    members = {"w": R409, "a": R400, "b": R400B}
    async with server_of(members, judge=judge_script(pick=first_shown)) as server:
        result = await fuse(QUESTION, make_config(server, list(members), judge_swap=True))
        assert server.calls("judge") == 2
    # first order: w (409, alone) is first; reversed: b (400, with a) is first
    assert result.winner == "b" and result.decided_by == "judge:judge"
    assert result.swap is not None and "disagreed (answer_1 vs answer_3)" in result.swap
    assert result.dissent is None


FREE = {
    "x": "It depends on the order of operations.",
    "y": "Multiplication binds first, so add four at the end.",
    "z": "Cannot say.",
}
CONTENT = {FREE["x"]: 7.0, FREE["y"]: 8.0, FREE["z"]: 2.0}


def _position_biased_scores(prompt: str) -> list[dict[str, Any]]:
    """Scores by content, plus 1.5 for being shown first: consistent, but the order matters."""
    shown = blocks(prompt)
    return scores(
        {label: CONTENT[text] + (1.5 if i == 0 else 0.0) for i, (label, text) in enumerate(shown.items())},
        reason="weighed it",
    )


def _top(prompt: str) -> str:
    return max(_position_biased_scores(prompt), key=lambda s: s["score"])["label"]


async def test_swap_disagreement_without_agreement_is_decided_by_summed_scores():
    judge = judge_script(winner=_top, scores=_position_biased_scores, rationale="weighed them")
    async with server_of(FREE, judge=judge) as server:
        result = await fuse(QUESTION, make_config(server, list(FREE), judge_swap=True))
        assert server.calls("judge") == 2
    # x wins shown first (8.5 vs 8), y wins reversed (8 vs 7, z 3.5): summed, y has 16 and x 15.5
    assert result.winner == "y"
    assert result.swap is not None and "disagreed" in result.swap
    assert isinstance(result.verdict, BestOfVerdict)
    by_label = {s.label: s.score for s in result.verdict.scores}
    assert by_label == {"answer_1": 7.75, "answer_2": 8.0, "answer_3": 2.75}


async def test_swap_issue_names_the_labels_the_result_shows():
    """A bad verdict on the reversed order is asked again in that order's labels, but the issue kept in
    the result names the candidates by the labels the result shows."""
    members = {"a": R400, "b": R409, "c": R401}

    def pick_scores(prompt: str) -> list[dict[str, Any]]:
        reversed_order = next(iter(blocks(prompt).values())) == R401
        if reversed_order and REASK_MARK not in prompt:  # c is shown first; its top score goes to a
            return scores({"answer_1": 0, "answer_2": 1, "answer_3": 10})
        return scores({label: 9 if text == R400 else 2 for label, text in blocks(prompt).items()})

    def winner(prompt: str) -> str:
        reversed_order = next(iter(blocks(prompt).values())) == R401
        if reversed_order and REASK_MARK not in prompt:
            return "answer_1"
        return label_with("= 400")(prompt, None)

    judge = judge_script(winner=winner, scores=pick_scores, rationale="checked")
    async with server_of(members, judge=judge) as server:
        result = await fuse(QUESTION, make_config(server, list(members), judge_swap=True))
        requests = requests_to(server, "judge")
    assert len(requests) == 3
    # the judge is told in the labels it was shown
    assert "the winner answer_1 scores 0 but answer_3 scores 10" in user_text(requests[2])
    # the result says it in the result's labels: c is answer_3 there, a is answer_1
    assert result.labels == {"a": "answer_1", "b": "answer_2", "c": "answer_3"}
    assert any("the winner answer_3 scores 0 but answer_1 scores 10" in i for i in result.verdict_issues)
    assert result.winner == "a"


# ---------------------------------------------------------------------------------------------- samples


def _by_seed(body: dict[str, Any]) -> str:
    return {7: R400, 8: R409, 9: R400B}[body["seed"]]


async def test_samples_are_separate_candidates_with_their_own_seeds_and_vote():
    async with server_of({"m": _script(_by_seed)}, judge=judge_script(pick=first_shown)) as server:
        member = Member(**member_spec(server, "m", params={"seed": 7, "temperature": 0.8}), samples=3)
        result = await fuse(QUESTION, make_config(server, [member], mode="vote"))
        bodies = requests_to(server, "m")
        assert server.calls("judge") == 0
    assert sorted(body["seed"] for body in bodies) == [7, 8, 9]
    assert all(body["temperature"] == 0.8 for body in bodies)
    assert sorted(c.member for c in result.candidates) == ["m#1", "m#2", "m#3"]
    assert sorted(result.usage.members) == ["m#1", "m#2", "m#3"]
    assert all(u.calls == 1 and u.output_tokens > 0 for u in result.usage.members.values())
    assert result.answers == {"m#1": "400", "m#2": "409", "m#3": "400"}
    assert result.decided_by == "vote:majority" and result.winner in {"m#1", "m#3"}
    assert [(d.member, d.answer) for d in result.minority] == [("m#2", "409")]


async def test_samples_without_a_seed_send_none_and_still_count_apart():
    members = {"m": _script(replies=[R400, R409, R400B]), "n": R409}
    async with server_of(members, judge=judge_script(pick=first_shown)) as s:
        member = Member(**member_spec(s, "m"), samples=3)
        result = await fuse(QUESTION, make_config(s, [member, "n"]))
        bodies = requests_to(s, "m")
        judge_prompt = user_text(requests_to(s, "judge")[0])
    assert len(bodies) == 3 and all("seed" not in body for body in bodies)
    assert sorted(result.usage.members) == ["m#1", "m#2", "m#3", "n"]
    assert len(blocks(judge_prompt)) == 4
    assert "m#" not in judge_prompt  # samples are anonymous to the judge like any member
    # 2 of 4 reach 400 (no strict majority): the judge's pick stands
    assert result.decided_by == "judge:judge"


def _script(reply: Any = None, *, replies: list[str] | None = None) -> ModelScript:
    return ModelScript(reply=reply, replies=replies)


# ----------------------------------------------------------------------------------------------- scouts


def _scout_config(server, **kwargs: Any) -> FusionConfig:
    return make_config(server, ["cheap-a", "cheap-b", "big"], scouts=["cheap-a", "cheap-b"], **kwargs)


@pytest.mark.parametrize("mode", ["best-of", "vote", "merge"])
async def test_scouts_that_agree_answer_alone(mode):
    members = {"cheap-a": R400, "cheap-b": R400B, "big": R409}
    async with server_of(members, judge=judge_script(pick=first_shown)) as server:
        result = await fuse(QUESTION, _scout_config(server, mode=mode))
        assert server.calls("big") == 0 and server.calls("judge") == 0
        assert server.calls("cheap-a") == 1 and server.calls("cheap-b") == 1
    assert result.escalated is False and result.decided_by == "scouts:agree"
    assert {c.member for c in result.candidates} == {"cheap-a", "cheap-b"}
    assert result.answer in {R400, R400B} and result.winner in {"cheap-a", "cheap-b"}
    assert "big" not in result.usage.members


async def test_scouts_that_disagree_escalate_reusing_their_answers():
    members = {"cheap-a": R400, "cheap-b": R409, "big": R400B}
    async with server_of(members, judge=judge_script(pick=label_with("= 400"))) as server:
        result = await fuse(QUESTION, _scout_config(server))
        calls = {name: server.calls(name) for name in [*members, "judge"]}
    assert calls == {"cheap-a": 1, "cheap-b": 1, "big": 1, "judge": 1}
    assert result.escalated is True
    assert sorted((c.member, c.round) for c in result.candidates) == [
        ("big", 0),
        ("cheap-a", 0),
        ("cheap-b", 0),
    ]
    assert len(result.labels) == 3 and result.winner == "cheap-a"
    assert result.decided_by == "judge:judge"


async def test_escalate_always_runs_the_pool_even_when_scouts_agree():
    members = {"cheap-a": R400, "cheap-b": R400B, "big": R409}
    async with server_of(members, judge=judge_script(pick=label_with("= 400"))) as server:
        result = await fuse(QUESTION, _scout_config(server, escalate="always"))
        assert server.calls("big") == 1 and server.calls("cheap-a") == 1
    assert result.escalated is True
    assert {c.member for c in result.candidates} == {"cheap-a", "cheap-b", "big"}


@pytest.mark.parametrize(
    ("a", "b", "escalated"),
    [
        ("Paris is the capital of France.", "Paris is the capital of France.", False),
        ("Paris is the capital of France.", "Lyon, surely; it is the largest city by far.", True),
        ("Paris is the capital of France.", R400, True),
    ],
    ids=["same-text", "different-text", "text-vs-number"],
)
async def test_free_text_scouts_agree_by_similarity(a, b, escalated):
    members = {"cheap-a": a, "cheap-b": b, "big": "Paris."}
    async with server_of(members, judge=judge_script(pick=first_shown)) as server:
        result = await fuse("Capital of France?", _scout_config(server, scout_agreement=0.9))
        assert server.calls("big") == (1 if escalated else 0)
    assert result.escalated is escalated


async def test_one_scout_with_samples_can_agree_with_itself():
    async with server_of({"cheap": _script(replies=[R400, R400B]), "big": R409}) as server:
        cheap = Member(**member_spec(server, "cheap", params={"temperature": 0.7}), samples=2)
        config = make_config(server, [cheap, "big"], judge="big", scouts=["cheap"])
        result = await fuse(QUESTION, config)
        assert server.calls("big") == 0 and server.calls("cheap") == 2
    assert result.escalated is False and result.decided_by == "scouts:agree"
    assert result.winner in {"cheap#1", "cheap#2"}


async def test_debate_scouts_that_agree_are_not_debated():
    members = {"cheap-a": R400, "cheap-b": R400B, "big": R409}
    async with server_of(members, judge=judge_script(pick=first_shown)) as server:
        result = await fuse(QUESTION, _scout_config(server, mode="debate", rounds=2))
        calls = {name: server.calls(name) for name in members}
    assert result.decided_by == "scouts:agree" and result.escalated is False
    assert calls == {"cheap-a": 1, "cheap-b": 1, "big": 0}
    assert result.rounds == 0


async def test_a_failed_scout_escalates_and_both_failing_leave_the_rest():
    down = ModelScript(faults=[Fault.HTTP_500] * 3)
    async with server_of({"cheap-a": down, "cheap-b": R400, "big": R409}, judge=judge_script()) as server:
        result = await fuse(QUESTION, _scout_config(server))
        assert server.calls("big") == 1
    assert result.escalated is True and result.decided_by == "judge:judge"
    assert {c.member for c in result.candidates if c.ok} == {"cheap-b", "big"}
    async with server_of({"cheap-a": down, "cheap-b": down, "big": R409}, judge=judge_script()) as server:
        result = await fuse(QUESTION, _scout_config(server))
    assert result.escalated is True and result.decided_by == "only-candidate" and result.winner == "big"


async def test_merge_ignores_judge_swap():
    members = {"a": R400, "b": R409}
    async with server_of(members, judge=judge_script(answer="Merged: the answer is 400.")) as server:
        result = await fuse(QUESTION, make_config(server, list(members), mode="merge", judge_swap=True))
        assert server.calls("judge") == 1
    assert result.swap is None and result.answer == "Merged: the answer is 400."


async def test_swap_second_call_failing_keeps_the_first_verdict():
    members = {"a": R400, "b": R409, "c": R401}
    judge = ModelScript(judge=True, judge_pick=label_with("= 400"), faults=[None, Fault.HTTP_500])
    async with server_of(members, judge=judge) as server:
        result = await fuse(QUESTION, make_config(server, list(members), judge_swap=True))
        assert server.calls("judge") == 2
    assert result.winner == "a" and result.decided_by == "judge:judge"
    assert result.swap == "the reversed-order verdict failed; the first verdict decides"
    assert [call.error is None for call in result.judge_calls] == [True, False]


def test_cost_estimate_counts_samples_and_the_swapped_judge_call():
    from fusion_graph import Judge, estimate_cost

    def member(samples: int) -> Member:
        return Member("openai:m", name="m", params={"max_tokens": 100}, price_out=1.0, samples=samples)

    judge = Judge("openai:j", params={"max_tokens": 100}, price_out=1.0)
    one = estimate_cost(FusionConfig(pool=[member(1), Member("openai:n")], judge=judge), QUESTION)
    three = estimate_cost(
        FusionConfig(pool=[member(3), Member("openai:n")], judge=judge, judge_swap=True), QUESTION
    )
    assert sum(three.members.values()) == pytest.approx(3 * sum(one.members.values()))
    assert three.judge >= 2 * one.judge
