"""Model specs to LangChain chat models, through the official integrations.

``provider:model`` strings resolve lazily: an integration is imported only when a spec needs it, and a
missing one raises :class:`~fusion_graph.errors.ProviderNotInstalled` with the install command.

A provider's environment key goes only to that provider's own API hosts (``_keys.py`` holds the rule,
:func:`provider_info` the hosts); any other ``base_url`` gets ``api_key`` / ``api_key_env`` or no key.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any

from langchain_core.language_models import BaseChatModel

from fusion_graph.config import ModelSpec
from fusion_graph.errors import ConfigError, ProviderNotInstalled
from fusion_graph.providers._http import aclose_http_clients, shared_async_client, shared_http_enabled
from fusion_graph.providers._keys import PLACEHOLDER_KEY, api_key_for, base_url_for, check_params

__all__ = ["ProviderInfo", "aclose_http_clients", "provider_info", "resolve_model"]


@dataclass(frozen=True)
class ProviderInfo:
    """What a provider prefix needs, and where its environment key may go."""

    prefix: str
    """The spec prefix, e.g. ``"openai"``."""
    extra: str
    """The ``fusion-graph[extra]`` that installs its integration (empty: built in)."""
    module: str
    """The integration's module, imported on first use."""
    key_env: str | None
    """The environment variable of the provider's API key (``None``: the provider takes none)."""
    needs_base_url: bool = False
    """Whether a spec must give ``base_url`` (servers you run)."""
    base_url: str | None = None
    """The provider's API, used when neither the spec nor :attr:`base_url_env` names a URL."""
    base_url_env: tuple[str, ...] = ()
    """Environment variables the provider's client reads a base URL from, in its order."""
    key_hosts: tuple[str, ...] = ()
    """The only hosts that receive :attr:`key_env`'s value (over HTTPS)."""


def provider_info(prefix: str) -> ProviderInfo:
    """The requirements of a provider prefix.

    Raises:
        ConfigError: The prefix is unknown.
    """
    table = {
        "openai": ProviderInfo(
            "openai",
            "openai",
            "langchain_openai",
            "OPENAI_API_KEY",
            base_url="https://api.openai.com/v1",
            base_url_env=("OPENAI_API_BASE", "OPENAI_BASE_URL"),
            key_hosts=("api.openai.com",),
        ),
        "openrouter": ProviderInfo(
            "openrouter",
            "openai",
            "langchain_openai",
            "OPENROUTER_API_KEY",
            base_url="https://openrouter.ai/api/v1",
            key_hosts=("openrouter.ai",),
        ),
        "anthropic": ProviderInfo(
            "anthropic",
            "anthropic",
            "langchain_anthropic",
            "ANTHROPIC_API_KEY",
            base_url="https://api.anthropic.com",
            base_url_env=("ANTHROPIC_API_URL", "ANTHROPIC_BASE_URL"),
            key_hosts=("api.anthropic.com",),
        ),
        "mistral": ProviderInfo(
            "mistral",
            "mistral",
            "langchain_mistralai",
            "MISTRAL_API_KEY",
            base_url="https://api.mistral.ai/v1",
            base_url_env=("MISTRAL_BASE_URL",),
            key_hosts=("api.mistral.ai",),
        ),
        "ollama": ProviderInfo("ollama", "ollama", "langchain_ollama", None),
        "local": ProviderInfo("local", "local", "llama_cpp", None),
        "fake": ProviderInfo("fake", "", "fusion_graph.providers.fake", None),
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
        ConfigError: The provider's extra is missing, its API key is not set, ``api_key_env`` names an
            unset variable, or a base URL is needed.
    """
    if isinstance(spec.model, BaseChatModel):
        return spec.model
    prefix, _, name = spec.model.partition(":")
    info = provider_info(prefix)
    _require(info, field)
    params: dict[str, Any] = dict(spec.params)
    if info.needs_base_url and not spec.base_url:
        raise ConfigError(
            f"{field}.base_url",
            f"the '{prefix}' provider talks to a server you run and needs its URL",
            "set base_url, e.g. 'http://127.0.0.1:8000/v1'",
        )
    check_params(spec, field)
    base_url = base_url_for(spec, info)
    api_key = api_key_for(spec, info, base_url, field)
    if prefix == "fake":
        from fusion_graph.providers.fake import ScriptedChatModel

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

        params.setdefault("stream_usage", True)
        params.setdefault("timeout", spec.timeout)
        if not {"http_async_client", "openai_proxy"} & params.keys() and shared_http_enabled(base_url):
            params["http_async_client"] = shared_async_client(base_url or "")
        return ChatOpenAI(
            model=name,
            base_url=base_url,
            api_key=api_key or PLACEHOLDER_KEY,  # type: ignore[arg-type]
            **params,
        )
    if prefix == "anthropic":
        from langchain_anthropic import ChatAnthropic

        params.setdefault("timeout", spec.timeout)
        params.update(model=name, api_key=api_key, base_url=base_url)
        return ChatAnthropic(**params)
    if prefix == "mistral":
        from langchain_mistralai import ChatMistralAI

        params.setdefault("timeout", int(spec.timeout or 120))
        params.update(model=name, api_key=api_key, endpoint=base_url)
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
