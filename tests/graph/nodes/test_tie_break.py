"""vote's tie-break without the judge (``tie_break="member:…"``) and a greedy first sample
(``Member(greedy_first=True)``), through the real graph over loopback HTTP."""

from __future__ import annotations

from typing import Any

import pytest

from fusion_graph import ConfigError, FusionConfig, Member, fuse
from fusion_graph.cli._explain import decision_in_words
from fusion_graph.testing import Fault, ModelScript
from tests._quality_stubs import (
    QUESTION,
    first_shown,
    judge_script,
    make_config,
    member_spec,
    requests_to,
    server_of,
)

R400 = "12 * 33 = 396, and 396 + 4 = 400. The answer is 400."
R409 = "I get 12 * 33 = 405, plus 4. The answer is 409."
R401 = "The answer is 401."
R400B = "Multiplying first gives 396; adding four.\nFinal answer: 400"


async def test_a_three_way_split_goes_to_the_tie_break_member_without_the_judge():
    members = {"a": R409, "b": R400, "c": R401}
    async with server_of(members, judge=judge_script(pick=first_shown)) as server:
        result = await fuse(QUESTION, make_config(server, list(members), mode="vote", tie_break="member:b"))
        judge_calls = server.calls("judge")
    assert result.decided_by == "vote:tie-break"
    assert judge_calls == 0 and result.judge_calls == [] and result.verdict is None
    assert result.winner == "b" and result.answer == R400
    assert result.decision is not None and "tie_break" in result.decision.why
    assert result.decision.winner == "400"
    words = decision_in_words(result)
    assert "tie-break" in words and "b's answer (400)" in words and "no judge was asked" in words


async def test_a_majority_still_overrules_the_tie_break_member():
    members = {"a": R409, "b": R400, "c": R400B}
    async with server_of(members, judge=judge_script(pick=first_shown)) as server:
        result = await fuse(QUESTION, make_config(server, list(members), mode="vote", tie_break="member:a"))
        assert server.calls("judge") == 0
    assert result.decided_by == "vote:majority"
    assert result.answers[result.winner or ""] == "400"


async def test_a_tie_break_member_that_failed_leaves_the_tie_to_the_judge():
    members: dict[str, Any] = {"a": R409, "b": ModelScript(faults=[Fault.HTTP_500] * 3), "c": R401}
    async with server_of(members, judge=judge_script(pick=first_shown)) as server:
        result = await fuse(QUESTION, make_config(server, list(members), mode="vote", tie_break="member:b"))
        assert server.calls("judge") == 1
    assert result.decided_by == "judge:judge"
    assert any("tie_break: b gave no answer" in issue for issue in result.verdict_issues)


async def test_best_of_asks_the_judge_whatever_the_tie_break():
    members = {"a": R409, "b": R400, "c": R401}
    async with server_of(members, judge=judge_script(pick=first_shown)) as server:
        config = make_config(server, list(members), mode="best-of", tie_break="member:b")
        result = await fuse(QUESTION, config)
        assert server.calls("judge") >= 1
    assert result.decided_by != "vote:tie-break" and result.judge_calls


def _greedy_or_sampled(body: dict[str, Any]) -> str:
    """Greedy calls say 400; sampled ones give an answer of their own seed."""
    if body.get("temperature") == 0.0:
        return R400
    return f"The answer is {500 + int(body['seed'])}."


async def test_greedy_first_decodes_the_first_sample_greedily_and_breaks_the_tie():
    async with server_of({"m": ModelScript(reply=_greedy_or_sampled)}, judge=judge_script()) as server:
        params = {"temperature": 0.7, "seed": 7}
        member = Member(**member_spec(server, "m", params=params), samples=3, greedy_first=True)
        config = make_config(server, [member], mode="vote", tie_break="member:m")
        result = await fuse(QUESTION, config)
        bodies = requests_to(server, "m")
        assert server.calls("judge") == 0
    assert sorted((b.get("temperature"), b.get("seed")) for b in bodies) == [(0.0, 7), (0.7, 8), (0.7, 9)]
    assert result.answers == {"m#1": "400", "m#2": "508", "m#3": "509"}
    assert result.decided_by == "vote:tie-break" and result.winner == "m#1"


async def test_two_samples_that_agree_overrule_the_greedy_first_sample():
    def reply(body: dict[str, Any]) -> str:
        return R409 if body.get("temperature") == 0.0 else R400

    async with server_of({"m": ModelScript(reply=reply)}, judge=judge_script()) as server:
        params = {"temperature": 0.7, "seed": 7}
        member = Member(**member_spec(server, "m", params=params), samples=3, greedy_first=True)
        result = await fuse(QUESTION, make_config(server, [member], mode="vote", tie_break="member:m"))
    assert result.decided_by == "vote:majority"
    assert result.answers["m#1"] == "409" and result.answers[result.winner or ""] == "400"


@pytest.mark.parametrize(
    ("changes", "field", "fix"),
    [
        ({"tie_break": "first"}, "tie_break", "'judge' or one of"),
        ({"tie_break": "member:zed"}, "tie_break", "use one of ['a', 'b']"),
    ],
)
def test_a_bad_tie_break_names_the_field_and_the_fix(changes: dict[str, Any], field: str, fix: str):
    changes.setdefault("mode", "vote")
    with pytest.raises(ConfigError) as caught:
        FusionConfig(pool=[Member("fake:x", name="a"), Member("fake:y", name="b")], **changes)
    assert caught.value.field == field
    assert fix in str(caught.value)


def test_a_sample_name_can_break_ties_and_resolves_to_itself():
    config = FusionConfig(pool=[Member("fake:x", name="a", samples=3)], mode="vote", tie_break="member:a#2")
    assert config.tie_breaker() == "a#2"
    assert config.replace(tie_break="member:a").tie_breaker() == "a#1"
    assert config.replace(tie_break="judge").tie_breaker() is None


def test_greedy_first_needs_samples():
    with pytest.raises(ConfigError) as caught:
        FusionConfig(pool=[Member("fake:x", greedy_first=True)])
    assert caught.value.field.endswith("greedy_first")
    assert "samples=2 or more" in str(caught.value)
