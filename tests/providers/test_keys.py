"""A provider's environment key reaches only its own API host; other base URLs get api_key / api_key_env.

Requests go to a real OpenAI-compatible server on 127.0.0.1 that records the headers it receives,
while every provider's environment key is set.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import openai
import pytest

from fusion_graph import FusionConfig, Judge, Member, fuse, load_config
from fusion_graph.errors import ConfigError
from fusion_graph.providers import _keys, provider_info, resolve_model
from fusion_graph.runner import Fusion
from fusion_graph.server import create_app, load_fusions
from fusion_graph.testing import Fault, ModelScript, OpenAIStubServer
from tests.server.conftest import serve

ENV_KEYS = {
    "OPENAI_API_KEY": "sk-env-openai-SECRET",
    "OPENROUTER_API_KEY": "sk-env-openrouter-SECRET",
    "MISTRAL_API_KEY": "env-mistral-SECRET",
    "ANTHROPIC_API_KEY": "sk-ant-env-SECRET",
}
PLACEHOLDER = "Bearer not-needed"
NO_RETRY = {"max_retries": 0}


class RecordingStub(OpenAIStubServer):
    """The stub server, also keeping the headers of every request (it keeps only bodies)."""

    def __init__(self, models: dict[str, ModelScript]) -> None:
        super().__init__(models)
        self.seen: list[tuple[str, dict[str, str]]] = []
        """(the body's model, the request's headers), in arrival order."""

    async def _dispatch(self, request: Any, reader: Any, writer: Any) -> bool:
        try:
            model = str(json.loads(request.body or b"{}").get("model", ""))
        except ValueError:
            model = ""
        self.seen.append((model, dict(request.headers)))
        return await super()._dispatch(request, reader, writer)

    def auth(self, model: str) -> set[str | None]:
        """The ``Authorization`` headers ``model``'s requests carried (``None``: none)."""
        return {h.get("authorization") for m, h in self.seen if m == model}

    def credential(self, model: str) -> set[str]:
        """The bare keys ``model``'s requests carried, as ``x-api-key`` or ``Authorization: Bearer``."""
        return {
            h.get("x-api-key") or h.get("authorization", "").removeprefix("Bearer ")
            for m, h in self.seen
            if m == model
        }

    def leaked(self) -> list[str]:
        """Every header value that holds one of the environment keys."""
        return [v for _, h in self.seen for v in h.values() if "SECRET" in v]


def _models() -> dict[str, ModelScript]:
    return {
        "alpha": ModelScript(reply="1001 = 7 x 11 x 13, not prime."),
        "beta": ModelScript(reply="Not prime: 7 x 143."),
        "gamma": ModelScript(reply="1001 is not prime."),
        "judge-down": ModelScript(faults=[Fault.HTTP_500] * 20),
        "judge-up": ModelScript(judge=True),
    }


@pytest.fixture
def env_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in ENV_KEYS.items():
        monkeypatch.setenv(name, value)
    for name in ("OPENAI_API_BASE", "OPENAI_BASE_URL", "MISTRAL_BASE_URL", "ANTHROPIC_BASE_URL"):
        monkeypatch.delenv(name, raising=False)


def _config(url: str, keys: dict[str, dict[str, Any]] | None = None) -> FusionConfig:
    """openai:, openrouter: and mistral: members, an openai: judge that fails and a mistral: fallback."""
    keys = keys or {}

    def spec(model: str) -> dict[str, Any]:
        name = model.partition(":")[2]
        return {"model": model, "name": name, "base_url": url, "params": NO_RETRY, **keys.get(name, {})}

    return FusionConfig(
        pool=[Member(**spec(m)) for m in ("openai:alpha", "openrouter:beta", "mistral:gamma")],
        judge=Judge(**spec("openai:judge-down"), fallbacks=[Judge(**spec("mistral:judge-up"))]),
        judge_free_fallback=False,
    )


async def test_env_keys_never_reach_a_custom_base_url(env_keys):
    stub = RecordingStub(_models())
    async with stub:
        result = await fuse("Is 1001 prime?", _config(stub.base_url))
    assert result.decided_by.startswith("fallback:"), result.decided_by
    assert all(c.ok for c in result.candidates), [c.error for c in result.candidates]
    for model in ("alpha", "beta", "gamma", "judge-down", "judge-up"):
        assert stub.auth(model) == {PLACEHOLDER}, model
    assert stub.leaked() == []


async def test_api_key_and_api_key_env_reach_the_custom_base_url(env_keys, monkeypatch):
    monkeypatch.setenv("BETA_KEY", "sk-beta-from-env")
    monkeypatch.setenv("GAMMA_KEY", "gamma-from-env")
    monkeypatch.setenv("JUDGE_KEY", "sk-judge-from-env")
    keys = {
        "alpha": {"api_key": "sk-alpha-given"},
        "beta": {"api_key_env": "BETA_KEY"},
        "gamma": {"api_key_env": "GAMMA_KEY"},
        "judge-down": {"api_key_env": "JUDGE_KEY"},
        "judge-up": {"api_key": "fallback-given"},
    }
    stub = RecordingStub(_models())
    async with stub:
        result = await fuse("Is 1001 prime?", _config(stub.base_url, keys))
    assert result.decided_by.startswith("fallback:"), result.decided_by
    assert stub.auth("alpha") == {"Bearer sk-alpha-given"}
    assert stub.auth("beta") == {"Bearer sk-beta-from-env"}
    assert stub.auth("gamma") == {"Bearer gamma-from-env"}
    assert stub.auth("judge-down") == {"Bearer sk-judge-from-env"}
    assert stub.auth("judge-up") == {"Bearer fallback-given"}
    assert stub.leaked() == []


async def test_api_key_env_is_read_when_the_model_is_resolved(env_keys, monkeypatch):
    monkeypatch.delenv("LATER_KEY", raising=False)
    member = Member("openai:alpha", base_url="http://127.0.0.1:9/v1", api_key_env="LATER_KEY")
    config = FusionConfig(pool=[Member("fake:x"), member], judge="fake:j")
    with pytest.raises(ConfigError) as info:
        Fusion(config)
    assert info.value.field == "pool[1].api_key_env"
    assert "LATER_KEY" in str(info.value)
    monkeypatch.setenv("LATER_KEY", "sk-later")
    model = resolve_model(member, "pool[1]")
    assert model.openai_api_key.get_secret_value() == "sk-later"  # type: ignore[attr-defined]


def test_unset_api_key_env_of_a_fallback_names_it(env_keys, monkeypatch):
    monkeypatch.delenv("NOPE_KEY", raising=False)
    judge = Judge(
        "fake:j",
        fallbacks=[{"model": "mistral:m", "base_url": "http://127.0.0.1:9/v1", "api_key_env": "NOPE_KEY"}],
    )
    with pytest.raises(ConfigError) as info:
        Fusion(FusionConfig(pool=["fake:a"], judge=judge))
    assert info.value.field == "judge.fallbacks[0].api_key_env"
    assert "NOPE_KEY" in str(info.value)


TOML = """
judge_free_fallback = false

[[pool]]
model = "openai:alpha"
base_url = "{url}"
api_key_env = "ALPHA_KEY"
params = {{ max_retries = 0 }}

[[pool]]
model = "openrouter:beta"
base_url = "{url}"
params = {{ max_retries = 0 }}

[[pool]]
model = "mistral:gamma"
base_url = "{url}"
api_key_env = "GAMMA_KEY"
params = {{ max_retries = 0 }}

[judge]
model = "openai:judge-down"
base_url = "{url}"
params = {{ max_retries = 0 }}

[[judge.fallbacks]]
model = "mistral:judge-up"
base_url = "{url}"
api_key_env = "FALLBACK_KEY"
params = {{ max_retries = 0 }}
"""


YAML = """
judge_free_fallback: false
pool:
  - {{model: "openai:alpha", base_url: "{url}", api_key_env: ALPHA_KEY, params: {{max_retries: 0}}}}
  - {{model: "openrouter:beta", base_url: "{url}", params: {{max_retries: 0}}}}
  - {{model: "mistral:gamma", base_url: "{url}", api_key_env: GAMMA_KEY, params: {{max_retries: 0}}}}
judge:
  model: "openai:judge-down"
  base_url: "{url}"
  params: {{max_retries: 0}}
  fallbacks:
    - {{model: "mistral:judge-up", base_url: "{url}", api_key_env: FALLBACK_KEY, params: {{max_retries: 0}}}}
"""


@pytest.mark.parametrize(("suffix", "text"), [(".toml", TOML), (".yaml", YAML)])
async def test_file_config(env_keys, monkeypatch, tmp_path: Path, suffix: str, text: str):
    monkeypatch.setenv("ALPHA_KEY", "sk-alpha-file")
    monkeypatch.setenv("GAMMA_KEY", "gamma-file")
    monkeypatch.setenv("FALLBACK_KEY", "fallback-file")
    stub = RecordingStub(_models())
    async with stub:
        path = tmp_path / f"pool{suffix}"
        path.write_text(text.format(url=stub.base_url))
        result = await fuse("Is 1001 prime?", load_config(path))
    assert result.decided_by.startswith("fallback:"), result.decided_by
    assert stub.auth("alpha") == {"Bearer sk-alpha-file"}
    assert stub.auth("beta") == {PLACEHOLDER}
    assert stub.auth("gamma") == {"Bearer gamma-file"}
    assert stub.auth("judge-down") == {PLACEHOLDER}
    assert stub.auth("judge-up") == {"Bearer fallback-file"}
    assert stub.leaked() == []


SERVE_TOML = """
[[pool]]
model = "openai:alpha"
base_url = "{url}"
params = {{ max_retries = 0 }}

[[pool]]
model = "mistral:gamma"
base_url = "{url}"
api_key_env = "GAMMA_KEY"
params = {{ max_retries = 0 }}

[judge]
model = "openrouter:judge-up"
base_url = "{url}"
params = {{ max_retries = 0 }}

[fusions."fusion/keys"]
mode = "best-of"
"""


def test_fusion_serve_file_config(env_keys, monkeypatch, tmp_path: Path):
    monkeypatch.setenv("GAMMA_KEY", "gamma-served")
    stub = RecordingStub(_models())
    with stub:
        path = tmp_path / "serve.toml"
        path.write_text(SERVE_TOML.format(url=stub.base_url))
        with serve(create_app(load_fusions(path))) as server:
            client = openai.OpenAI(base_url=server.base_url, api_key="sk-client", max_retries=0, timeout=30)
            response = client.chat.completions.create(
                model="fusion/keys", messages=[{"role": "user", "content": "Is 1001 prime?"}]
            )
    assert response.choices[0].message.content
    assert stub.auth("alpha") == {PLACEHOLDER}
    assert stub.auth("gamma") == {"Bearer gamma-served"}
    assert stub.auth("judge-up") == {PLACEHOLDER}
    assert stub.leaked() == []


async def test_anthropic_key_stays_home(env_keys, monkeypatch):
    pytest.importorskip("langchain_anthropic")
    monkeypatch.setenv("PROXY_KEY", "proxy-key")
    stub = RecordingStub({})
    async with stub:
        url = f"http://127.0.0.1:{stub.port}"  # the Anthropic client adds /v1/messages
        for spec in (
            Member("anthropic:plain", base_url=url, params=NO_RETRY),
            Member("anthropic:keyed", base_url=url, api_key_env="PROXY_KEY", params=NO_RETRY),
        ):
            model = resolve_model(spec, "pool[0]")
            with pytest.raises(Exception):  # noqa: B017 - the stub speaks OpenAI only: a 404 after the headers
                await model.ainvoke("hi")
    assert stub.credential("plain") == {"not-needed"}
    assert stub.credential("keyed") == {"proxy-key"}
    assert stub.leaked() == []


async def test_base_url_from_the_environment_is_a_custom_host(env_keys, monkeypatch):
    stub = RecordingStub(_models())
    async with stub:
        monkeypatch.setenv("OPENAI_BASE_URL", stub.base_url)
        model = resolve_model(Member("openai:alpha", params=NO_RETRY), "pool[0]")
        reply = await model.ainvoke("Is 1001 prime?")
    assert "prime" in str(reply.content)
    assert stub.auth("alpha") == {PLACEHOLDER}
    assert stub.leaked() == []


@pytest.mark.parametrize(
    ("prefix", "attr", "url"),
    [
        ("openai", "openai_api_key", "https://api.openai.com/v1"),
        ("openrouter", "openai_api_key", "https://openrouter.ai/api/v1"),
        ("mistral", "mistral_api_key", "https://api.mistral.ai/v1"),
        ("anthropic", "anthropic_api_key", "https://api.anthropic.com"),
    ],
)
@pytest.mark.parametrize("base_url", [None, "own"])
def test_the_providers_own_host_gets_its_env_key(env_keys, prefix, attr, url, base_url):
    pytest.importorskip(provider_info(prefix).module)
    member = Member(f"{prefix}:m", base_url=url if base_url else None)
    model = resolve_model(member, "pool[0]")
    assert getattr(model, attr).get_secret_value() == ENV_KEYS[f"{prefix.upper()}_API_KEY"]


@pytest.mark.parametrize(
    ("url", "own"),
    [
        ("https://api.openai.com/v1", True),
        ("https://API.OpenAI.com./v1", True),
        ("https://api.openai.com:443/v1", True),
        ("http://api.openai.com/v1", False),  # the key would cross the network in clear
        ("https://api.openai.com:8443/v1", False),
        ("https://api.openai.com.example.test/v1", False),
        ("https://api.openai.com@127.0.0.1/v1", False),
        ("https://127.0.0.1/v1?host=api.openai.com", False),
        ("https://openrouter.ai/api/v1", False),
        ("not a url", False),
    ],
)
def test_own_host_is_exact(url, own):
    assert _keys.is_own_host(provider_info("openai"), url) is own


def test_one_warning_per_keyless_member_names_it_and_the_fix(env_keys, monkeypatch, caplog):
    monkeypatch.setattr(_keys, "_warned", set())
    monkeypatch.setenv("BETA_KEY", "sk-beta")
    url = "http://127.0.0.1:9/v1"
    config = FusionConfig(
        pool=[
            Member("openai:alpha", name="alpha", base_url=url),
            Member("openrouter:beta", name="beta", base_url=url, api_key_env="BETA_KEY"),
            Member("vllm:delta", name="delta", base_url=url),
        ],
        judge=Judge("fake:j", fallbacks=[Judge("mistral:gamma", base_url=url)]),
    )
    with caplog.at_level(logging.WARNING, logger="fusion_graph"):
        Fusion(config)
        Fusion(config.replace(mode="debate"))  # resolved again: no second warning
    warnings = [r.getMessage() for r in caplog.records if r.name.startswith("fusion_graph")]
    assert len(warnings) == 2, warnings
    gamma, alpha = sorted(warnings)  # "judge…" sorts before "pool…"
    assert alpha.startswith("pool[0] (alpha): http://127.0.0.1:9/v1 is not an API host of 'openai'")
    assert "OPENAI_API_KEY is not sent" in alpha
    assert "api_key_env" in alpha and "'openai-compatible:'" in alpha
    assert gamma.startswith("judge.fallbacks[0] (mistral:gamma):") and "MISTRAL_API_KEY" in gamma
    assert not any("SECRET" in w for w in warnings)


def test_first_member_acting_as_judge_warns_once(env_keys, monkeypatch, caplog):
    monkeypatch.setattr(_keys, "_warned", set())
    config = FusionConfig(pool=[Member("openai:alpha", base_url="http://127.0.0.1:9/v1"), "fake:b"])
    with caplog.at_level(logging.WARNING, logger="fusion_graph"):
        Fusion(config)
    assert [r.getMessage()[:16] for r in caplog.records] == ["pool[0] (alpha):"]


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"api_key": "k", "api_key_env": "K"}, "pool[0].api_key_env"),
        ({"api_key_env": "MY-KEY"}, "pool[0].api_key_env"),
        ({"api_key_env": "sk-123abc"}, "pool[0].api_key_env"),
        ({"params": {"base_url": "http://127.0.0.1:9/v1"}}, "pool[0].params"),
        ({"params": {"openai_api_key": "k"}}, "pool[0].params"),
        ({"params": {"endpoint": "http://127.0.0.1:9/v1"}}, "pool[0].params"),
    ],
)
def test_bad_key_settings_are_config_errors(env_keys, data, field):
    with pytest.raises(ConfigError) as info:
        Fusion(FusionConfig(pool=[{"model": "openai:alpha", **data}], judge="fake:j"))
    assert info.value.field == field
    assert info.value.fix
