"""The offline defaults: what ``make demo``, ``fusion run`` and ``fusion serve`` use without a config."""

from __future__ import annotations

import pytest

from fusion_graph.config import MODES
from fusion_graph.defaults import DEFAULT_SAMPLES, default_config, pool_config


def test_the_default_votes_over_samples_of_one_qwen() -> None:
    config = default_config()
    assert config.mode == "vote"  # the majority decides; the judge only breaks a tie
    (member,) = config.pool
    assert member.model == "local:qwen2.5-coder-0.5b"
    assert member.samples == DEFAULT_SAMPLES == 3
    assert member.params["temperature"] > 0  # greedy samples would all be alike
    assert member.greedy_first  # ... except the first: Qwen's own best single answer
    assert config.tie_break == "member:qwen-0.5b" and config.tie_breaker() == "qwen-0.5b#1"
    assert member.params.get("batch_samples", True)  # decoded together
    assert config.judge is not None and config.judge.params["instance"] == "judge"


@pytest.mark.parametrize("mode", MODES)
def test_every_mode_keeps_the_default_members(mode: str) -> None:
    assert default_config(mode).pool == default_config().pool  # type: ignore[arg-type]


def test_the_pool_is_kept_as_pool_config() -> None:
    assert [m.name for m in pool_config().pool] == ["qwen-0.5b", "smollm2-135m"]
    assert pool_config().judge == default_config().judge


@pytest.mark.parametrize("mode", ["best-of", "merge", "debate"])
def test_other_modes_keep_the_tie_break_for_a_later_vote(mode: str) -> None:
    # `fusion run --mode best-of` replaces the mode of the default: that must stay valid both ways
    assert default_config().replace(mode=mode) == default_config(mode)  # type: ignore[arg-type]
    assert default_config(mode).replace(mode="vote") == default_config()  # type: ignore[arg-type]


def test_one_sample_is_just_greedy_qwen() -> None:
    config = default_config(samples=1)
    assert not config.pool[0].greedy_first and config.tie_break == "judge"
