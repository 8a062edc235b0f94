"""Model specs to LangChain chat models, through the official integrations.

``provider:model`` strings resolve lazily: an integration is imported only when a spec needs it, and a
missing one raises :class:`~fusion_graph.errors.ProviderNotInstalled` with the install command.
"""

from __future__ import annotations

import importlib
import os
from dataclasses import dataclass
from typing import Any

from langchain_core.language_models import BaseChatModel

from fusion_graph.config import ModelSpec
from fusion_graph.errors import ConfigError, ProviderNotInstalled

__all__ = ["ProviderInfo", "provider_info", "resolve_model"]

OPENROUTER_BASE_URL = "https://openrouter.ai/api/v1"


@dataclass(frozen=True)
class ProviderInfo:
    """What a provider prefix needs."""

    prefix: str
    extra: str
    module: str
    key_env: str | None
    needs_base_url: bool = False


def provider_info(prefix: str) -> ProviderInfo:
    """The requirements of a provider prefix.

    Raises:
        ConfigError: The prefix is unknown.
    """
    table = {
        "openai": ProviderInfo("openai", "openai", "langchain_openai", "OPENAI_API_KEY"),
        "openrouter": ProviderInfo("openrouter", "openai", "langchain_openai", "OPENROUTER_API_KEY"),
        "anthropic": ProviderInfo("anthropic", "anthropic", "langchain_anthropic", "ANTHROPIC_API_KEY"),
        "mistral": ProviderInfo("mistral", "mistral", "langchain_mistralai", "MISTRAL_API_KEY"),
        "ollama": ProviderInfo("ollama", "ollama", "langchain_ollama", None),
        "local": ProviderInfo("local", "local", "llama_cpp", None),
        "fake": ProviderInfo("fake", "", "fusion_graph.testing", None),
    }
    for alias in ("openai-compatible", "vllm", "llamacpp", "lmstudio"):
        table[alias] = ProviderInfo(alias, "openai", "langchain_openai", None, needs_base_url=True)
    if prefix not in table:
        raise ConfigError("model", f"unknown provider prefix {prefix!r}", f"use one of {list(table)}")
    return table[prefix]


def resolve_model(spec: ModelSpec, field: str = "model") -> BaseChatModel:
    """Build the chat model a spec describes (see :func:`_resolve`).

    Raises:
        ConfigError: The provider's extra is missing, its API key is not set, a base URL is needed, or
            the provider rejects a parameter (the field named is ``<field>.params``).
    """
    try:
        return _resolve(spec, field)
    except ConfigError:
        raise
    except (ValueError, TypeError) as exc:  # pydantic's ValidationError is a ValueError
        first = str(exc).strip().splitlines()
        detail = " ".join(line.strip() for line in first[:3])
        raise ConfigError(
            f"{field}.params",
            f"the {spec.provider or 'model'} provider rejected a parameter: {detail}",
            "check the names and types in params against the provider's chat model",
        ) from exc


def _resolve(spec: ModelSpec, field: str) -> BaseChatModel:
    """Build the chat model a spec describes.

    Args:
        spec: A member or judge.
        field: The spec's place in the config, for error messages (e.g. ``pool[1]``).

    Returns:
        The chat model (the instance itself when the spec holds one).

    Raises:
        ConfigError: The provider's extra is missing, its API key is not set, or a base URL is needed.
    """
    if isinstance(spec.model, BaseChatModel):
        return spec.model
    prefix, _, name = spec.model.partition(":")
    info = provider_info(prefix)
    _require(info, field)
    api_key = _api_key(spec, info, field)
    params: dict[str, Any] = dict(spec.params)
    if info.needs_base_url and not spec.base_url:
        raise ConfigError(
            f"{field}.base_url",
            f"the '{prefix}' provider talks to a server you run and needs its URL",
            "set base_url, e.g. 'http://127.0.0.1:8000/v1'",
        )
    if prefix == "fake":
        from fusion_graph.testing import ScriptedChatModel

        params.setdefault("script", [name])
        params.setdefault("model_name", f"fake:{name}")
        return ScriptedChatModel(**params)
    if prefix == "local":
        from fusion_graph.providers.local import LocalModelError, create_local_model

        try:
            return create_local_model(name, params)
        except LocalModelError as exc:
            raise ConfigError(f"{field}.model", str(exc)) from exc
    if prefix in ("openai", "openrouter") or info.needs_base_url:
        from langchain_openai import ChatOpenAI

        base_url = spec.base_url or (OPENROUTER_BASE_URL if prefix == "openrouter" else None)
        params.setdefault("stream_usage", True)
        params.setdefault("timeout", spec.timeout)
        return ChatOpenAI(
            model=name,
            base_url=base_url,
            api_key=api_key or "not-needed",  # type: ignore[arg-type]
            **params,
        )
    if prefix == "anthropic":
        from langchain_anthropic import ChatAnthropic

        params.setdefault("timeout", spec.timeout)
        params.update(model=name, api_key=api_key, base_url=spec.base_url)
        return ChatAnthropic(**params)
    if prefix == "mistral":
        from langchain_mistralai import ChatMistralAI

        if spec.base_url:
            params["endpoint"] = spec.base_url
        params.setdefault("timeout", int(spec.timeout or 120))
        params.update(model=name, api_key=api_key)
        return ChatMistralAI(**params)
    from langchain_ollama import ChatOllama

    return ChatOllama(model=name, base_url=spec.base_url or "http://127.0.0.1:11434", **params)


def _require(info: ProviderInfo, field: str) -> None:
    if not info.extra:
        return
    try:
        importlib.import_module(info.module)
    except ImportError as exc:
        raise ProviderNotInstalled(f"{field}.model", info.prefix, info.extra) from exc


def _api_key(spec: ModelSpec, info: ProviderInfo, field: str) -> str | None:
    if spec.api_key is not None:
        return spec.api_key.get_secret_value()
    if info.key_env is None:
        return None
    if info.prefix == "openai" and spec.base_url:
        return os.environ.get(info.key_env) or None
    value = os.environ.get(info.key_env)
    if not value:
        raise ConfigError(
            f"{field}.api_key",
            f"no API key for the '{info.prefix}' provider",
            f"set the {info.key_env} environment variable or pass api_key=",
        )
    return value
