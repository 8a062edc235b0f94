import asyncio

import pytest
from langchain_core.messages import AIMessage

from fusion_graph import AllMembersFailed, BestOfVerdict, JudgeFailed, MergeVerdict, fuse
from fusion_graph.testing import ScriptedChatModel
from tests._builders import config, member, model_of

PROMPT = "Is 1001 prime? Explain briefly."


def pool_with_failure():
    return (
        member("alpha", "1001 = 7 x 11 x 13, so it is not prime."),
        member("beta", "1001 is prime."),
        member("gamma", RuntimeError("provider down")),
    )


async def test_best_of_picks_the_winner_text_and_reports_the_failure():
    judge = ScriptedChatModel(
        structured=lambda tool, msgs: {
            "winner": _label_of(msgs, "7 x 11 x 13"),
            "rationale": "it factors 1001",
            "scores": [
                {"label": "answer_1", "score": 9, "reason": "r"},
                {"label": "answer_2", "score": 2, "reason": "r"},
            ],
        }
    )
    result = await fuse(PROMPT, config(*pool_with_failure(), judge=judge, mode="best-of"))
    assert result.answer == "1001 = 7 x 11 x 13, so it is not prime."
    assert result.winner == "alpha"
    assert isinstance(result.verdict, BestOfVerdict)
    assert result.decided_by.startswith("judge:")
    failed = [c for c in result.candidates if not c.ok]
    assert [(c.member, c.error_kind) for c in failed] == [("gamma", "error")]
    assert "provider down" in (failed[0].error or "")
    assert set(result.labels) == {"alpha", "beta"}


async def test_merge_returns_the_judges_synthesis():
    judge = ScriptedChatModel(
        structured={
            "answer": "Not prime: 1001 = 7 x 11 x 13.",
            "consensus": [],
            "contradictions": ["prime or not"],
            "unique_insights": ["factorisation"],
        }
    )
    result = await fuse(PROMPT, config(*pool_with_failure(), judge=judge, mode="merge"))
    assert result.answer == "Not prime: 1001 = 7 x 11 x 13."
    assert isinstance(result.verdict, MergeVerdict)
    assert result.verdict.contradictions == ["prime or not"]
    assert result.winner is None


async def test_debate_runs_rounds_and_judges_the_last_answers():
    alpha = member("alpha", "not prime", "not prime: 7*11*13", "not prime: 7*11*13 = 1001")
    beta = member("beta", "prime", "hmm, maybe not prime", "not prime after all, 7 divides it")
    cfg = config(alpha, beta, mode="debate", rounds=2, consensus=None)
    result = await fuse(PROMPT, cfg)
    assert result.rounds == 2
    assert [(c.member, c.round) for c in result.candidates] == [
        ("alpha", 0),
        ("beta", 0),
        ("alpha", 1),
        ("beta", 1),
        ("alpha", 2),
        ("beta", 2),
    ]
    assert result.answer in {"not prime: 7*11*13 = 1001", "not prime after all, 7 divides it"}
    revise = model_of(cfg, "beta").calls[1][-1].text
    assert "not prime" in revise and "alpha" not in revise  # peers are anonymous
    assert "Your previous answer" in revise


async def test_debate_stops_early_when_answers_agree():
    cfg = config(
        member("a", "Not prime: 7 x 11 x 13."),
        member("b", "Not prime: 7 x 11 x 13."),
        mode="debate",
        rounds=3,
    )
    result = await fuse(PROMPT, cfg)
    assert result.converged and result.rounds == 0
    assert model_of(cfg, "a").calls and len(model_of(cfg, "a").calls) == 1


async def test_debate_member_failing_in_a_revision_keeps_its_earlier_answer():
    cfg = config(
        member("a", "first a", RuntimeError("429")),
        member("b", "first b", "second b"),
        member("c", "first c", "second c"),
        mode="debate",
        rounds=1,
        consensus=None,
    )
    result = await fuse(PROMPT, cfg)
    failed = [(c.member, c.round) for c in result.candidates if not c.ok]
    assert failed == [("a", 1)]
    assert result.labels.keys() == {"a", "b", "c"}


async def test_a_timed_out_member_becomes_a_failed_candidate():
    slow = member("slow", "late", latency=5, timeout=0.2)
    cfg = config(member("fast", "quick"), slow)
    started = asyncio.get_running_loop().time()
    result = await fuse(PROMPT, cfg)
    assert asyncio.get_running_loop().time() - started < 2
    assert result.answer == "quick" and result.decided_by == "only-candidate"
    (failed,) = [c for c in result.candidates if not c.ok]
    assert failed.error_kind == "timeout"


async def test_empty_answer_is_a_failure_not_an_answer():
    result = await fuse(PROMPT, config(member("a", ""), member("b", "something")))
    assert result.answer == "something"
    assert [c.error_kind for c in result.candidates if not c.ok] == ["empty"]


async def test_every_member_failing_raises_with_every_cause():
    cfg = config(member("a", RuntimeError("a down")), member("b", ValueError("b broken")))
    with pytest.raises(AllMembersFailed) as info:
        await fuse(PROMPT, cfg)
    assert [cause.member for cause in info.value.causes] == ["a", "b"]
    assert "a down" in str(info.value) and "b broken" in str(info.value)


async def test_judge_falls_back_then_goes_judge_free():
    broken = ScriptedChatModel(structured={"winner": "answer_99", "scores": [], "rationale": "?"})
    cfg = config(
        member("a", "7 x 11 x 13"), member("b", "7 x 11 x 13 indeed"), member("c", "prime"), judge=broken
    )
    result = await fuse(PROMPT, cfg)
    assert result.decided_by == "judge-free:most-consistent"
    assert result.winner in {"a", "b"}
    assert result.judge_calls[0].error and "answer_99" in result.judge_calls[0].error


async def test_judge_fallback_decides_when_the_first_judge_fails():
    from fusion_graph import FusionConfig, Judge

    failing = ScriptedChatModel(
        structured=lambda tool, msgs: (_ for _ in ()).throw(RuntimeError("judge 503"))
    )
    cfg = FusionConfig(
        pool=[member("a", "x"), member("b", "y")],
        judge=Judge(failing, fallbacks=[Judge(ScriptedChatModel(model_name="backup"))]),
    )
    result = await fuse(PROMPT, cfg)
    assert result.decided_by.startswith("fallback:")
    assert [bool(c.error) for c in result.judge_calls] == [True, False]


async def test_judge_failure_raises_when_judge_free_fallback_is_off():
    raw_text = AIMessage(content="I think the second one")
    judge = ScriptedChatModel(script=[raw_text], structured=lambda tool, msgs: {"nonsense": 1})
    cfg = config(member("a", "x"), member("b", "y"), judge=judge, judge_free_fallback=False)
    with pytest.raises(JudgeFailed) as info:
        await fuse(PROMPT, cfg)
    assert info.value.raw is not None and "nonsense" in info.value.raw


async def test_judge_sees_anonymous_shuffled_labels_deterministically():
    judges = [ScriptedChatModel(), ScriptedChatModel()]
    names = ["zeta-model", "omega-model", "kappa-model", "sigma-model"]
    results = []
    for judge in judges:
        cfg = config(*(member(n, f"text of {n[:5]}") for n in names), judge=judge, seed=7)
        results.append(await fuse(PROMPT, cfg))
    seen = judges[0].calls[0][-1].text
    for name in names:
        assert name not in seen
    assert results[0].labels == results[1].labels  # same seed, same prompt, same order
    order = [results[0].labels[n] for n in names]
    assert order != ["answer_1", "answer_2", "answer_3", "answer_4"]  # shuffled for this seed


async def test_judge_in_pool_is_reported():
    from fusion_graph import FusionConfig

    cfg = FusionConfig(pool=["fake:yes", "fake:no"], judge="fake:yes")
    result = await fuse(PROMPT, cfg)
    assert result.judge_in_pool == "yes"


async def test_usage_and_cost_per_member_and_judge():
    cfg = config(
        member("a", "one two three", price_in=1_000_000, price_out=2_000_000),
        member("b", "four five"),
        judge=ScriptedChatModel(usage=(100, 10)),
    )
    result = await fuse("count", cfg)
    a = result.usage.members["a"]
    assert (a.input_tokens, a.output_tokens) == (1, 3)
    assert a.cost_usd == pytest.approx(1 * 1 + 3 * 2)
    assert result.usage.judge[0].input_tokens == 100
    assert result.usage.total.input_tokens == 1 + 1 + 100
    assert result.usage.total.cost_usd == pytest.approx(7)


async def test_members_run_in_parallel():
    cfg = config(*(member(f"m{i}", "x", latency=0.3) for i in range(5)))
    started = asyncio.get_running_loop().time()
    await fuse(PROMPT, cfg)
    assert asyncio.get_running_loop().time() - started < 1.2


def _label_of(messages, needle: str) -> str:
    import re

    text = messages[-1].text
    for label, body in re.findall(r"\[(answer_\d+)\]\n(.*?)\n\[end of", text, re.S):
        if needle in body:
            return label
    raise AssertionError(f"{needle!r} not shown to the judge")


async def test_a_verdict_that_skips_a_candidate_is_a_judge_failure():
    partial = ScriptedChatModel(
        structured={
            "winner": "answer_1",
            "scores": [{"label": "answer_1", "score": 9, "reason": "r"}],
            "rationale": "?",
        }
    )
    result = await fuse(PROMPT, config(member("a", "x"), member("b", "y"), judge=partial))
    assert result.decided_by == "judge-free:most-consistent"
    assert "at least 2" in (result.judge_calls[0].error or "")
    assert result.judge_calls[0].raw and "answer_1" in result.judge_calls[0].raw


async def test_the_judge_schema_only_admits_the_labels_shown():
    judge = ScriptedChatModel()
    await fuse(PROMPT, config(member("a", "x"), member("b", "y"), member("c", "z"), judge=judge))
    schema = judge.call_kwargs[0]["tools"][0]["function"]["parameters"]
    text = str(schema)
    assert "'answer_1', 'answer_2', 'answer_3'" in text and "'minItems': 3" in text


async def test_stored_result_keeps_its_own_mode():
    from langgraph.checkpoint.memory import InMemorySaver

    from fusion_graph import Fusion

    saver = InMemorySaver()
    cfg = config(member("a", "x"), member("b", "y"), mode="merge")
    await Fusion(cfg, checkpointer=saver).run(PROMPT, thread_id="t")
    reread = await Fusion(cfg.model_copy(update={"mode": "best-of"}), checkpointer=saver).run(
        PROMPT, thread_id="t"
    )
    assert reread.mode == "merge"


def test_fixed_order_schema_scores_each_label_once_by_construction():
    from fusion_graph.verdicts import verdict_schema

    schema = verdict_schema("best-of", ["answer_1", "answer_2"], fixed_order=True)
    json_schema = schema.model_json_schema()
    assert "prefixItems" in str(json_schema)
    good = {
        "winner": "answer_2",
        "rationale": "r",
        "scores": [
            {"label": "answer_1", "score": 1, "reason": "x"},
            {"label": "answer_2", "score": 9, "reason": "y"},
        ],
    }
    schema.model_validate(good)
    twice = {**good, "scores": [good["scores"][1], good["scores"][1]]}
    with pytest.raises(ValueError):
        schema.model_validate(twice)


async def test_answers_worded_alike_with_different_numbers_do_not_end_a_debate():
    cfg = config(
        member("a", "The total is 42 apples.", "The total is 42 apples."),
        member("b", "The total is 43 apples.", "The total is 42 apples."),
        mode="debate",
        rounds=2,
    )
    result = await fuse(PROMPT, cfg)
    assert result.rounds == 1 and result.converged  # agreed only once the numbers matched


def test_agreement_reads_final_answers_with_the_configured_format():
    from fusion_graph.graph._decision import _agreement, final_keys

    def keys(fmt, *texts):
        return final_keys(fmt, [{"text": t, "tool_calls": []} for t in texts])  # type: ignore[list-item]

    assert _agreement(keys("number", "It is 12.", "It is 13."), ["It is 12.", "It is 13."]) == 0.0
    assert _agreement(keys("number", "It is 12.", "It is 12."), ["It is 12.", "It is 12."]) == 1.0
    # ``auto`` reads no final answer from these: the wording decides, not a forced number format
    texts = ["It is 12 apples.", "It is 13 apples."]
    assert keys("auto", *texts) == [None, None]
    level = _agreement(keys("auto", *texts), texts)
    assert level is not None and 0.0 < level < 1.0
    # a factorisation is no final number: not its last factor 13, which this test once expected
    assert keys("number", "so 7 x 11 x 13 = 1,001") == ["number:1001"]
    assert keys("number", "so 1,001 = 7 x 11 x 13") == [None]
