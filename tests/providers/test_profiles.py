"""One profile per provider: looked up once per member and judge, and what the requests then carry."""

from __future__ import annotations

import inspect
import subprocess
import sys

import pytest
from langchain_core.messages import AIMessage
from langchain_mistralai import ChatMistralAI

from fusion_graph import FusionConfig, Judge, Member, fuse
from fusion_graph.graph._runtime import build_runtime
from fusion_graph.providers import provider_info
from fusion_graph.providers.local import LocalChatModel
from fusion_graph.providers.profiles import ModelProfile, ToolCallIdMap, profile_for
from fusion_graph.testing import ModelScript, OpenAIStubServer, ScriptedChatModel, Turn
from fusion_graph.usage import reported_cost
from tool_registry import ToolRegistry

PREFIXES = [
    "openai",
    "openrouter",
    "anthropic",
    "mistral",
    "ollama",
    "local",
    "fake",
    "openai-compatible",
    "vllm",
    "llamacpp",
    "lmstudio",
]


@pytest.mark.parametrize("prefix", PREFIXES)
def test_every_spec_prefix_has_a_profile_holding_its_key_rule(prefix):
    profile = profile_for(f"{prefix}:some-model")
    assert profile.name == prefix
    assert profile.keys == provider_info(prefix)


def test_the_mistral_profile():
    profile = profile_for(Member("mistral:mistral-small-latest", api_key="k"))
    assert profile.keys is not None and profile.keys.key_env == "MISTRAL_API_KEY"
    assert profile.keys.key_hosts == ("api.mistral.ai",)
    assert profile.tool_choice("required") == "any" and profile.tool_choice("auto") == "auto"
    assert profile.tool_call_ids is not None and profile.tool_call_ids.accepts("abcDEF123")
    assert not profile.tool_call_ids.accepts("call_abcDEF123")
    assert profile.strict_tool_turns and profile.native_tool_text
    tool = {
        "type": "function",
        "function": {
            "name": "f",
            "parameters": {
                "type": "object",
                "properties": {"x": {"anyOf": [{"type": "integer"}, {"type": "null"}]}},
            },
        },
    }
    assert profile.adapt_tool(tool)["function"]["parameters"]["properties"]["x"] == {"type": "integer"}
    assert tool["function"]["parameters"]["properties"]["x"]["anyOf"]  # the input is untouched


def test_names_aliases_and_unknown_names():
    assert profile_for("mistralai").name == "mistral"
    assert profile_for("gemini").name == profile_for("vertex").name == "google"
    assert profile_for("gemini").keys is None  # no spec prefix: no key rule
    unknown = profile_for("somewhere")
    assert unknown == ModelProfile("somewhere")  # passes everything through
    assert unknown.tool_choice("any") == "any" and unknown.adapt_tool_schema({"a": 1}) == {"a": 1}
    # servers you run get "call some tool" as given; hosted OpenAI-wire APIs get "required"
    for server in ("vllm", "llamacpp", "lmstudio"):  # the OpenAI wire's spelling
        assert profile_for(server).tool_choice("any") == "required"
    assert profile_for("openai-compatible").tool_choice("any") == "required"


def test_a_model_object_gets_the_profile_of_its_class():
    mistral = ChatMistralAI(model="m", api_key="k", endpoint="http://127.0.0.1:9/v1")  # type: ignore[arg-type]
    assert profile_for(mistral).name == "mistral"
    assert profile_for(Member(mistral, name="m")).name == "mistral"
    assert profile_for(Member(mistral, name="m")).keys is None  # its client is already built
    local = LocalChatModel(model="smollm2-135m")
    assert profile_for(local).structured_output == "grammar"
    assert profile_for(ScriptedChatModel()).name == "openai"  # unknown classes follow OpenAI's rules
    # a spec's prefix wins over the class of the model it resolved to
    assert profile_for(Member("fake:hi"), ScriptedChatModel()).name == "fake"


@pytest.mark.parametrize(
    ("module", "cls", "prefix"),
    [
        ("langchain_openai", "ChatOpenAI", "openai"),
        ("langchain_anthropic", "ChatAnthropic", "anthropic"),
        ("langchain_mistralai", "ChatMistralAI", "mistral"),
        ("langchain_ollama", "ChatOllama", "ollama"),
    ],
)
def test_structured_output_is_the_integrations_default_method(module, cls, prefix):
    chat_model = getattr(pytest.importorskip(module), cls)
    default = inspect.signature(chat_model.with_structured_output).parameters["method"].default
    assert profile_for(prefix).structured_output == default


def test_reported_cost_is_read_where_the_profile_says():
    message = AIMessage("hi", response_metadata={"token_usage": {"cost": 0.25}})
    assert reported_cost(message, profile_for("openrouter")) == 0.25
    assert reported_cost(message, profile_for("anthropic")) is None
    assert reported_cost(AIMessage("hi"), profile_for("openai")) is None


def test_id_map_takes_a_profile_or_its_name():
    a, b = ToolCallIdMap(), ToolCallIdMap()
    by_profile = a.to_provider("call_123", profile_for("mistral"))
    assert by_profile == b.to_provider("call_123", "mistral") and len(by_profile) == 9
    assert a.to_original(by_profile, "mistralai") == "call_123"


def test_runtime_resolves_each_profile_once_beside_its_model():
    mistral = ChatMistralAI(model="m", api_key="k", endpoint="http://127.0.0.1:9/v1")  # type: ignore[arg-type]
    config = FusionConfig(
        pool=[Member("fake:a", name="a", samples=2), Member(mistral, name="b")],
        judge=Judge("fake:j", fallbacks=[Judge(mistral, name="fb")]),
    )
    runtime = build_runtime(config)
    assert {name: p.name for name, p in runtime.profiles.items()} == {
        "a#1": "fake",
        "a#2": "fake",
        "b": "mistral",
    }
    assert [p.name for p in runtime.judge_profiles] == ["fake", "mistral"]


def test_tool_registry_imports_nothing_of_fusion_graph():
    code = (
        "import sys, tool_registry, tool_registry.adapt; "
        "assert not [m for m in sys.modules if m.startswith('fusion_graph')], 'fusion_graph imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


async def test_each_member_request_follows_its_own_profile():
    """A forced tool call goes out as "any" to a Mistral model object and "required" to an OpenAI server."""
    registry = ToolRegistry()

    @registry.tool
    def lookup(city: str, unit: str | None = None) -> str:
        """Look up the weather of a city."""
        return f"{city}: 21 degrees {unit or 'C'}"

    def script() -> ModelScript:
        return ModelScript(
            turns=[Turn(tool_calls=[{"name": "lookup", "arguments": {"city": "Paris"}}]), Turn(reply="21 C.")]
        )

    server = OpenAIStubServer(models={"mistral-small-latest": script(), "gpt-x": script()})
    async with server:
        mistral = ChatMistralAI(
            model="mistral-small-latest",
            endpoint=server.base_url,
            api_key="k",
            max_retries=0,  # type: ignore[arg-type]
        )
        config = FusionConfig(
            pool=[
                Member(mistral, name="mistral", tool_choice="required"),
                Member(
                    "openai-compatible:gpt-x",
                    name="gpt",
                    base_url=server.base_url,
                    tool_choice="required",
                    params={"max_retries": 0},
                ),
            ],
            judge=Judge(ScriptedChatModel()),
        )
        result = await fuse("Weather in Paris?", config, tools=registry)
    assert all(c.ok for c in result.candidates), [c.error for c in result.candidates]
    models = ("mistral-small-latest", "gpt-x")
    by_model = {model: [r for r in server.requests if r.get("model") == model] for model in models}
    assert by_model["mistral-small-latest"][0]["tool_choice"] == "any"
    assert by_model["gpt-x"][0]["tool_choice"] == "required"
    unit = by_model["mistral-small-latest"][0]["tools"][0]["function"]["parameters"]["properties"]["unit"]
    assert unit == {"type": "string"}  # Mistral's dialect: the null branch dropped
    assert "anyOf" in by_model["gpt-x"][0]["tools"][0]["function"]["parameters"]["properties"]["unit"]
    for body in by_model["mistral-small-latest"]:
        for message in body["messages"]:
            for call in message.get("tool_calls") or []:
                assert len(call["id"]) == 9 and call["id"].isalnum()
