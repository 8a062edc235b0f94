import asyncio

import pytest

from fusion_graph import ConfigError, FusionConfig, Judge, Member, QuorumNotReached, estimate_cost, fuse
from fusion_graph.testing import ScriptedChatModel
from tests._builders import config, member, model_of

PROMPT = "Is 1001 prime?"


async def test_deadline_cancels_stragglers_once_the_quorum_is_in():
    cfg = config(
        member("fast", "not prime", latency=0.05),
        member("quick", "not prime: 7 x 143", latency=0.1),
        member("slow", "late answer " * 50, latency=5),
        min_answers=2,
        deadline=0.3,
    )
    loop = asyncio.get_running_loop()
    started = loop.time()
    result = await fuse(PROMPT, cfg)
    elapsed = loop.time() - started
    assert elapsed < 1.5
    (slow,) = [c for c in result.candidates if c.member == "slow"]
    assert slow.error_kind == "cancelled" and slow.partial
    assert slow.usage.input_tokens > 0  # its prompt was spent even though it never answered


async def test_without_a_deadline_every_member_is_awaited():
    cfg = config(member("a", "x", latency=0.05), member("b", "y", latency=0.4), min_answers=1)
    result = await fuse(PROMPT, cfg)
    assert all(c.ok for c in result.candidates)


async def test_stragglers_run_until_the_quorum_even_past_the_deadline():
    cfg = config(
        member("a", "x", latency=0.05),
        member("b", "y", latency=0.5),
        member("c", "z", latency=3),
        min_answers=2,
        deadline=0.1,
    )
    result = await fuse(PROMPT, cfg)
    by = {c.member: c for c in result.candidates}
    assert by["a"].ok and by["b"].ok and by["c"].error_kind == "cancelled"


async def test_a_round_short_of_its_quorum_names_each_cause():
    cfg = config(
        member("a", "x"),
        member("b", RuntimeError("429 rate limited")),
        member("c", RuntimeError("500")),
        min_answers=2,
    )
    with pytest.raises(QuorumNotReached) as info:
        await fuse(PROMPT, cfg)
    assert info.value.needed == 2 and info.value.answered == ["a"]
    assert {c.member for c in info.value.causes} == {"b", "c"}
    assert "429 rate limited" in str(info.value)


def priced(name: str, *script, max_tokens: int = 10, price: float = 1_000_000.0, **kw) -> Member:
    model = ScriptedChatModel(script=list(script) or ["one two three"])
    return Member(model, name=name, price_in=price, price_out=price, params={"max_tokens": max_tokens}, **kw)


async def test_budget_skips_members_whose_worst_case_would_cross_it():
    judge = Judge(ScriptedChatModel(usage=(10, 5)), price_in=0, price_out=0)
    cfg = FusionConfig(pool=[priced("a"), priced("b"), priced("c")], judge=judge, budget_usd=50.0)
    result = await fuse(PROMPT, cfg)
    ran = [c.member for c in result.candidates if c.ok]
    assert ran == ["a", "b"]
    assert result.skipped and result.skipped[0].startswith("member c, round 0")
    assert result.usage.total.cost_usd <= 50.0
    assert model_of(cfg, "c").calls == []  # never called


async def test_budget_skips_a_judge_that_would_cross_it():
    judge = Judge(ScriptedChatModel(), price_in=1_000_000, price_out=1_000_000, params={"max_tokens": 500})
    cfg = FusionConfig(
        pool=[priced("a", "x", price=0.0), priced("b", "y", price=0.0)], judge=judge, budget_usd=1.0
    )
    result = await fuse(PROMPT, cfg)
    assert result.decided_by == "judge-free:most-consistent"
    assert any(s.startswith("judge") for s in result.skipped)
    assert isinstance(judge.model, ScriptedChatModel) and judge.model.calls == []


def test_budget_needs_max_tokens_for_priced_models():
    with pytest.raises(ConfigError) as info:
        FusionConfig(pool=[Member("fake:a", price_out=1.0)], budget_usd=1.0)
    assert info.value.field == "pool[0].params.max_tokens"


def test_estimate_cost_before_a_run():
    cfg = FusionConfig(
        pool=[priced("a", max_tokens=100, price=1.0), priced("b", max_tokens=100, price=2.0)],
        judge=Judge("fake:j", price_in=1.0, price_out=1.0, params={"max_tokens": 200}),
        mode="debate",
        rounds=2,
    )
    estimate = estimate_cost(cfg, "x" * 300)
    assert estimate.members["b"] == pytest.approx(2 * estimate.members["a"])
    assert estimate.judge > 0 and estimate.total == pytest.approx(
        sum(estimate.members.values()) + estimate.judge
    )
    one_round = estimate_cost(cfg.replace(mode="best-of"), "x" * 300)
    assert one_round.members["a"] < estimate.members["a"] / 2
    assert estimate.assumed_max_tokens == {}


async def test_debate_transcripts_are_condensed_to_a_small_window():
    long = "word " * 3000
    small = Member(
        ScriptedChatModel(script=["short answer", "short revised"]),
        name="small",
        context_window=1200,
        params={"max_tokens": 100},
    )
    big = Member(ScriptedChatModel(script=[long, long]), name="big", context_window=256_000)
    cfg = FusionConfig(
        pool=[small, big],
        judge=Judge(ScriptedChatModel(), context_window=2000),
        mode="debate",
        rounds=1,
        consensus=None,
    )
    result = await fuse(PROMPT, cfg)
    small_model = small.model
    assert isinstance(small_model, ScriptedChatModel)
    revise_prompt = small_model.calls[1][-1].text
    assert len(revise_prompt) < 1200 * 3
    assert "characters cut to fit" in revise_prompt
    assert any("member small, round 1: debate: condensed" in cut for cut in result.cuts)
    assert any(cut.startswith("judge") for cut in result.cuts)
    big_model = big.model
    assert isinstance(big_model, ScriptedChatModel)
    assert long.strip() in big_model.calls[1][-1].text  # the big window needed no cut


async def test_long_conversations_drop_their_oldest_turns():
    history = []
    for i in range(30):
        history += [("user", f"question {i} " + "pad " * 40), ("assistant", f"answer {i} " + "pad " * 40)]
    history.append(("user", "final question"))
    tiny = Member(
        ScriptedChatModel(script=["ok"]), name="tiny", context_window=800, params={"max_tokens": 50}
    )
    cfg = FusionConfig(pool=[tiny], judge="fake:j")
    result = await fuse(history, cfg)
    seen = tiny.model.calls[0]  # type: ignore[union-attr]
    assert seen[-1].content == "final question" and len(seen) < len(history)
    assert any("dropped the" in cut for cut in result.cuts)
