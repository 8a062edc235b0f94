"""One profile per provider: every quirk a model's requests and replies follow, in one place.

In the spirit of pydantic-ai's ``ModelProfile``: a frozen record per provider, looked up once per member
and judge when the fusion is built (:func:`profile_for`) and kept beside the model. The nodes ask the
profile; none of them guesses a provider from a class name or a model attribute.

==========================  ========  ==========  ==============  =================  ========
profile                     ids       schema      "call a tool"   structured output  cost
==========================  ========  ==========  ==============  =================  ========
``openai``, ``openrouter``  as given  unchanged   ``required``    ``json_schema``    reported
``openai-compatible``       as given  unchanged   ``required``    ``json_schema``    reported
``vllm``, ``llamacpp``,     as given  unchanged   as given        ``json_schema``    reported
``lmstudio``
``anthropic``               ``call_`` unchanged   ``any``         function calling   priced
``mistral``                 9 chars   ``mistral`` ``any``         function calling   reported
``google``                  as given  ``google``  ``any``         function calling   priced
``ollama``                  as given  ``ollama``  ``required``    ``json_schema``    priced
``local``                   as given  unchanged   ``required``    ``grammar``        priced
``fake``                    as given  unchanged   ``required``    function calling   reported
==========================  ========  ==========  ==============  =================  ========

Ids: Mistral's must match ``^[a-zA-Z0-9]{9}$`` (others map to 9 base-62 characters of a SHA-256 of
the original), Anthropic's ``^[a-zA-Z0-9_-]{1,64}$`` (others map to ``call_`` + 20 base-62); valid
ids are kept. Mistral also gets strict tool turns and its native ``[TOOL_CALLS]`` text parsed (see
:mod:`tool_registry.adapt`). "Cost reported" means a cost the provider sends in its usage object
(OpenRouter's ``usage.cost``) is used as is; every other call is priced from the config.

A model passed in as an object gets the profile of its class (``ChatMistralAI`` → ``mistral``,
``ChatAnthropic`` → ``anthropic``, ``ChatOllama`` → ``ollama``, the local model → ``local``, anything
else → ``openai``). Which environment key goes to which host is the :class:`ProviderInfo` of the spec's
prefix (:attr:`ModelProfile.keys`); a model object gets none, as its client is already built.
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage

from fusion_graph.config import ModelSpec
from fusion_graph.errors import ConfigError
from fusion_graph.providers import ProviderInfo, provider_info
from tool_registry.adapt import (
    SCHEMA_DIALECTS,
    SchemaRules,
    adapt_tool_schema,
    restore_tool_turns,
    rewrite_tool_turns,
)
from tool_registry.mistral_native import base62

__all__ = [
    "ModelProfile",
    "StructuredOutput",
    "ToolCallIdMap",
    "ToolCallIds",
    "adapt_messages",
    "map_tool_choice",
    "profile_for",
    "restore_message",
]

StructuredOutput = Literal["json_schema", "function_calling", "json_mode", "grammar"]
"""How a model returns structured output (``grammar``: the local model constrains its own sampling)."""


@dataclass(frozen=True)
class ToolCallIds:
    """The tool-call ids a provider accepts, and the form a foreign id is mapped to."""

    pattern: str
    """A regular expression every id sent must match."""
    prefix: str
    """What a mapped id starts with."""
    length: int
    """How many base-62 characters follow the prefix."""

    def accepts(self, tool_call_id: str) -> bool:
        """Whether the provider takes this id as it is."""
        return re.match(self.pattern, tool_call_id) is not None

    def mapped(self, original: str, salt: int) -> str:
        """A valid id for ``original``: deterministic, and different for each ``salt``."""
        digest = hashlib.sha256(f"{salt}:{original}".encode()).digest()
        return self.prefix + base62(digest, self.length)


@dataclass(frozen=True)
class ModelProfile:
    """What one provider's requests and replies need. Every default passes things through unchanged."""

    name: str
    """The profile's name (``"mistral"``, ``"openai"``, …)."""
    tool_call_ids: ToolCallIds | None = None
    """The ids it accepts (``None``: any id)."""
    strict_tool_turns: bool = False
    """Mistral's transcript rules: split text from calls, pair every call with one result."""
    native_tool_text: bool = False
    """Replies may carry tool calls as ``[TOOL_CALLS]`` text (a Mistral model served raw)."""
    schema: SchemaRules = SchemaRules()
    """The JSON-schema dialect of tool parameters."""
    tool_choice_any: str | None = None
    """How it spells "call some tool" (``"any"`` or ``"required"``; ``None``: as given)."""
    structured_output: StructuredOutput = "function_calling"
    """How its chat model answers ``with_structured_output`` (the integration's default method)."""
    reported_cost: bool = False
    """Whether a cost the provider reports (``token_usage.cost``) counts instead of the config's prices."""
    keys: ProviderInfo | None = None
    """Its environment key, the hosts that key may go to and its base URLs (``None``: a model object)."""

    def adapt_messages(self, messages: Sequence[BaseMessage], id_map: ToolCallIdMap) -> list[BaseMessage]:
        """The transcript as this provider accepts it (ids through ``id_map``); the input is not modified."""
        return rewrite_tool_turns(
            messages, to_provider=lambda cid: id_map.to_provider(cid, self), strict=self.strict_tool_turns
        )

    def restore_message(self, message: AIMessage, id_map: ToolCallIdMap) -> AIMessage:
        """A reply with the original tool-call ids back (and native tool-call text parsed)."""
        return restore_tool_turns(
            message, to_original=lambda cid: id_map.to_original(cid, self), native_text=self.native_tool_text
        )

    def adapt_tool_schema(self, schema: dict[str, Any]) -> dict[str, Any]:
        """A copy of a tool's parameter schema in this provider's dialect."""
        return adapt_tool_schema(schema, self.schema)

    def adapt_tool(self, tool: dict[str, Any]) -> dict[str, Any]:
        """An OpenAI-style ``{"type": "function", "function": {...}}`` tool with its parameters adapted."""
        function = dict(tool.get("function", {}))
        if "parameters" in function:
            function["parameters"] = self.adapt_tool_schema(function["parameters"])
        return {**tool, "function": function}

    def tool_choice(self, choice: Any) -> Any:
        """``choice`` in this provider's spelling: ``"any"`` and ``"required"`` both mean "call some tool".

        ``"auto"``, ``"none"``, a tool name and dicts pass through.
        """
        if isinstance(choice, str) and choice in {"any", "required"} and self.tool_choice_any:
            return self.tool_choice_any
        return choice


_OPENAI_WIRE = ModelProfile(
    "openai", tool_choice_any="required", structured_output="json_schema", reported_cost=True
)
_PROFILES: dict[str, ModelProfile] = {
    "openai": _OPENAI_WIRE,
    "openrouter": dataclasses.replace(_OPENAI_WIRE, name="openrouter"),
    "openai-compatible": dataclasses.replace(_OPENAI_WIRE, name="openai-compatible"),
    "openai_compatible": dataclasses.replace(_OPENAI_WIRE, name="openai-compatible"),
    # Servers you run speak the OpenAI wire: "call some tool" is "required" there too ("any" is
    # Anthropic's and Mistral's spelling, which vLLM, llama.cpp's server and LM Studio reject).
    "vllm": dataclasses.replace(_OPENAI_WIRE, name="vllm"),
    "llamacpp": dataclasses.replace(_OPENAI_WIRE, name="llamacpp"),
    "lmstudio": dataclasses.replace(_OPENAI_WIRE, name="lmstudio"),
    "anthropic": ModelProfile(
        "anthropic", tool_call_ids=ToolCallIds(r"^[a-zA-Z0-9_-]{1,64}$", "call_", 20), tool_choice_any="any"
    ),
    "mistral": ModelProfile(
        "mistral",
        tool_call_ids=ToolCallIds(r"^[a-zA-Z0-9]{9}$", "", 9),
        strict_tool_turns=True,
        native_tool_text=True,
        schema=SCHEMA_DIALECTS["mistral"],
        tool_choice_any="any",
        reported_cost=True,  # langchain-mistralai keeps the raw usage object under token_usage
    ),
    "google": ModelProfile("google", schema=SCHEMA_DIALECTS["google"], tool_choice_any="any"),
    "ollama": ModelProfile(
        "ollama",
        schema=SCHEMA_DIALECTS["ollama"],
        tool_choice_any="required",
        structured_output="json_schema",
    ),
    "local": ModelProfile("local", tool_choice_any="required", structured_output="grammar"),
    "fake": ModelProfile("fake", tool_choice_any="required", reported_cost=True),
}
_ALIASES = {"mistralai": "mistral", "gemini": "google", "vertex": "google", "vertexai": "google"}
_BY_CLASS = ("mistral", "anthropic", "ollama", "openai")
"""Class-name fragments, in the order checked, for a model passed in as an object."""


def profile_for(
    target: str | ModelSpec | BaseChatModel | ModelProfile, model: BaseChatModel | None = None
) -> ModelProfile:
    """The profile of a provider name, a member's or judge's spec, or a chat model object.

    Args:
        target: A provider name or spec string (``"mistral"``, ``"mistral:mistral-large-latest"``), a
            spec (its prefix decides; a spec holding a model object goes by that object), a model,
            or a profile (returned as it is).
        model: The model resolved from a spec, used when the spec holds no prefix.

    Returns:
        The profile. An unknown name gets one that passes everything through, named as given; a model
        of an unknown class gets ``openai``'s rules.

    Raises:
        ConfigError: ``target`` is none of the above.

    Example:
        >>> profile_for("mistral:mistral-small-latest").tool_choice("required")
        'any'
    """
    if isinstance(target, ModelProfile):
        return target
    if isinstance(target, ModelSpec):
        if target.provider is None:
            return _of_model(model if model is not None else target.model)  # type: ignore[arg-type]
        target = target.provider
    if isinstance(target, BaseChatModel):
        return _of_model(target)
    if not isinstance(target, str):
        raise ConfigError("model", f"cannot find a provider profile for {type(target).__name__}")
    key = target.strip().lower().split(":", 1)[0]
    key = _ALIASES.get(key, key)
    profile = _PROFILES.get(key) or ModelProfile(key)
    try:
        keys = provider_info(key)
    except ConfigError:  # a name without a spec prefix (e.g. "google"): no key rule
        return profile
    return dataclasses.replace(profile, keys=keys)


def _of_model(model: BaseChatModel) -> ModelProfile:
    local = sys.modules.get("fusion_graph.providers.local")  # loaded if the model is a local one
    if local is not None and isinstance(model, local.LocalChatModel):
        return _PROFILES["local"]
    name = type(model).__name__.lower()
    return next((_PROFILES[part] for part in _BY_CLASS if part in name), _PROFILES["openai"])


class ToolCallIdMap:
    """A reversible, deterministic map between original tool-call ids and provider ids.

    Keep one map per conversation (or per member) for the whole run: the same original id
    always maps to the same provider id, across calls and rounds, and :meth:`to_original` maps
    it back. Ids the provider invents itself are unknown to the map and pass through.

    Example:
        >>> ids = ToolCallIdMap()
        >>> short = ids.to_provider("call_abc123", "mistral")
        >>> len(short), ids.to_original(short, "mistral")
        (9, 'call_abc123')
    """

    def __init__(self) -> None:
        self._forward: dict[tuple[str, str], str] = {}
        self._reverse: dict[tuple[str, str], str] = {}

    def __len__(self) -> int:
        return len(self._forward)

    def to_provider(self, original: str, provider: str | ModelProfile) -> str:
        """The id to send to ``provider`` (a profile or its name) for ``original`` (made on first use)."""
        profile = profile_for(provider)
        rule = profile.tool_call_ids
        if rule is None:
            return original
        key = profile.name
        known = self._forward.get((key, original))
        if known is not None:
            return known
        candidate = original
        salt = 0
        while not rule.accepts(candidate) or (key, candidate) in self._reverse:
            candidate = rule.mapped(original, salt)
            salt += 1
        self._forward[(key, original)] = candidate
        self._reverse[(key, candidate)] = original
        return candidate

    def to_original(self, provider_id: str, provider: str | ModelProfile) -> str:
        """The original id behind ``provider_id`` (itself when the provider made it up)."""
        profile = profile_for(provider)
        return self._reverse.get((profile.name, provider_id), provider_id)


def adapt_messages(
    messages: Sequence[BaseMessage], provider: str | ModelProfile, id_map: ToolCallIdMap
) -> list[BaseMessage]:
    """Rewrite a LangChain transcript so ``provider`` (a profile or its name) accepts it.

    See :meth:`ModelProfile.adapt_messages`.
    """
    profile = profile_for(provider)
    return profile.adapt_messages(messages, id_map)


def restore_message(message: AIMessage, provider: str | ModelProfile, id_map: ToolCallIdMap) -> AIMessage:
    """Undo :func:`adapt_messages` on a reply from ``provider`` (see :meth:`ModelProfile.restore_message`)."""
    profile = profile_for(provider)
    return profile.restore_message(message, id_map)


def map_tool_choice(choice: Any, provider: str | ModelProfile) -> Any:
    """``choice`` in the spelling ``provider`` expects (see :meth:`ModelProfile.tool_choice`).

    Example:
        >>> map_tool_choice("any", "openai"), map_tool_choice("required", "mistral")
        ('required', 'any')
    """
    profile = profile_for(provider)
    return profile.tool_choice(choice)
