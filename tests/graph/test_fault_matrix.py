"""Members and judges driven through a real OpenAI-compatible server that injects faults.

Every case ends with an answer or a typed error, within a wall-time bound derived from the
configured timeouts, and every failure is reported in the result (``error_kind``/``error`` per
candidate, ``judge_calls[i].error``, ``decided_by``).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import langchain_openai  # noqa: F401  (imported here so that no timed fusion pays for it)
import pytest

from fusion_graph import (
    AllMembersFailed,
    FusionConfig,
    Judge,
    JudgeFailed,
    Member,
    QuorumNotReached,
    fuse,
)
from fusion_graph.testing import Fault, ModelScript, OpenAIStubServer

pytestmark = pytest.mark.timeout(20)

MEMBER_TIMEOUT = 1.0
"""Seconds a member may take (also its HTTP client's timeout)."""
JUDGE_TIMEOUT = 1.0
RETRY_AFTER = 0.05
SLACK = 3.0
"""Seconds for everything that is not waiting on a timeout: retries' back-off, the judge, start-up."""
TIMEOUT_WORDS = ("no answer within", "timeout", "Timeout", "timed out")
GOOD_ANSWER = "1001 = 7 x 11 x 13, so it is not prime."


def _models(**overrides: ModelScript) -> dict[str, ModelScript]:
    models = {
        "good": ModelScript(reply=GOOD_ANSWER),
        "victim": ModelScript(reply="1001 is not prime: 7 x 143."),
        "judge": ModelScript(judge=True),
        "backup": ModelScript(judge=True),
    }
    models.update(overrides)
    return models


def _member(server: OpenAIStubServer, model: str, retries: int = 0, **kwargs: Any) -> Member:
    return Member(
        f"openai:{model}",
        name=model,
        base_url=server.base_url,
        api_key="sk-test",
        timeout=MEMBER_TIMEOUT,
        params={"max_retries": retries},
        **kwargs,
    )


def _judge(server: OpenAIStubServer, model: str, retries: int = 0, **kwargs: Any) -> Judge:
    return Judge(
        f"openai:{model}",
        name=model,
        base_url=server.base_url,
        api_key="sk-test",
        timeout=JUDGE_TIMEOUT,
        params={"max_retries": retries},
        **kwargs,
    )


def _bound(config: FusionConfig) -> float:
    """The longest a fusion may take: its slowest member's attempts, then every judge's, plus slack."""
    member = max((m.timeout or 0) * (1 + m.params.get("max_retries", 0)) for m in config.pool)
    judges = [config.effective_judge, *config.effective_judge.fallbacks]
    judge = sum((j.timeout or 0) * (1 + j.params.get("max_retries", 0)) for j in judges)
    return member * (config.rounds if config.mode == "debate" else 1) + judge + SLACK


# --------------------------------------------------------------------------------------------- members


@dataclass
class MemberCase:
    faults: list[Fault | None]
    retries: int = 0
    stream: bool = False
    """Members stream when the config has a deadline."""
    ok: bool = False
    kinds: tuple[str, ...] = ("error",)
    words: tuple[str, ...] = ()
    """Any one of these must be in the candidate's error."""
    calls: int | None = None
    """How many requests the server must have seen for the victim."""
    tools: list[Any] = field(default_factory=list)


def lookup(city: str) -> str:
    """Look up a city's population."""
    return f"{city}: 1001"


MEMBER_CASES: dict[str, MemberCase] = {
    "timeout": MemberCase([Fault.TIMEOUT], kinds=("timeout", "error"), words=TIMEOUT_WORDS),
    "timeout-streaming": MemberCase(
        [Fault.TIMEOUT], stream=True, kinds=("timeout", "error"), words=TIMEOUT_WORDS
    ),
    "429-retried-recovers": MemberCase([Fault.HTTP_429], retries=1, ok=True, calls=2),
    "429-exhausted": MemberCase([Fault.HTTP_429] * 5, retries=1, words=("RateLimitError",), calls=2),
    "500-retried-recovers": MemberCase([Fault.HTTP_500], retries=1, ok=True, calls=2),
    "500": MemberCase([Fault.HTTP_500] * 3, words=("Error code: 500",), calls=1),
    "503-retried-recovers": MemberCase([Fault.HTTP_503], retries=1, ok=True, calls=2),
    "503-exhausted": MemberCase([Fault.HTTP_503] * 5, retries=1, words=("503",), calls=2),
    "503-streaming-recovers": MemberCase([Fault.HTTP_503], retries=1, stream=True, ok=True, calls=2),
    "connection-reset-recovers": MemberCase([Fault.CONNECTION_RESET], retries=1, ok=True, calls=2),
    "connection-reset": MemberCase([Fault.CONNECTION_RESET] * 3, words=("ConnectionError",), calls=1),
    "401-not-retried": MemberCase([Fault.HTTP_401] * 3, retries=2, words=("AuthenticationError",), calls=1),
    "400-not-retried": MemberCase(
        [Fault.HTTP_400] * 3, retries=2, words=("InvalidRequestError", "Error code: 400"), calls=1
    ),
    "malformed-json": MemberCase([Fault.MALFORMED_JSON], calls=1),
    "malformed-json-streaming": MemberCase([Fault.MALFORMED_JSON], stream=True, calls=1),
    "empty-content": MemberCase([Fault.EMPTY_CONTENT], kinds=("empty",), words=("empty",), calls=1),
    "empty-content-streaming": MemberCase(
        [Fault.EMPTY_CONTENT], stream=True, kinds=("empty",), words=("empty",), calls=1
    ),
    "invalid-tool-args": MemberCase([Fault.INVALID_TOOL_ARGS], ok=True, calls=2, tools=[lookup]),
    "stream-stall": MemberCase(
        [Fault.STREAM_STALL], stream=True, kinds=("timeout", "error"), words=TIMEOUT_WORDS
    ),
    "stall-after-headers": MemberCase([Fault.STREAM_STALL], kinds=("timeout", "error"), words=TIMEOUT_WORDS),
    "stream-cut": MemberCase([Fault.STREAM_CUT], stream=True, calls=1),
    "body-cut": MemberCase([Fault.STREAM_CUT], calls=1),
}


@pytest.mark.parametrize("case", list(MEMBER_CASES.values()), ids=list(MEMBER_CASES))
async def test_member_fault(case: MemberCase):
    async with OpenAIStubServer(
        models=_models(victim=ModelScript(faults=case.faults, retry_after=RETRY_AFTER))
    ) as server:
        config = FusionConfig(
            pool=[_member(server, "good"), _member(server, "victim", retries=case.retries)],
            judge=_judge(server, "judge"),
            deadline=30.0 if case.stream else None,
        )
        started = time.perf_counter()
        result = await fuse("Is 1001 prime?", config, tools=case.tools or None)
        elapsed = time.perf_counter() - started
        victim_requests = [r for r in server.requests if r["model"] == "victim"]

    assert elapsed < _bound(config), f"took {elapsed:.1f} s"
    assert all(bool(r.get("stream")) is case.stream for r in victim_requests)
    if case.calls is not None:
        assert len(victim_requests) == case.calls
    (victim,) = [c for c in result.candidates if c.member == "victim"]
    (good,) = [c for c in result.candidates if c.member == "good"]
    assert good.ok and good.text == GOOD_ANSWER
    if case.ok:
        assert victim.ok and victim.error_kind is None and victim.text
        assert result.decided_by == "judge:judge"
    else:
        assert not victim.ok and victim.text == ""
        assert victim.error_kind in case.kinds, victim.error
        if case.words:
            assert any(word in (victim.error or "") for word in case.words), victim.error
        # the only candidate left needs no judge, and the result says so
        assert result.decided_by == "only-candidate"
        assert result.answer == GOOD_ANSWER and result.winner == "good"


async def test_every_member_failing_raises_all_members_failed_with_each_cause():
    models = _models(
        good=ModelScript(faults=[Fault.HTTP_500] * 3), victim=ModelScript(faults=[Fault.TIMEOUT])
    )
    async with OpenAIStubServer(models=models) as server:
        config = FusionConfig(
            pool=[_member(server, "good"), _member(server, "victim")], judge=_judge(server, "judge")
        )
        started = time.perf_counter()
        with pytest.raises(AllMembersFailed) as info:
            await fuse("Is 1001 prime?", config)
        assert time.perf_counter() - started < _bound(config)
        assert server.calls("judge") == 0
    causes = {cause.member: cause for cause in info.value.causes}
    assert set(causes) == {"good", "victim"}
    assert causes["good"].kind == "error" and "Error code: 500" in str(causes["good"])
    assert causes["victim"].kind in ("timeout", "error")


async def test_a_round_short_of_its_quorum_raises_quorum_not_reached():
    models = _models(victim=ModelScript(faults=[Fault.HTTP_401]))
    async with OpenAIStubServer(models=models) as server:
        config = FusionConfig(
            pool=[_member(server, "good"), _member(server, "victim", retries=2)],
            judge=_judge(server, "judge"),
            min_answers=2,
        )
        with pytest.raises(QuorumNotReached) as info:
            await fuse("Is 1001 prime?", config)
        assert server.calls("victim") == 1
    assert not isinstance(info.value, AllMembersFailed)
    assert info.value.answered == ["good"] and info.value.needed == 2
    (cause,) = info.value.causes
    assert cause.member == "victim" and "AuthenticationError" in str(cause)


async def test_a_debate_member_failing_in_round_one_keeps_its_first_answer():
    models = _models(victim=ModelScript(reply="1001 is 7 x 143.", faults=[None, Fault.HTTP_500]))
    async with OpenAIStubServer(models=models) as server:
        config = FusionConfig(
            pool=[_member(server, "good"), _member(server, "victim")],
            judge=_judge(server, "judge"),
            mode="debate",
            rounds=1,
            consensus=None,
        )
        started = time.perf_counter()
        result = await fuse("Is 1001 prime?", config)
        assert time.perf_counter() - started < _bound(config)
    status = {(c.member, c.round): c.error_kind for c in result.candidates}
    assert status == {("good", 0): None, ("victim", 0): None, ("good", 1): None, ("victim", 1): "error"}
    assert result.decided_by == "judge:judge"


# ----------------------------------------------------------------------------------------------- judge


@dataclass
class JudgeCase:
    faults: list[Fault | None]
    retries: int = 0
    words: tuple[str, ...] = ()
    """Any one of these must be in the failed judge call's error."""
    calls: int | None = None
    recovers: bool = False


JUDGE_CASES: dict[str, JudgeCase] = {
    "timeout": JudgeCase([Fault.TIMEOUT], words=TIMEOUT_WORDS, calls=1),
    "429-retried-recovers": JudgeCase([Fault.HTTP_429], retries=1, recovers=True, calls=2),
    "429-exhausted": JudgeCase([Fault.HTTP_429] * 5, retries=1, words=("RateLimitError",), calls=2),
    "500": JudgeCase([Fault.HTTP_500] * 3, words=("Error code: 500",), calls=1),
    "503-retried-recovers": JudgeCase([Fault.HTTP_503], retries=1, recovers=True, calls=2),
    "connection-reset": JudgeCase([Fault.CONNECTION_RESET] * 3, words=("ConnectionError",), calls=1),
    "401-not-retried": JudgeCase([Fault.HTTP_401] * 3, retries=2, words=("AuthenticationError",), calls=1),
    "400-not-retried": JudgeCase(
        [Fault.HTTP_400] * 3, retries=2, words=("InvalidRequestError", "Error code: 400"), calls=1
    ),
    "malformed-json": JudgeCase([Fault.MALFORMED_JSON], calls=1),
    "empty-content": JudgeCase([Fault.EMPTY_CONTENT], calls=1),
    "invalid-tool-args": JudgeCase([Fault.INVALID_TOOL_ARGS], calls=1),
    "stall-after-headers": JudgeCase([Fault.STREAM_STALL], words=TIMEOUT_WORDS, calls=1),
    "body-cut": JudgeCase([Fault.STREAM_CUT], calls=1),
}


@pytest.mark.parametrize("case", list(JUDGE_CASES.values()), ids=list(JUDGE_CASES))
async def test_judge_fault_falls_back(case: JudgeCase):
    models = _models(
        victim=ModelScript(reply="1001 is not prime: 7 x 143."),
        judge=ModelScript(judge=True, faults=case.faults, retry_after=RETRY_AFTER),
    )
    async with OpenAIStubServer(models=models) as server:
        config = FusionConfig(
            pool=[_member(server, "good"), _member(server, "victim")],
            judge=_judge(server, "judge", retries=case.retries, fallbacks=[_judge(server, "backup")]),
        )
        started = time.perf_counter()
        result = await fuse("Is 1001 prime?", config)
        elapsed = time.perf_counter() - started
        judge_requests = server.calls("judge")
        backup_requests = server.calls("backup")

    assert elapsed < _bound(config), f"took {elapsed:.1f} s"
    if case.calls is not None:
        assert judge_requests == case.calls
    assert all(c.ok for c in result.candidates)
    if case.recovers:
        assert result.decided_by == "judge:judge"
        assert [j.error for j in result.judge_calls] == [None]
        assert backup_requests == 0
        return
    assert result.decided_by == "fallback:backup"
    assert backup_requests == 1
    first, second = result.judge_calls
    assert first.judge == "judge" and first.error
    if case.words:
        assert any(word in first.error for word in case.words), first.error
    assert second.judge == "backup" and second.error is None
    assert result.verdict is not None and result.winner in ("good", "victim")


async def test_every_judge_failing_falls_back_to_a_judge_free_pick():
    models = _models(
        judge=ModelScript(judge=True, faults=[Fault.HTTP_500]),
        backup=ModelScript(judge=True, faults=[Fault.TIMEOUT]),
    )
    async with OpenAIStubServer(models=models) as server:
        config = FusionConfig(
            pool=[_member(server, "good"), _member(server, "victim")],
            judge=_judge(server, "judge", fallbacks=[_judge(server, "backup")]),
        )
        started = time.perf_counter()
        result = await fuse("Is 1001 prime?", config)
        assert time.perf_counter() - started < _bound(config)
    assert result.decided_by == "judge-free:most-consistent"
    assert result.verdict is None
    assert result.winner in ("good", "victim")
    assert result.answer == next(c.text for c in result.candidates if c.member == result.winner)
    errors = {j.judge: j.error or "" for j in result.judge_calls}
    assert "Error code: 500" in errors["judge"]
    assert any(word in errors["backup"] for word in TIMEOUT_WORDS)


async def test_without_the_judge_free_fallback_judge_failed_carries_every_cause():
    models = _models(
        judge=ModelScript(judge=True, faults=[Fault.HTTP_401]),
        backup=ModelScript(judge=True, faults=[Fault.EMPTY_CONTENT]),
    )
    async with OpenAIStubServer(models=models) as server:
        config = FusionConfig(
            pool=[_member(server, "good"), _member(server, "victim")],
            judge=_judge(server, "judge", retries=2, fallbacks=[_judge(server, "backup")]),
            judge_free_fallback=False,
        )
        started = time.perf_counter()
        with pytest.raises(JudgeFailed) as info:
            await fuse("Is 1001 prime?", config)
        assert time.perf_counter() - started < _bound(config)
        assert server.calls("judge") == 1
    error = info.value
    assert error.judge == "backup"
    assert len(error.causes) == 2
    assert error.causes[0].startswith("judge:") and "AuthenticationError" in error.causes[0]
    assert error.causes[1].startswith("backup:")


# ------------------------------------------------------------------------------------------------ cost


async def test_a_cost_the_provider_reports_is_used_instead_of_the_configured_price():
    models = _models(victim=ModelScript(reply="1001 is not prime: 7 x 143.", cost=0.0123))
    async with OpenAIStubServer(models=models) as server:
        config = FusionConfig(
            pool=[
                _member(server, "good", price_in=1.0, price_out=2.0),
                _member(server, "victim", price_in=1000.0, price_out=1000.0),
            ],
            judge=_judge(server, "judge"),
        )
        result = await fuse("Is 1001 prime?", config)
    by_member = {c.member: c for c in result.candidates}
    victim, good = by_member["victim"], by_member["good"]
    assert victim.usage.input_tokens > 0 and victim.usage.output_tokens > 0
    assert victim.usage.cost_usd == pytest.approx(0.0123)
    expected = (good.usage.input_tokens * 1.0 + good.usage.output_tokens * 2.0) / 1e6
    assert good.usage.cost_usd == pytest.approx(expected)
    assert result.usage.members["victim"].cost_usd == pytest.approx(0.0123)


async def test_a_tool_call_with_invalid_json_arguments_goes_back_to_the_model():
    models = _models(victim=ModelScript(faults=[Fault.INVALID_TOOL_ARGS]))
    async with OpenAIStubServer(models=models) as server:
        config = FusionConfig(
            pool=[_member(server, "good"), _member(server, "victim")], judge=_judge(server, "judge")
        )
        result = await fuse("How many people live in Lyon?", config, tools=[lookup])
    (victim,) = [c for c in result.candidates if c.member == "victim"]
    assert victim.ok  # told its arguments were not JSON, it answered on the next step
    (bad,) = victim.tool_trace
    assert bad.name == "lookup" and bad.error
    assert "not valid JSON" in bad.result and "<<not json>>" in bad.args["_raw_arguments"]


async def test_invalid_tool_call_json_without_tools_is_reported_as_such():
    models = _models(victim=ModelScript(faults=[Fault.INVALID_TOOL_ARGS]))
    async with OpenAIStubServer(models=models) as server:
        config = FusionConfig(
            pool=[_member(server, "good"), _member(server, "victim")], judge=_judge(server, "judge")
        )
        result = await fuse("How many people live in Lyon?", config)
    (victim,) = [c for c in result.candidates if c.member == "victim"]
    assert victim.error_kind == "error" and "not valid JSON" in (victim.error or "")
