"""Answers cut at the token limit, debate consensus by answer equivalence, answer_format callables and
bad input, through the real graph and real HTTP."""

from __future__ import annotations

from typing import Any

import pytest

from fusion_graph import ConfigError, FusionConfig, Judge, Member, fuse, prompts
from fusion_graph.testing import ModelScript
from tests._quality_stubs import (
    QUESTION,
    blocks,
    first_shown,
    judge_script,
    label_with,
    make_config,
    member_spec,
    requests_to,
    server_of,
    user_text,
)

R400 = "12 * 33 = 396, and 396 + 4 = 400. The answer is 400."
R409 = "I get 12 * 33 = 405, plus 4. The answer is 409."
CUT = "First, 12 * 33 = 396. Then we add"

# -------------------------------------------------------------------------------------------- truncated


@pytest.mark.parametrize("deadline", [None, 30.0], ids=["plain", "streamed"])
async def test_an_answer_stopped_for_length_is_marked_and_the_judge_is_told(deadline):
    members = {"a": R400, "cut": ModelScript(reply=CUT, finish_reason="length"), "b": R409}
    async with server_of(members, judge=judge_script(pick=label_with("= 400"))) as server:
        result = await fuse(QUESTION, make_config(server, list(members), deadline=deadline))
        (request,) = requests_to(server, "judge")
        if deadline is not None:
            assert all(body.get("stream") for body in requests_to(server, "cut"))
    truncated = {c.member: c.truncated for c in result.candidates}
    assert truncated == {"a": False, "cut": True, "b": False}
    shown = blocks(user_text(request))
    assert shown["answer_2"] == f"{CUT}\n{prompts.TRUNCATED_NOTE}"
    assert prompts.TRUNCATED_NOTE not in shown["answer_1"] + shown["answer_3"]
    assert result.winner == "a"


# ----------------------------------------------------------------------------------- debate consensus


@pytest.mark.parametrize(
    ("a", "b", "converged"),
    [
        ("Twelve thirty-threes make 396; four more is the total.\nFinal answer: 400", R400, True),
        ("The answer is 400.", "The answer is 409.", False),
        ("It depends on the brackets.", "It depends on the brackets.", True),
    ],
    ids=["same-number-different-words", "same-words-different-number", "same-free-text"],
)
async def test_debate_consensus_stop_uses_answer_equivalence(a, b, converged):
    members = {"a": a, "b": b}
    async with server_of(members, judge=judge_script(pick=first_shown)) as server:
        config = make_config(server, list(members), mode="debate", rounds=2, consensus=0.9)
        result = await fuse(QUESTION, config)
        calls = (server.calls("a"), server.calls("b"))
    assert result.converged is converged
    if converged:
        assert result.rounds == 0 and calls == (1, 1) and result.agreement == 1.0
    else:
        assert result.rounds == 2 and calls == (3, 3) and result.agreement == 0.0


# ------------------------------------------------------------------------------ answer_format callables


def _raise_on_409(text: str) -> str | None:
    if "409" in text:
        raise ValueError("cannot read 409")
    return text.rsplit(" ", 1)[-1].rstrip(".")


@pytest.mark.parametrize("mode", ["best-of", "vote", "merge", "debate"])
async def test_a_raising_answer_format_is_a_verdict_issue_not_a_crash(mode):
    members = {"a": R400, "b": R409, "c": "So the answer is 400."}
    judge = judge_script(pick=label_with("= 400"), answer="Merged: 409 is wrong; the answer is 409.")
    async with server_of(members, judge=judge) as server:
        config = make_config(server, list(members), mode=mode, answer_format=_raise_on_409, rounds=1)
        result = await fuse(QUESTION, config)
    raised = [issue for issue in result.verdict_issues if "ValueError: cannot read 409" in issue]
    assert raised, result.verdict_issues
    assert result.answers["b"] is None and result.answers["a"] == "400"
    if mode == "vote":
        assert result.decided_by == "vote:majority"
    if mode == "merge":  # the merged answer is read too
        assert any("for the fused answer" in issue for issue in raised)


async def test_an_answer_format_returning_a_non_string_is_recorded():
    members = {"a": R400, "b": R409}
    async with server_of(members, judge=judge_script(pick=first_shown)) as server:
        config = make_config(server, list(members), mode="vote", answer_format=lambda text: len(text))
        result = await fuse(QUESTION, config)
    assert any("TypeError" in issue and "expected str" in issue for issue in result.verdict_issues)
    assert result.decided_by == "judge:judge"  # nothing extractable: the judge decides


async def test_a_custom_answer_format_feeds_the_vote():
    members = {"a": "Result: FOUR HUNDRED", "b": "result: four hundred", "c": "Result: four hundred nine"}

    def after_colon(text: str) -> str | None:
        return text.split(":", 1)[1].strip().lower() if ":" in text else None

    async with server_of(members, judge=judge_script(pick=first_shown)) as server:
        config = make_config(server, list(members), mode="vote", answer_format=after_colon)
        result = await fuse(QUESTION, config)
        assert server.calls("judge") == 0
    assert result.decided_by == "vote:majority" and result.winner in {"a", "b"}
    assert result.answers == {"a": "four hundred", "b": "four hundred", "c": "four hundred nine"}


@pytest.mark.parametrize(("b", "escalated"), [(R409, False), ("Four hundred and nine.", True)])
async def test_scouts_with_a_raising_answer_format_compare_texts_without_crashing(b, escalated):
    members = {"cheap-a": R409, "cheap-b": b, "big": R400}
    async with server_of(members, judge=judge_script(pick=label_with("= 400"))) as server:
        config = make_config(
            server, list(members), scouts=["cheap-a", "cheap-b"], answer_format=_raise_on_409
        )
        result = await fuse(QUESTION, config)
        assert server.calls("big") == (1 if escalated else 0)
    # nothing readable from the scouts: their texts are compared (alike, or not)
    assert result.escalated is escalated
    assert result.decided_by == ("judge:judge" if escalated else "scouts:agree")
    assert any("cannot read 409" in issue for issue in result.verdict_issues)


# ------------------------------------------------------------------------------------------- bad input


def _pool(*names: str, **extra: Any) -> list[Member]:
    return [Member(f"openai:{name}", name=name, base_url="http://127.0.0.1:9/v1", **extra) for name in names]


def test_samples_zero_names_the_field():
    with pytest.raises(ConfigError) as caught:
        Member("openai:m", samples=0)
    assert caught.value.field == "samples"
    with pytest.raises(ConfigError) as caught:
        FusionConfig(pool=[{"model": "openai:m", "samples": 0}])
    assert caught.value.field == "pool[0].samples"
    assert caught.value.fix


def test_a_sample_mark_in_a_member_name_is_refused():
    with pytest.raises(ConfigError) as caught:
        Member("openai:m", name="m#1")
    assert caught.value.field == "name" and "#" in caught.value.problem


@pytest.mark.parametrize(
    ("scouts", "field", "words"),
    [
        (["a", "nobody"], "scouts[1]", "no member is named 'nobody'"),
        ([], "scouts", "empty"),
        (["a"], "scouts", "cannot agree"),
        (["a", "a"], "scouts", "twice"),
        (["a", "b", "c"], "scouts", "nobody to escalate to"),
    ],
)
def test_bad_scouts_name_the_field(scouts, field, words):
    with pytest.raises(ConfigError) as caught:
        FusionConfig(pool=_pool("a", "b", "c"), scouts=scouts)
    assert caught.value.field == field
    assert words in caught.value.problem


def test_judge_swap_with_a_single_candidate_names_the_field():
    with pytest.raises(ConfigError) as caught:
        FusionConfig(pool=_pool("a"), judge=Judge("openai:j"), judge_swap=True)
    assert caught.value.field == "judge_swap"
    assert "single candidate" in caught.value.problem
    # one member with two samples has two candidates: that is fine
    config = FusionConfig(pool=_pool("a", samples=2), judge=Judge("openai:j"), judge_swap=True)
    assert config.candidate_names == ["a#1", "a#2"]


@pytest.mark.parametrize(
    ("update", "field"),
    [
        ({"answer_format": "numbers"}, "answer_format"),
        ({"answer_format": 3}, "answer_format"),
        ({"majority_policy": "vote"}, "majority_policy"),
        ({"merge_policy": "judge"}, "merge_policy"),
        ({"escalate": "never"}, "escalate"),
        ({"scout_agreement": 0}, "scout_agreement"),
    ],
)
def test_bad_evidence_settings_name_the_field(update, field):
    with pytest.raises(ConfigError) as caught:
        FusionConfig(pool=_pool("a", "b"), **update)
    assert caught.value.field == field


async def test_judge_swap_on_a_one_sample_member_and_another_runs_over_http():
    members = {"a": R400, "b": R409}
    async with server_of(members, judge=judge_script(pick=label_with("= 400"))) as server:
        config = FusionConfig(
            pool=[Member(**member_spec(server, name)) for name in members],
            judge=Judge(**member_spec(server, "judge")),
            judge_swap=True,
        )
        result = await fuse(QUESTION, config)
        assert server.calls("judge") == 2
    assert result.winner == "a" and result.swap is not None
