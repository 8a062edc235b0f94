"""All three modes against members and a judge served by a real OpenAI-compatible server on 127.0.0.1."""

import pytest

from fusion_graph import BestOfVerdict, FusionConfig, Judge, Member, MergeVerdict, fuse
from fusion_graph.testing import Fault, ModelScript, OpenAIStubServer


def _server() -> OpenAIStubServer:
    return OpenAIStubServer(
        models={
            "alpha": ModelScript(
                replies=["1001 = 7 x 11 x 13: not prime.", "Still not prime: 7 x 11 x 13."], latency=0.05
            ),
            "beta": ModelScript(replies=["1001 is prime.", "I was wrong: 1001 = 7 x 143, not prime."]),
            "broken": ModelScript(faults=[Fault.HTTP_500] * 10),
            "judge": ModelScript(judge=True, judge_fields={"answer": "Not prime: 1001 = 7 x 11 x 13."}),
        },
        api_key="sk-local",
    )


def _config(server: OpenAIStubServer, mode: str) -> FusionConfig:
    def spec(name: str) -> dict:
        return {
            "model": f"openai:{name}",
            "base_url": server.base_url,
            "api_key": "sk-local",
            "params": {"max_retries": 0},
        }

    return FusionConfig(
        pool=[Member(**spec("alpha")), Member(**spec("beta")), Member(**spec("broken"))],
        judge=Judge(**spec("judge"), price_in=1.0, price_out=2.0),
        mode=mode,
        rounds=1,
        consensus=None,
    )


@pytest.mark.parametrize("mode", ["best-of", "merge", "debate"])
async def test_every_mode_over_real_http(mode):
    async with _server() as server:
        result = await fuse("Is 1001 prime? Explain briefly.", _config(server, mode))
        judge_requests = [r for r in server.requests if r["model"] == "judge"]
    assert [c.member for c in result.candidates if not c.ok] == ["broken"]
    assert result.decided_by == "judge:openai:judge"
    if mode == "merge":
        assert isinstance(result.verdict, MergeVerdict)
        assert result.answer == "Not prime: 1001 = 7 x 11 x 13."
    else:
        assert isinstance(result.verdict, BestOfVerdict)
        assert result.answer == next(
            c.text for c in result.candidates if c.member == result.winner and c.round == result.rounds
        )
    if mode == "debate":
        assert result.rounds == 1
        assert {(c.member, c.round) for c in result.candidates if c.ok} == {
            ("alpha", 0),
            ("beta", 0),
            ("alpha", 1),
            ("beta", 1),
        }
    # tokens come from the server's usage, cost from the config's prices
    assert result.usage.members["alpha"].input_tokens > 0
    assert result.usage.judge[0].cost_usd > 0
    # the judge never learns which model wrote what
    shown = str(judge_requests[0]["messages"])
    assert "alpha" not in shown and "beta" not in shown and "answer_1" in shown


async def test_wrong_api_key_fails_the_member_with_a_clear_error():
    async with _server() as server:
        cfg = _config(server, "best-of")
        bad = cfg.pool[1].model_copy(
            update={"api_key": None, "params": {"max_retries": 0}, "model": "openai:beta"}
        )
        from pydantic import SecretStr

        bad = bad.model_copy(update={"api_key": SecretStr("wrong")})
        cfg = FusionConfig(pool=[cfg.pool[0], bad], judge=cfg.judge)
        result = await fuse("Q?", cfg)
    (failed,) = [c for c in result.candidates if not c.ok]
    assert failed.member == "beta"
    assert "AuthenticationError" in (failed.error or "")
