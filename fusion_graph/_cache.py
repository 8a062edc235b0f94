"""Cached fusions: the same conversation, config and tools answered from a LangGraph cache.

Opt-in: ``Fusion(config, cache=InMemoryCache(), cache_policy=CachePolicy(ttl=600))`` (also on
``FusionNode``, ``FusionChatModel`` and ``fuse``). The cache is any LangGraph cache
(``langgraph.cache.base.BaseCache``: ``InMemoryCache``, ``SqliteCache``, ``RedisCache``); the
``CachePolicy`` gives the time to live (``ttl``, seconds; ``None``: no expiry) and the function
that turns the key's material into bytes (``key_func``, LangGraph's pickle-based default).

What the key covers (:func:`key_material`): the conversation (role, text, name, tool calls and
tool-call ids of every message, not LangChain's message ids), the whole ``FusionConfig`` (every
member's and judge's model, name, params, base URL, timeouts, prices, samples, tool choice, the
mode and every decision setting; a chat-model instance by its class and its own fields; an API
key not at all), the tools each member is offered (their names, descriptions and JSON schemas, per
member, as the registry shows them at the time of the run), and the tools bound for the answer with
their ``tool_choice``. Anything else that changes an answer (a provider's weights, a tool's result
for the same arguments) is not in the key: that is what a cache means, and the TTL bounds it.

What is stored: the finished fusion's state (answer, candidates, verdict, evidence, usage) and its
final ``AIMessage``, never a failed or paused run. A hit calls no model; its result says
``cached=True`` and counts 0 tokens and $0 in ``usage`` (each candidate keeps the usage of the run
that was stored, to show what the hit saved).
"""

from __future__ import annotations

import hashlib
import inspect
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.utils.function_calling import convert_to_openai_tool
from langgraph.cache.base import BaseCache
from langgraph.types import CachePolicy
from pydantic import BaseModel, SecretStr

from fusion_graph.config import FusionConfig
from fusion_graph.errors import ConfigError

__all__ = ["NAMESPACE", "FusionCache", "key_material", "member_tools"]

NAMESPACE = ("fusion_graph", "fusion")
"""Where fused results live in the LangGraph cache (``cache.clear([NAMESPACE])`` empties them)."""

_VERSION = 1
"""Bumped when what a key covers, or what is stored, changes: old entries then miss."""


@dataclass(frozen=True)
class FusionCache:
    """A LangGraph cache and its policy, as one fusion uses them."""

    cache: BaseCache[Any]
    policy: CachePolicy[Any]

    @classmethod
    def of(cls, cache: Any, policy: Any = None, *, where: str = "cache") -> FusionCache | None:
        """Check ``cache=`` and ``cache_policy=`` (None: caching is off).

        Raises:
            ConfigError: ``cache`` is not a LangGraph cache, or ``cache_policy`` not a ``CachePolicy``
                (or given without a cache).
        """
        policy_field = f"{where}_policy"
        if cache is None:
            if policy is not None:
                raise ConfigError(
                    policy_field, "a cache policy without a cache", f"pass {where}=InMemoryCache() too"
                )
            return None
        if not isinstance(cache, BaseCache):
            raise ConfigError(
                where,
                f"{type(cache).__name__} is not a LangGraph cache",
                "pass a langgraph.cache.base.BaseCache, e.g. langgraph.cache.memory.InMemoryCache() or "
                "langgraph.cache.sqlite.SqliteCache(path=...)",
            )
        if policy is None:
            policy = CachePolicy()
        if not isinstance(policy, CachePolicy):
            raise ConfigError(
                policy_field,
                f"{type(policy).__name__} is not a CachePolicy",
                "pass langgraph.types.CachePolicy(ttl=seconds)",
            )
        if policy.ttl is not None and policy.ttl <= 0:
            raise ConfigError(
                policy_field, f"ttl={policy.ttl} is not positive", "pass ttl=None (no expiry) or seconds > 0"
            )
        return cls(cache, policy)

    def key(self, material: dict[str, Any]) -> str:
        """The entry's key: the policy's ``key_func`` over the material, hashed."""
        raw = self.policy.key_func(json.dumps(material, sort_keys=True, ensure_ascii=False))
        data = raw if isinstance(raw, bytes) else str(raw).encode()
        return hashlib.sha256(data).hexdigest()

    async def get(self, key: str) -> dict[str, Any] | None:
        """The stored fusion state, or None (a miss, or an expired entry)."""
        found = await self.cache.aget([(NAMESPACE, key)])
        value = found.get((NAMESPACE, key))
        return value if isinstance(value, dict) and value.get("version") == _VERSION else None

    async def put(self, key: str, state: dict[str, Any]) -> None:
        """Store a finished fusion's state (its last message is the fused answer)."""
        messages = state.get("messages") or []
        if state.get("answer") is None or not messages or not isinstance(messages[-1], AIMessage):
            return
        values = {k: v for k, v in state.items() if k != "messages" and not k.startswith("__")}
        entry = {"version": _VERSION, "values": values, "message": messages[-1]}
        await self.cache.aset({(NAMESPACE, key): (entry, self.policy.ttl)})


def key_material(
    config: FusionConfig,
    messages: Sequence[BaseMessage],
    tools: dict[str, list[dict[str, Any]]],
    bound_tools: Sequence[dict[str, Any]] = (),
    tool_choice: Any = None,
) -> dict[str, Any]:
    """Everything a cached fusion's key covers (see the module docstring), as JSON data."""
    return {
        "version": _VERSION,
        "config": _plain(config),
        "messages": _canonical_ids([_message(m) for m in messages]),
        "tools": tools,
        "bound_tools": _plain(list(bound_tools)),
        "tool_choice": _plain(tool_choice),
    }


def _canonical_ids(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Tool-call ids renumbered in order of appearance.

    Providers draw the ids at random, so the same conversation asked twice (an agent's loop) has
    other ids; renumbered, it has the same key.
    """
    ids: dict[Any, str] = {}

    def canon(value: Any) -> str:
        return ids.setdefault(value, f"call_{len(ids)}")

    for message in messages:
        for call in message.get("tool_calls", []):
            call["id"] = canon(call.get("id"))
        if "tool_call_id" in message:
            message["tool_call_id"] = canon(message["tool_call_id"])
    return messages


def member_tools(source: Any, members: Sequence[str]) -> dict[str, list[dict[str, Any]]]:
    """The OpenAI schemas of the tools each member is offered.

    Args:
        source: What ``Fusion(tools=)`` got: a ``ToolRegistry`` (or any ``as_langchain_tools``
            source: each member's own tools), a list of tools or functions, or None.
        members: The members' names.
    """
    if source is None:
        return {}
    if hasattr(source, "as_langchain_tools"):
        return {
            member: [_tool_schema(tool) for tool in source.as_langchain_tools(member=member)]
            for member in members
        }
    shared = [_tool_schema(tool) for tool in source]
    return dict.fromkeys(members, shared)


def _tool_schema(tool: Any) -> dict[str, Any]:
    try:
        return _plain(convert_to_openai_tool(tool))
    except Exception:  # noqa: BLE001 - a tool whose schema cannot be built still has a name
        return {"name": getattr(tool, "name", None) or _name(tool)}


def _message(message: BaseMessage) -> dict[str, Any]:
    data: dict[str, Any] = {"type": message.type, "content": _plain(message.content), "name": message.name}
    if isinstance(message, AIMessage) and message.tool_calls:
        data["tool_calls"] = [
            {"name": c["name"], "args": _plain(c["args"]), "id": c.get("id")} for c in message.tool_calls
        ]
    call_id = getattr(message, "tool_call_id", None)
    if call_id is not None:
        data["tool_call_id"] = call_id
    return data


def _plain(value: Any) -> Any:
    """``value`` as JSON data that names what it is, without memory addresses or secrets."""
    if value is None or isinstance(value, str | int | float | bool):
        return value
    if isinstance(value, SecretStr):
        return "<secret>"
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}  # pyright: ignore[reportUnknownVariableType]
    if isinstance(value, list | tuple | set | frozenset):
        items = [_plain(v) for v in value]  # pyright: ignore[reportUnknownVariableType]
        return sorted(items, key=repr) if isinstance(value, set | frozenset) else items
    if isinstance(value, BaseChatModel):
        return {"model": _name(type(value)), "fields": _plain(_fields(value))}
    if isinstance(value, BaseModel):
        return {"model": _name(type(value)), "fields": _plain(_fields(value))}
    if inspect.isclass(value) or callable(value):
        return _name(value)
    return _name(type(value))


def _fields(model: BaseModel) -> dict[str, Any]:
    """A pydantic object's own fields (a chat model's model name, temperature, base URL, ...)."""
    return {name: getattr(model, name, None) for name in type(model).model_fields}


def _name(thing: Callable[..., Any] | type) -> str:
    module = getattr(thing, "__module__", None) or ""
    qualname = getattr(thing, "__qualname__", None) or getattr(thing, "__name__", None) or repr(thing)
    return f"{module}.{qualname}" if module else str(qualname)
