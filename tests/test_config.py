from pathlib import Path

import pytest

from fusion_graph import ConfigError, FusionConfig, Judge, Member, ProviderNotInstalled, load_config
from fusion_graph.providers import resolve_model


@pytest.mark.parametrize(
    ("kwargs", "field", "words"),
    [
        ({"pool": []}, "pool", "empty"),
        ({"pool": ["nope:model"]}, "pool[0].model", "unknown provider prefix"),
        ({"pool": ["fake:a", "no-colon"]}, "pool[1].model", "provider:model"),
        ({"pool": [Member("fake:a", name="x"), Member("fake:b", name="x")]}, "pool[1].name", "duplicate"),
        ({"pool": ["fake:a"], "mode": "poll"}, "mode", "unknown mode"),
        ({"pool": ["fake:a"], "rounds": 0}, "rounds", "greater than or equal to 1"),
        ({"pool": ["fake:a"], "judge": "bad:x"}, "judge.model", "unknown provider"),
        (
            {"pool": ["fake:a"], "judge": {"model": "fake:j", "fallbacks": ["x"]}},
            "judge.fallbacks[0].model",
            "provider:model",
        ),
        ({"pool": [{"model": "fake:a", "timeout": 0}]}, "pool[0].timeout", "greater than 0"),
        ({"pool": [{"model": "fake:a", "price_in": -1}]}, "pool[0].price_in", "greater than or equal"),
        ({"pool": ["fake:a"], "temprature": 0.3}, "temprature", "spelling"),
        ({"pool": ["fake:a"], "consensus": 1.5}, "consensus", "less than or equal"),
    ],
)
def test_invalid_config_names_the_field(kwargs, field, words):
    with pytest.raises(ConfigError) as info:
        FusionConfig(**kwargs)
    assert info.value.field == field
    assert words in str(info.value)


def test_names_are_derived_and_made_unique():
    cfg = FusionConfig(pool=["openai:gpt-4o-mini", "openai:gpt-4o-mini", "openrouter:a/b-c"], judge="fake:j")
    assert cfg.member_names == ["gpt-4o-mini", "gpt-4o-mini-2", "b-c"]


def test_mode_aliases():
    assert FusionConfig(pool=["fake:a"], mode="best_of").mode == "best-of"


def test_first_member_judges_when_no_judge():
    cfg = FusionConfig(pool=["fake:a", "fake:b"])
    assert cfg.effective_judge.model == "fake:a"
    assert cfg.judge_member() == "a"


def test_missing_api_key_names_the_variable(monkeypatch):
    monkeypatch.delenv("MISTRAL_API_KEY", raising=False)
    with pytest.raises(ConfigError) as info:
        resolve_model(Member("mistral:mistral-small-latest"), "pool[0]")
    assert info.value.field == "pool[0].api_key"
    assert "MISTRAL_API_KEY" in str(info.value)


def test_openrouter_uses_its_key_and_url(monkeypatch):
    monkeypatch.setenv("OPENROUTER_API_KEY", "sk-or-test")
    model = resolve_model(Member("openrouter:anthropic/claude-3.7-sonnet"))
    assert model.openai_api_base == "https://openrouter.ai/api/v1"  # type: ignore[attr-defined]
    assert model.model_name == "anthropic/claude-3.7-sonnet"  # type: ignore[attr-defined]


def test_compatible_server_needs_base_url():
    with pytest.raises(ConfigError) as info:
        resolve_model(Member("vllm:qwen"), "pool[2]")
    assert info.value.field == "pool[2].base_url"


def test_missing_extra_prints_install_command(monkeypatch):
    import builtins

    real_import = builtins.__import__

    def fake_import(name, *args, **kwargs):
        if name.startswith("langchain_anthropic"):
            raise ImportError("no module")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", fake_import)
    monkeypatch.setattr("importlib.import_module", lambda name: fake_import(name))
    with pytest.raises(ProviderNotInstalled) as info:
        resolve_model(Member("anthropic:claude", api_key="k"), "pool[0]")
    assert "pip install 'fusion-graph[anthropic]'" in str(info.value)


def test_local_openai_compatible_member_needs_no_key(monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    model = resolve_model(Member("openai:gpt-4o-mini", base_url="http://127.0.0.1:8000/v1"))
    assert model.openai_api_base == "http://127.0.0.1:8000/v1"  # type: ignore[attr-defined]


TOML = """
mode = "debate"
rounds = 2

[judge]
model = "fake:judge"
fallbacks = ["fake:backup"]

[[pool]]
model = "fake:one"
name = "one"
price_in = 1.5

[[pool]]
model = "openai:gpt-4o-mini"
name = "mini"
base_url = "http://127.0.0.1:8000/v1"
api_key = "sk-local"

[tools]
servers = []
"""

YAML = """
mode: merge
judge: fake:judge
pool:
  - fake:one
  - model: fake:two
    timeout: 5
"""


def test_load_toml(tmp_path: Path):
    path = tmp_path / "pool.toml"
    path.write_text(TOML)
    cfg = load_config(path)
    assert cfg.mode == "debate" and cfg.rounds == 2
    assert cfg.member_names == ["one", "mini"]
    assert cfg.pool[1].api_key is not None and cfg.pool[1].api_key.get_secret_value() == "sk-local"
    assert isinstance(cfg.judge, Judge) and cfg.judge.fallbacks[0].model == "fake:backup"


def test_load_yaml(tmp_path: Path):
    path = tmp_path / "pool.yaml"
    path.write_text(YAML)
    cfg = FusionConfig.from_file(path)
    assert cfg.mode == "merge" and cfg.pool[1].timeout == 5


@pytest.mark.parametrize(
    ("name", "text", "words"),
    [
        ("pool.json", "{}", "unknown file kind"),
        ("pool.toml", "mode = [", "does not parse"),
        ("pool.yaml", "- a\n- b", "mapping"),
        ("pool.toml", 'mode = "merge"', "pool"),
    ],
)
def test_bad_files(tmp_path: Path, name, text, words):
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert words in str(info.value)


def test_missing_file(tmp_path: Path):
    with pytest.raises(ConfigError, match="no such file"):
        load_config(tmp_path / "absent.toml")
