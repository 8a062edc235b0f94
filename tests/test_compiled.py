"""fuse() reuses a compiled Fusion only for what builds the same one: the cache and its key."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from langgraph.checkpoint.memory import InMemorySaver
from pydantic import SecretStr

from fusion_graph import FusionConfig, Judge, Member, fuse, runner
from fusion_graph._compiled import FUSE_CACHE_SIZE, FusionCache, fusion_key
from fusion_graph.runner import Fusion
from fusion_graph.testing import ScriptedChatModel
from tool_registry import ToolRegistry


def _spec_config(**changes: Any) -> FusionConfig:
    """A config of spec strings: each call builds new, equal objects."""
    fields: dict[str, Any] = {
        "pool": [Member("fake:a", name="a"), Member("fake:b", name="b", params={"temperature": 0.5})],
        "judge": Judge("fake:judge"),
    }
    return FusionConfig(**{**fields, **changes})


def _add(a: int, b: int) -> int:
    """Add two numbers."""
    return a + b


def _mul(a: int, b: int) -> int:
    """Multiply two numbers."""
    return a * b


def _counting(cache: FusionCache) -> tuple[list[Fusion], Any]:
    built: list[Fusion] = []

    def get(config: FusionConfig, tools: Any = None, checkpointer: Any = None) -> Fusion:
        def build() -> Fusion:
            built.append(Fusion(config, tools=tools, checkpointer=checkpointer))
            return built[-1]

        return cache.get(config, tools, checkpointer, build)

    return built, get


async def test_an_equal_config_reuses_the_compiled_fusion():
    built, get = _counting(FusionCache())
    first = get(_spec_config())
    again = get(_spec_config())  # new, equal objects
    assert again is first and len(built) == 1


async def test_fuse_keeps_one_fusion_per_config_and_runs_it():
    runner._FUSIONS.clear()
    config = _spec_config()
    one = await fuse("Q?", config)
    two = await fuse("Another Q?", _spec_config())
    assert len(runner._FUSIONS) == 1
    assert one.answer and two.answer
    await fuse("Q?", _spec_config(mode="vote"))
    assert len(runner._FUSIONS) == 2


@pytest.mark.parametrize(
    "other",
    [
        {"mode": "merge"},
        {"seed": 1},
        {"shuffle": False},
        {"answer_format": "number"},
        {"pool": [Member("fake:a", name="a"), Member("fake:b", name="b", params={"temperature": 1})]},
        {"pool": [Member("fake:a", name="a"), Member("fake:b", name="b", params={"temperature": True})]},
        {
            "pool": [
                Member("fake:a", name="a"),
                Member("fake:b", name="b", params={"temperature": 0.5}, api_key=SecretStr("k2")),
            ]
        },
        {"pool": [Member("fake:a", name="a"), Member("fake:b", name="b2", params={"temperature": 0.5})]},
        {
            "pool": [
                Member("fake:a", name="a", samples=2),
                Member("fake:b", name="b", params={"temperature": 0.5}),
            ]
        },
        {"judge": Judge("fake:judge", fallbacks=[Judge("fake:other")])},
        {"judge": Judge("fake:judge", timeout=5)},
    ],
)
async def test_two_different_configs_never_share_a_graph(other: dict[str, Any]):
    built, get = _counting(FusionCache())
    base = get(_spec_config())
    changed = get(_spec_config(**other))
    assert changed is not base and len(built) == 2
    assert fusion_key(_spec_config()) != fusion_key(_spec_config(**other))


async def test_params_in_any_key_order_are_one_config():
    a = Member("fake:a", name="a", params={"temperature": 0.5, "max_tokens": 10})
    b = Member("fake:a", name="a", params={"max_tokens": 10, "temperature": 0.5})
    assert fusion_key(FusionConfig(pool=[a])) == fusion_key(FusionConfig(pool=[b]))


async def test_model_instances_and_callables_key_on_identity():
    # equal fields, two models: each keeps its own script position, so they never share a graph
    one, two = ScriptedChatModel(script=["x"]), ScriptedChatModel(script=["x"])
    assert one == two
    assert fusion_key(FusionConfig(pool=[Member(one, name="m")])) != fusion_key(
        FusionConfig(pool=[Member(two, name="m")])
    )
    assert fusion_key(FusionConfig(pool=[Member(one, name="m")])) == fusion_key(
        FusionConfig(pool=[Member(one, name="m")])
    )

    def first(text: str) -> str | None:
        return text[:1]

    def also_first(text: str) -> str | None:
        return text[:1]

    pool = [Member("fake:a")]
    assert fusion_key(FusionConfig(pool=pool, answer_format=first)) == fusion_key(
        FusionConfig(pool=pool, answer_format=first)
    )
    assert fusion_key(FusionConfig(pool=pool, answer_format=first)) != fusion_key(
        FusionConfig(pool=pool, answer_format=also_first)
    )


async def test_a_config_with_tools_keys_on_the_tools():
    built, get = _counting(FusionCache())
    config = _spec_config()
    registry, other_registry = ToolRegistry(), ToolRegistry()
    registry.add_function(_add)
    other_registry.add_function(_add)
    no_tools = get(config)
    with_registry = get(config, registry)
    assert with_registry is not no_tools
    assert get(config, registry) is with_registry  # the same registry: reused
    assert get(config, other_registry) is not with_registry  # an equal but other registry: not
    tools: list[Any] = [_add]
    with_list = get(config, tools)
    assert get(config, [_add]) is with_list  # the same tools in another list
    assert get(config, [_mul]) is not with_list
    tools.append(_mul)
    assert get(config, tools) is not with_list  # a list changed since: keyed anew
    assert len(built) == 6


async def test_the_checkpointer_and_the_environment_are_in_the_key(monkeypatch: pytest.MonkeyPatch):
    config = _spec_config()
    saver = InMemorySaver()
    assert fusion_key(config, checkpointer=saver) == fusion_key(config, checkpointer=saver)
    assert fusion_key(config, checkpointer=saver) != fusion_key(config, checkpointer=InMemorySaver())
    assert fusion_key(config) != fusion_key(config, checkpointer=saver)
    before = fusion_key(config)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-changed-for-this-test")
    assert fusion_key(config) != before


def test_each_event_loop_gets_its_own_fusion():
    async def key() -> Any:
        return fusion_key(_spec_config())

    loops = [asyncio.new_event_loop() for _ in range(2)]
    try:
        one, two = (loop.run_until_complete(key()) for loop in loops)
        assert one != two
        assert loops[0].run_until_complete(key()) == one
    finally:
        for loop in loops:
            loop.close()


async def test_the_cache_stays_bounded_and_drops_the_least_recently_used():
    cache = FusionCache(maxsize=3)
    built, get = _counting(cache)
    configs = [_spec_config(seed=i) for i in range(5)]
    kept = [get(c) for c in configs[:3]]
    get(configs[0])  # used again: now the most recent
    get(configs[3])
    get(configs[4])
    assert len(cache) == 3
    assert get(configs[0]) is kept[0]  # kept
    assert get(configs[1]) is not kept[1]  # dropped, built anew
    assert len(built) == 6 and len(cache) == 3
    assert FUSE_CACHE_SIZE >= 1 and FusionCache().maxsize == FUSE_CACHE_SIZE
    with pytest.raises(ValueError):
        FusionCache(maxsize=0)


async def test_a_config_changed_in_place_is_not_served_a_stale_fusion():
    built, get = _counting(FusionCache())
    config = _spec_config()
    first = get(config)
    config.pool[1].params["temperature"] = 0.9  # frozen fields, but a mutable dict
    second = get(_spec_config())  # equal to the config as it was: the entry no longer matches it
    assert second is not first and len(built) == 2


async def test_concurrent_runs_of_one_cached_fusion_keep_their_own_state():
    runner._FUSIONS.clear()

    def echo(messages: list[Any]) -> str:
        return f"you asked: {messages[-1].text}"

    judge = ScriptedChatModel()
    config = FusionConfig(
        pool=[Member(ScriptedChatModel(script=[echo], latency=0.01), name=f"m{i}") for i in range(3)],
        judge=Judge(judge),
    )
    prompts = [f"question {i}" for i in range(30)]
    results = await asyncio.gather(*(fuse(p, config) for p in prompts))
    assert len(runner._FUSIONS) == 1
    for prompt, result in zip(prompts, results, strict=True):
        assert [c.text for c in result.candidates] == [f"you asked: {prompt}"] * 3
        assert result.answer == f"you asked: {prompt}"
        assert len(result.judge_calls) == 1
