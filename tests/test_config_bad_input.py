"""Invalid configurations and requests fail early with a ConfigError that names the field and the fix.

These go beyond tests/test_config.py: limits (quorum, deadline, budget, prices, windows), judge
fallbacks, prompts of the wrong shape, files with values of the wrong type, tools that are not tools,
``replace``, ``FusionChatModel``, provider resolution (keys, base URLs, parameters) and thread ids.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from langgraph.checkpoint.memory import InMemorySaver

from fusion_graph import ConfigError, Fusion, FusionChatModel, FusionConfig, Judge, Member, fuse, load_config
from fusion_graph.runner import to_messages

pytestmark = pytest.mark.timeout(10)

POOL = ["fake:a", "fake:b"]
LOCAL = "http://127.0.0.1:9/v1"


def priced(max_tokens: int | None = None, **kwargs: Any) -> dict[str, Any]:
    params = {} if max_tokens is None else {"max_tokens": max_tokens}
    return {"model": "fake:p", "price_in": 1.0, "price_out": 2.0, "params": params, **kwargs}


CONFIGS: dict[str, tuple[Callable[[], Any], str, tuple[str, ...]]] = {
    # (what raises, the field it names, words of the problem and of the fix)
    "quorum-larger-than-pool": (
        lambda: FusionConfig(pool=POOL, min_answers=3),
        "min_answers",
        ("cannot be reached by 2 answers", "use at most 2"),
    ),
    "quorum-zero": (lambda: FusionConfig(pool=POOL, min_answers=0), "min_answers", ("use a larger value",)),
    "deadline-zero": (lambda: FusionConfig(pool=POOL, deadline=0), "deadline", ("greater than 0",)),
    "deadline-negative": (lambda: FusionConfig(pool=POOL, deadline=-5), "deadline", ("use a larger value",)),
    "budget-zero": (lambda: FusionConfig(pool=POOL, budget_usd=0), "budget_usd", ("greater than 0",)),
    "budget-without-max-tokens": (
        lambda: FusionConfig(pool=[priced()], budget_usd=1.0),
        "pool[0].params.max_tokens",
        ("budget_usd needs", "set params = {max_tokens"),
    ),
    "budget-judge-without-max-tokens": (
        lambda: FusionConfig(pool=[priced(50)], judge=priced(name="j"), budget_usd=1.0),
        "judge.params.max_tokens",
        ("budget_usd needs", "set params = {max_tokens"),
    ),
    "negative-price-out": (
        lambda: FusionConfig(pool=["fake:a", {"model": "fake:b", "price_out": -0.5}]),
        "pool[1].price_out",
        ("greater than or equal to 0",),
    ),
    "negative-judge-price": (
        lambda: FusionConfig(pool=POOL, judge={"model": "fake:j", "price_in": -1}),
        "judge.price_in",
        ("greater than or equal to 0",),
    ),
    "context-window-zero": (
        lambda: FusionConfig(pool=[{"model": "fake:a", "context_window": 0}]),
        "pool[0].context_window",
        ("greater than 0", "use a larger value"),
    ),
    "judge-context-window-zero": (
        lambda: FusionConfig(pool=POOL, judge={"model": "fake:j", "context_window": 0}),
        "judge.context_window",
        ("greater than 0",),
    ),
    "judge-timeout-negative": (
        lambda: FusionConfig(pool=POOL, judge={"model": "fake:j", "timeout": -1}),
        "judge.timeout",
        ("greater than 0",),
    ),
    "unknown-judge-provider": (
        lambda: FusionConfig(pool=POOL, judge="gpt4:turbo"),
        "judge.model",
        ("unknown provider prefix 'gpt4'", "openai, openrouter"),
    ),
    "fallback-with-a-bad-spec": (
        lambda: FusionConfig(pool=POOL, judge={"model": "fake:j", "fallbacks": ["fake:k", "bogus:z"]}),
        "judge.fallbacks[1].model",
        ("unknown provider prefix 'bogus'",),
    ),
    "fallback-not-a-judge": (
        lambda: FusionConfig(pool=POOL, judge={"model": "fake:j", "fallbacks": [42]}),
        "judge.fallbacks[0]",
        ("instance of Judge",),
    ),
    "fallbacks-not-a-list": (
        lambda: FusionConfig(pool=POOL, judge={"model": "fake:j", "fallbacks": "fake:k"}),
        "judge.fallbacks",
        ("valid list",),
    ),
    "rounds-too-many": (lambda: FusionConfig(pool=POOL, rounds=21), "rounds", ("use a smaller value",)),
    "max-tool-steps-zero": (
        lambda: FusionConfig(pool=POOL, max_tool_steps=0),
        "max_tool_steps",
        ("use a larger value",),
    ),
    "consensus-zero": (lambda: FusionConfig(pool=POOL, consensus=0), "consensus", ("greater than 0",)),
    "pool-a-string": (lambda: FusionConfig(pool="fake:a"), "pool", ("valid list",)),
    "member-without-model": (lambda: Member(), "model", ("Field required", "add it")),
    "judge-without-model": (lambda: Judge(name="j"), "model", ("Field required", "add it")),
    "member-model-a-number": (lambda: Member(42), "model", ("valid string",)),
    # found by tests/test_config_fuzz.py: a table was a TypeError (pydantic built the abstract model)
    "member-model-a-table": (lambda: Member(model={}), "model", ("not a table",)),
    "judge-model-a-table": (
        lambda: FusionConfig(pool=POOL, judge={"model": {"name": "x"}}),
        "judge.model",
        ("not a table",),
    ),
    "a-key-with-no-name": (lambda: FusionConfig(pool=POOL, **{"": 1}), "config", ("'' is not a field",)),
    "member-tool-choice-a-number": (
        lambda: Member("fake:a", tool_choice=3),
        "tool_choice",
        ("valid string",),
    ),
    "replace-with-a-bad-value": (
        lambda: FusionConfig(pool=POOL).replace(rounds=0),
        "rounds",
        ("greater than or equal to 1",),
    ),
    "replace-with-a-misspelt-field": (
        lambda: FusionConfig(pool=POOL).replace(rouns=2),
        "rouns",
        ("remove it or check its spelling",),
    ),
    "replace-quorum-past-the-pool": (
        lambda: FusionConfig(pool=POOL, min_answers=2).replace(pool=["fake:a"]),
        "min_answers",
        ("use at most 1",),
    ),
}


@pytest.mark.parametrize("make, field, words", list(CONFIGS.values()), ids=list(CONFIGS))
def test_invalid_config(make: Callable[[], Any], field: str, words: tuple[str, ...]):
    with pytest.raises(ConfigError) as info:
        make()
    assert info.value.field == field
    for word in words:
        assert word in str(info.value)


PROMPTS: dict[str, tuple[Any, tuple[str, ...]]] = {
    "blank": ("   \n", ("the prompt is empty", "pass some text or messages")),
    "empty-conversation": ([], ("the conversation is empty", "pass at least one message")),
    "tuple-without-text": ([("user",)], ("not a conversation", "pass a string or a list of messages")),
    "unknown-role": ([("wizard", "hi")], ("'wizard'", "pass a string or a list of messages")),
    "not-messages": ([1, 2], ("not a conversation", "pass a string or a list of messages")),
    "dict-without-role": ([{"text": "hi"}], ("'role' and 'content'",)),
    "none": (None, ("not a conversation",)),
    "a-number": (42, ("not a conversation",)),
}


@pytest.mark.parametrize("prompt, words", list(PROMPTS.values()), ids=list(PROMPTS))
async def test_invalid_prompt(prompt: Any, words: tuple[str, ...]):
    with pytest.raises(ConfigError) as info:
        to_messages(prompt)
    assert info.value.field == "prompt"
    for word in words:
        assert word in str(info.value)
    # and fuse() says the same before any model is called
    with pytest.raises(ConfigError, match="^prompt: "):
        await fuse(prompt, FusionConfig(pool=POOL))


FILES: dict[str, tuple[str, str, str, str]] = {
    # (file name, text, field, words)
    "toml-rounds-a-string": ("f.toml", 'rounds = "two"\npool = ["fake:a"]', "rounds", "valid integer"),
    "toml-params-not-a-table": (
        "f.toml",
        '[[pool]]\nmodel = "fake:a"\nparams = "hot"',
        "pool[0].params",
        "dict",
    ),
    "toml-mode-a-number": (
        "f.toml",
        'mode = 3\npool = ["fake:a"]',
        "mode",
        "'best-of', 'merge', 'debate' or 'vote'",
    ),
    "yaml-pool-a-string": ("f.yaml", "pool: fake:a", "pool", "valid list"),
    "yaml-timeout-a-word": (
        "f.yaml",
        "pool:\n  - model: fake:a\n    timeout: soon",
        "pool[0].timeout",
        "number",
    ),
    "yaml-shuffle-a-word": ("f.yaml", "pool: [fake:a]\nshuffle: sometimes", "shuffle", "boolean"),
    "yaml-quorum-fractional": ("f.yml", "pool: [fake:a]\nmin_answers: 1.5", "min_answers", "fractional"),
    "yaml-price-a-word": (
        "f.yaml",
        "pool:\n  - model: fake:a\n    price_in: cheap",
        "pool[0].price_in",
        "number",
    ),
}


@pytest.mark.parametrize("name, text, field, words", list(FILES.values()), ids=list(FILES))
def test_config_file_with_wrong_types(tmp_path: Path, name: str, text: str, field: str, words: str):
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert info.value.field == field
    assert words in str(info.value)


@pytest.mark.parametrize(
    "tools, words",
    [
        ([42], "42 is not a tool — pass BaseTool objects or functions"),
        (["search"], "'search' is not a tool"),
        ("search", "cannot use str as tools — pass a ToolRegistry"),
        ({"search": print}, "cannot use dict as tools"),
    ],
    ids=["a-number", "a-name", "a-string", "a-dict"],
)
async def test_tools_that_are_not_tools(tools: Any, words: str):
    with pytest.raises(ConfigError) as info:
        Fusion(FusionConfig(pool=POOL), tools=tools)
    assert info.value.field == "tools" and words in str(info.value)
    with pytest.raises(ConfigError, match="^tools: "):
        await FusionChatModel(FusionConfig(pool=POOL), tools=tools).ainvoke("hi")


@pytest.mark.parametrize(
    "member, field, words",
    [
        (Member("anthropic:claude-x"), "pool[0].api_key", ("ANTHROPIC_API_KEY", "or pass api_key=")),
        (Member("mistral:small"), "pool[0].api_key", ("MISTRAL_API_KEY",)),
        (Member("openai:gpt-4o-mini"), "pool[0].api_key", ("OPENAI_API_KEY",)),
        (Member("openrouter:a/b"), "pool[0].api_key", ("OPENROUTER_API_KEY",)),
        (Member("vllm:qwen"), "pool[0].base_url", ("set base_url", "127.0.0.1:8000/v1")),
        (Member("llamacpp:q"), "pool[0].base_url", ("'llamacpp' provider",)),
    ],
    ids=["anthropic-key", "mistral-key", "openai-key", "openrouter-key", "vllm-url", "llamacpp-url"],
)
def test_provider_requirements_checked_when_the_fusion_is_built(monkeypatch, member, field, words):
    for name in ("ANTHROPIC_API_KEY", "MISTRAL_API_KEY", "OPENAI_API_KEY", "OPENROUTER_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(ConfigError) as info:
        Fusion(FusionConfig(pool=[member], judge="fake:j"))
    assert info.value.field == field
    for word in words:
        assert word in str(info.value)


def test_a_fallback_judge_without_its_server_url_is_named():
    config = FusionConfig(pool=POOL, judge={"model": "fake:j", "fallbacks": ["fake:k", "lmstudio:q"]})
    with pytest.raises(ConfigError) as info:
        Fusion(config)
    assert info.value.field == "judge.fallbacks[1].base_url"
    assert "set base_url" in str(info.value)


# ------------------------------------------------------------------------------------- known bugs


def test_a_param_the_provider_rejects_is_a_config_error():
    member = Member("openai:m", base_url=LOCAL, params={"temperature": "hot"})
    with pytest.raises(ConfigError) as info:
        Fusion(FusionConfig(pool=[member], judge="fake:j"))
    assert info.value.field.startswith("pool[0].params")
    assert "temperature" in str(info.value)


def test_a_timeout_in_params_is_not_a_type_error():
    member = Member("openai:m", base_url=LOCAL, params={"timeout": 2, "max_retries": 0})
    try:
        Fusion(FusionConfig(pool=[member], judge="fake:j"))
    except ConfigError as exc:
        assert exc.field.startswith("pool[0]") and "timeout" in str(exc)


def test_fusion_chat_model_bind_tools_with_a_non_tool():
    with pytest.raises(ConfigError) as info:
        FusionChatModel(FusionConfig(pool=POOL)).bind_tools([42])  # type: ignore[list-item]
    assert info.value.field == "tools"


def test_fusion_chat_model_without_a_config():
    with pytest.raises(ConfigError) as info:
        FusionChatModel()
    assert info.value.field == "config"


def test_an_empty_member_name_is_rejected():
    with pytest.raises(ConfigError) as info:
        FusionConfig(pool=[{"model": "fake:a", "name": ""}])
    assert info.value.field == "pool[0].name"
    with pytest.raises(ConfigError) as info:
        Member("fake:a", name="  ")
    assert info.value.field == "name"


async def test_a_finished_thread_given_another_prompt_takes_it_as_the_next_turn():
    config = FusionConfig(pool=POOL, judge="fake:j")
    fusion = Fusion(config, checkpointer=InMemorySaver())
    await fusion.run("Is 1001 prime?", thread_id="t")
    await fusion.run("What is the capital of France?", thread_id="t")
    state = await fusion.graph.aget_state({"configurable": {"thread_id": "t"}})
    asked = [m.content for m in state.values["messages"] if m.type == "human"]
    assert asked == ["Is 1001 prime?", "What is the capital of France?"]
    assert len(state.values["candidates"]) == len(POOL)  # only this turn's answers


async def test_a_thread_id_without_a_checkpointer_is_refused():
    with pytest.raises(ConfigError) as info:
        await fuse("Is 1001 prime?", FusionConfig(pool=POOL, judge="fake:j"), thread_id="t")
    assert info.value.field == "thread_id"
