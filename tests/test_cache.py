"""Cached fusions: a hit, a miss after the TTL, a miss when anything in the key changes.

Through the real graph, with LangGraph's own caches (``InMemoryCache``, ``SqliteCache``) and
checkpointers; the members are scripted fakes, whose calls show whether a model ran.
"""

from __future__ import annotations

import datetime
import types
from pathlib import Path
from typing import Any

import pytest
from langchain_core.messages import AIMessage
from langgraph.cache.memory import InMemoryCache
from langgraph.cache.sqlite import SqliteCache
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.graph import START, MessagesState, StateGraph
from langgraph.types import CachePolicy

from fusion_graph import (
    ConfigError,
    Fusion,
    FusionChatModel,
    FusionConfig,
    FusionNode,
    FusionResult,
    Judge,
    Member,
)
from fusion_graph.testing import ScriptedChatModel

PROMPT = "What is 6 times 7?"


def members(**changes: Any) -> list[Member]:
    """Two scripted members; ``changes`` go to the second one's settings."""
    return [
        Member(ScriptedChatModel(script=["42"]), name="alpha"),
        Member(ScriptedChatModel(script=["The answer is 42"]), name="beta", **changes),
    ]


def pool_config(**changes: Any) -> FusionConfig:
    return FusionConfig(pool=members(), judge=Judge(ScriptedChatModel()), mode="merge", **changes)


def calls(config: FusionConfig) -> int:
    """How many calls the members and the judge have received."""
    models = [m.model for m in config.pool] + [config.effective_judge.model]
    return sum(len(m.calls) for m in models if isinstance(m, ScriptedChatModel))


@pytest.mark.timeout(30)
async def test_the_same_conversation_config_and_tools_is_a_hit_that_costs_nothing():
    cache: InMemoryCache[Any] = InMemoryCache()
    config = pool_config()
    fusion = Fusion(config, cache=cache)
    first = await fusion.run(PROMPT)
    spent = calls(config)
    second = await fusion.run(PROMPT)

    assert not first.cached and first.usage.total.total_tokens > 0
    assert second.cached
    assert calls(config) == spent  # no model was called
    assert second.usage.total.total_tokens == 0 and second.usage.total.cost_usd == 0
    assert second.usage.judge == [] and set(second.usage.members) == {"alpha", "beta"}
    assert second.answer == first.answer and second.decided_by == first.decided_by
    assert [c.text for c in second.candidates] == [c.text for c in first.candidates]
    # A config built anew from the same settings is the same key: another Fusion hits too.
    again = await Fusion(pool_config(), cache=cache).run(PROMPT)
    assert again.cached and again.answer == first.answer


@pytest.mark.timeout(30)
async def test_a_different_conversation_is_a_miss():
    config = pool_config()
    fusion = Fusion(config, cache=InMemoryCache())
    await fusion.run(PROMPT)
    other = await fusion.run([("system", "Answer in French."), ("user", PROMPT)])
    assert not other.cached


@pytest.mark.timeout(30)
async def test_an_entry_expires_after_its_ttl(monkeypatch: pytest.MonkeyPatch):
    clock = {"now": datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)}

    class Clock(datetime.datetime):
        @classmethod
        def now(cls, tz: datetime.tzinfo | None = None) -> datetime.datetime:  # type: ignore[override]
            return clock["now"]

    # InMemoryCache reads the time from its module's `datetime`: give it a clock the test moves.
    fake = types.SimpleNamespace(datetime=Clock, timezone=datetime.timezone, timedelta=datetime.timedelta)
    monkeypatch.setattr("langgraph.cache.memory.datetime", fake)
    fusion = Fusion(pool_config(), cache=InMemoryCache(), cache_policy=CachePolicy(ttl=60))
    assert not (await fusion.run(PROMPT)).cached
    clock["now"] += datetime.timedelta(seconds=59)
    assert (await fusion.run(PROMPT)).cached
    clock["now"] += datetime.timedelta(seconds=2)
    expired = await fusion.run(PROMPT)
    assert not expired.cached and expired.usage.total.total_tokens > 0
    assert (await fusion.run(PROMPT)).cached  # stored again by the run after expiry


SETTINGS_CHANGES: dict[str, Any] = {
    "params": {"params": {"temperature": 0.7}},
    "base_url": {"base_url": "http://127.0.0.1:9/v1"},
    "timeout": {"timeout": 30.0},
    "price": {"price_in": 1.0},
    "context_window": {"context_window": 4096},
    "samples": {"samples": 2},
}


@pytest.mark.parametrize("change", list(SETTINGS_CHANGES), ids=list(SETTINGS_CHANGES))
@pytest.mark.timeout(30)
async def test_a_change_to_any_members_settings_is_a_miss(change: str):
    cache: InMemoryCache[Any] = InMemoryCache()
    await Fusion(pool_config(), cache=cache).run(PROMPT)
    changed_pool = [members()[0], members(**SETTINGS_CHANGES[change])[1]]
    changed = FusionConfig(pool=changed_pool, judge=Judge(ScriptedChatModel()), mode="merge")
    result = await Fusion(changed, cache=cache).run(PROMPT)
    assert not result.cached
    assert calls(changed) > 0


@pytest.mark.timeout(30)
async def test_a_members_model_is_part_of_the_key():
    cache: InMemoryCache[Any] = InMemoryCache()
    await Fusion(pool_config(), cache=cache).run(PROMPT)
    other_model = [members()[0], Member(ScriptedChatModel(script=["6*7=42"]), name="beta")]
    config = FusionConfig(pool=other_model, judge=Judge(ScriptedChatModel()), mode="merge")
    assert not (await Fusion(config, cache=cache).run(PROMPT)).cached


@pytest.mark.parametrize(
    "changes",
    [
        {"mode": "best-of"},
        {"merge_policy": "keep"},
        {"judge": Judge(ScriptedChatModel(), params={"temperature": 0.1})},
        {"judge": Judge(ScriptedChatModel(model_name="another-judge"))},
        {"max_tool_steps": 3},
    ],
    ids=["mode", "decision-policy", "judge-params", "judge-model", "tool-steps"],
)
@pytest.mark.timeout(30)
async def test_a_change_to_the_judge_the_mode_or_a_decision_setting_is_a_miss(changes: dict[str, Any]):
    cache: InMemoryCache[Any] = InMemoryCache()
    await Fusion(pool_config(), cache=cache).run(PROMPT)
    base = pool_config().model_dump(exclude={"pool", "judge"})
    config = FusionConfig(**{**base, "pool": members(), "judge": Judge(ScriptedChatModel()), **changes})
    assert not (await Fusion(config, cache=cache).run(PROMPT)).cached


def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


def multiply(a: int, b: int) -> int:
    """Multiply two integers."""
    return a * b


@pytest.mark.timeout(30)
async def test_the_tools_schemas_are_part_of_the_key():
    cache: InMemoryCache[Any] = InMemoryCache()
    await Fusion(pool_config(), tools=[add], cache=cache).run(PROMPT)
    assert (await Fusion(pool_config(), tools=[add], cache=cache).run(PROMPT)).cached
    assert not (await Fusion(pool_config(), tools=[add, multiply], cache=cache).run(PROMPT)).cached
    bound = [{"type": "function", "function": {"name": "answer", "parameters": {"type": "object"}}}]
    assert not (await Fusion(pool_config(), tools=[add], bound_tools=bound, cache=cache).run(PROMPT)).cached


@pytest.mark.timeout(30)
async def test_a_sqlite_cache_serves_a_new_fusion(tmp_path: Path):
    path = str(tmp_path / "fusions.sqlite")
    first = await Fusion(pool_config(), cache=SqliteCache(path=path)).run(PROMPT)
    config = pool_config()
    second = await Fusion(config, cache=SqliteCache(path=path)).run(PROMPT)
    assert second.cached and second.answer == first.answer and calls(config) == 0


@pytest.mark.timeout(30)
async def test_a_hit_on_a_thread_is_saved_as_the_turn_so_the_thread_goes_on():
    cache: InMemoryCache[Any] = InMemoryCache()
    config = pool_config()
    fusion = Fusion(config, cache=cache, checkpointer=InMemorySaver())
    await fusion.run(PROMPT, thread_id="t1")
    spent = calls(config)

    hit = await fusion.run(PROMPT, thread_id="t2")  # another thread, the same conversation
    assert hit.cached and calls(config) == spent
    state = (await fusion.graph.aget_state({"configurable": {"thread_id": "t2"}})).values
    assert [m.type for m in state["messages"]] == ["human", "ai"]
    assert isinstance(state["messages"][-1], AIMessage) and state["messages"][-1].name == "fusion"
    assert (await fusion.plan(PROMPT, thread_id="t2")).action == "stored"

    follow = await fusion.run("And 6 times 8?", thread_id="t2")  # the next turn runs the pool
    assert not follow.cached and calls(config) > spent
    state = (await fusion.graph.aget_state({"configurable": {"thread_id": "t2"}})).values
    assert [m.type for m in state["messages"]] == ["human", "ai", "human", "ai"]
    assert len(state["candidates"]) == 2  # only this turn's answers


@pytest.mark.timeout(30)
async def test_the_stream_of_a_hit_carries_the_answer_and_the_cached_state():
    fusion = Fusion(pool_config(), cache=InMemoryCache())
    first = await fusion.run(PROMPT)
    chunks = [c async for c in fusion.stream(PROMPT, stream_mode=("custom", "messages", "values"))]
    text = "".join(chunk[0].content for mode, chunk in chunks if mode == "messages")
    assert text == first.answer
    (values,) = [chunk for mode, chunk in chunks if mode == "values"]
    assert fusion.result(values).cached


@pytest.mark.timeout(30)
async def test_a_fusion_node_hit_is_the_nodes_write_in_the_parent_thread():
    config = pool_config()
    builder = StateGraph(MessagesState)
    builder.add_node("fusion", FusionNode(config, cache=InMemoryCache(), cache_policy=CachePolicy(ttl=600)))
    builder.add_edge(START, "fusion")
    graph = builder.compile(checkpointer=InMemorySaver())
    first = await graph.ainvoke({"messages": [("user", PROMPT)]}, {"configurable": {"thread_id": "a"}})
    spent = calls(config)
    second = await graph.ainvoke({"messages": [("user", PROMPT)]}, {"configurable": {"thread_id": "b"}})

    assert calls(config) == spent
    message = second["messages"][-1]
    assert message.content == first["messages"][-1].content
    assert message.usage_metadata["total_tokens"] == 0
    assert FusionResult.model_validate(message.response_metadata["fusion"]).cached
    saved = (await graph.aget_state({"configurable": {"thread_id": "b"}})).values
    assert saved["messages"][-1].content == message.content


@pytest.mark.timeout(30)
async def test_fusion_chat_model_takes_a_langgraph_cache():
    config = pool_config()
    model = FusionChatModel(config, cache=InMemoryCache(), cache_policy=CachePolicy(ttl=600))
    first = await model.ainvoke(PROMPT)
    spent = calls(config)
    second = await model.ainvoke(PROMPT)
    streamed = [chunk async for chunk in model.astream(PROMPT)]
    assert calls(config) == spent
    assert second.content == first.content
    assert second.usage_metadata is not None and second.usage_metadata["total_tokens"] == 0
    assert second.response_metadata["fusion"]["cached"] is True
    assert streamed[-1].response_metadata["fusion"]["cached"] is True


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"cache": {}}, "cache"),
        ({"cache": "memory"}, "cache"),
        ({"cache": InMemoryCache(), "cache_policy": {"ttl": 5}}, "cache_policy"),
        ({"cache": InMemoryCache(), "cache_policy": CachePolicy(ttl=0)}, "cache_policy"),
        ({"cache_policy": CachePolicy(ttl=5)}, "cache_policy"),
    ],
    ids=["dict", "string", "policy-not-a-policy", "ttl-zero", "policy-without-cache"],
)
def test_a_cache_that_is_not_a_langgraph_cache_is_a_config_error(kwargs: dict[str, Any], field: str):
    with pytest.raises(ConfigError) as caught:
        Fusion(pool_config(), **kwargs)
    assert caught.value.field == field
    with pytest.raises(ConfigError) as node:
        FusionNode(pool_config(), **kwargs)
    assert node.value.field == field
    with pytest.raises(ConfigError) as model:
        FusionChatModel(pool_config(), **kwargs)
    assert model.value.field == field
