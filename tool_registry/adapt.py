"""Provider adaptation: applied to what goes out to a provider, undone on what comes back.

Tool-call ids (per provider, via a reversible :class:`ToolCallIdMap`):

* ``mistral``: ids must match ``^[a-zA-Z0-9]{9}$``. Valid ids are kept; any other id maps to
  9 base-62 characters of a SHA-256 of the original (salted on the rare collision).
* ``anthropic``: ids must match ``^[a-zA-Z0-9_-]+$``; others map to ``call_`` + 20 base-62.
* everyone else: ids are passed through.

Messages for ``mistral`` additionally: an assistant message with both text and tool calls is
split in two (text, then the calls; older tokenizers reject both in one message); one with
neither is dropped; tool results that are not text (images) become a text placeholder; a tool call
left without a result gets a ``status="error"`` placeholder result, and a tool result that
answers no pending call is dropped (Mistral rejects both).

JSON-schema downgrades (:func:`adapt_tool_schema`):

=============  ====================================================================
provider       rules
=============  ====================================================================
``mistral``    ``$ref``/``$defs`` inlined; ``anyOf``/``oneOf`` with ``null`` → the non-null
               branch (optional); ``type: [T, "null"]`` → ``T``; ``format``, ``default``,
               ``examples``, ``$schema`` dropped
``google``     (also ``gemini``, ``vertex``) refs inlined; ``null`` unions → ``nullable: true``;
               ``format`` (except ``enum``/``date-time``), ``default``, ``examples``,
               ``additionalProperties``, ``$schema``, ``title`` dropped; ``const`` → ``enum``
``ollama``     refs inlined
others         unchanged (a deep copy): ``openai``, ``anthropic``, ``local``, ``fake`` …
=============  ====================================================================

``tool_choice`` (:func:`map_tool_choice`): ``"any"`` and ``"required"`` both mean "call some
tool": ``openai``/``ollama``/``openai-compatible`` get ``"required"``; ``mistral``,
``anthropic`` and ``google`` get ``"any"``. ``"auto"``, ``"none"``, a tool name and dicts
pass through.
"""

from __future__ import annotations

import copy
import hashlib
import logging
import re
from collections.abc import Sequence
from typing import Any

from langchain_core.messages import AIMessage, BaseMessage, ToolCall, ToolMessage

from . import _names
from .mistral_native import TOOL_CALLS, parse_mistral_tool_calls

__all__ = ["ToolCallIdMap", "adapt_messages", "adapt_tool_schema", "map_tool_choice", "restore_message"]

logger = logging.getLogger(__name__)

_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_ID_RULES: dict[str, tuple[re.Pattern[str], str, int]] = {
    "mistral": (re.compile(r"^[a-zA-Z0-9]{9}$"), "", 9),
    "anthropic": (re.compile(r"^[a-zA-Z0-9_-]{1,64}$"), "call_", 20),
}
_MISSING_RESULT = "[no result was recorded for this tool call]"


def _provider_key(provider: str) -> str:
    key = provider.strip().lower().split(":", 1)[0]
    return {"mistralai": "mistral", "gemini": "google", "vertex": "google", "vertexai": "google"}.get(
        key, key
    )


def _base62(data: bytes, n: int) -> str:
    number = int.from_bytes(data, "big")
    chars = []
    for _ in range(n):
        number, rem = divmod(number, 62)
        chars.append(_ALPHABET[rem])
    return "".join(chars)


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

    def to_provider(self, original: str, provider: str) -> str:
        """The id to send to ``provider`` for ``original`` (created on first use)."""
        key = _provider_key(provider)
        rule = _ID_RULES.get(key)
        if rule is None:
            return original
        known = self._forward.get((key, original))
        if known is not None:
            return known
        pattern, prefix, length = rule
        candidate = original
        salt = 0
        while not pattern.match(candidate) or (key, candidate) in self._reverse:
            digest = hashlib.sha256(f"{salt}:{original}".encode()).digest()
            candidate = prefix + _base62(digest, length)
            salt += 1
        self._forward[(key, original)] = candidate
        self._reverse[(key, candidate)] = original
        return candidate

    def to_original(self, provider_id: str, provider: str) -> str:
        """The original id behind ``provider_id`` (itself when the provider made it up)."""
        return self._reverse.get((_provider_key(provider), provider_id), provider_id)


def _map_call(call: ToolCall, provider: str, id_map: ToolCallIdMap, *, outward: bool) -> ToolCall:
    old = call.get("id")
    if not old:
        return call
    new = id_map.to_provider(old, provider) if outward else id_map.to_original(old, provider)
    return {**call, "id": new}


def _map_raw_calls(kwargs: dict[str, Any], provider: str, id_map: ToolCallIdMap, *, outward: bool) -> None:
    raw = kwargs.get("tool_calls")
    if not isinstance(raw, list):
        return
    mapped = []
    for item in raw:
        if isinstance(item, dict) and isinstance(item.get("id"), str):
            old = item["id"]
            new = id_map.to_provider(old, provider) if outward else id_map.to_original(old, provider)
            item = {**item, "id": new}
        mapped.append(item)
    kwargs["tool_calls"] = mapped


def _text_only(content: Any) -> Any:
    if isinstance(content, str):
        return content
    parts: list[str] = []
    for block in content or []:
        if isinstance(block, str):
            parts.append(block)
        elif isinstance(block, dict) and block.get("type") == "text":
            parts.append(str(block.get("text", "")))
        elif isinstance(block, dict):
            parts.append(f"[{block.get('type', 'non-text')} content omitted]")
    return "\n".join(parts)


def _has_text(content: Any) -> bool:
    return bool(_text_only(content).strip())


def adapt_messages(
    messages: Sequence[BaseMessage], provider: str, id_map: ToolCallIdMap
) -> list[BaseMessage]:
    """Rewrite a LangChain transcript so ``provider`` accepts it.

    Tool-call ids in ``AIMessage.tool_calls`` (and raw ``additional_kwargs["tool_calls"]``)
    and ``ToolMessage.tool_call_id`` go through ``id_map``; for Mistral the message-structure
    rules of the module docstring apply. The input messages are not modified.

    Args:
        messages: The transcript (may hold several members' tool traces).
        provider: Provider key (``"mistral"``, ``"anthropic"``, ``"openai"``, … or a model spec
            such as ``"mistral:mistral-large-latest"``).
        id_map: The conversation's id map (reuse it across rounds and for :func:`restore_message`).

    Returns:
        New messages.
    """
    key = _provider_key(provider)
    out: list[BaseMessage] = []
    for message in messages:
        if isinstance(message, AIMessage):
            calls = [_map_call(c, key, id_map, outward=True) for c in message.tool_calls]
            kwargs = dict(message.additional_kwargs)
            _map_raw_calls(kwargs, key, id_map, outward=True)
            if key == "mistral" and not calls and not _has_text(message.content):
                continue  # Mistral rejects an assistant message with neither text nor tool calls
            if key == "mistral" and calls and _has_text(message.content):
                # Older Mistral tokenizers reject text and tool calls in one message: split it.
                out.append(AIMessage(content=message.content, name=message.name))
                update = {"content": "", "tool_calls": calls, "additional_kwargs": kwargs}
                out.append(message.model_copy(update=update))
                continue
            out.append(message.model_copy(update={"tool_calls": calls, "additional_kwargs": kwargs}))
        elif isinstance(message, ToolMessage):
            update: dict[str, Any] = {"tool_call_id": id_map.to_provider(message.tool_call_id, key)}
            if key == "mistral":
                update["content"] = _text_only(message.content)
                if message.name is not None:
                    update["name"] = _names.sanitize(message.name)
            out.append(message.model_copy(update=update))
        else:
            out.append(message)
    return _pair_tool_results(out) if key == "mistral" else out


def _pair_tool_results(messages: list[BaseMessage]) -> list[BaseMessage]:
    """Give every tool call exactly one result right after its assistant message."""
    out: list[BaseMessage] = []
    pending: list[ToolCall] = []
    answered: set[str] = set()

    def close_turn() -> None:
        for call in pending:
            cid = call.get("id") or ""
            if cid not in answered:
                out.append(
                    ToolMessage(content=_MISSING_RESULT, tool_call_id=cid, name=call["name"], status="error")
                )
        pending.clear()
        answered.clear()

    for message in messages:
        if isinstance(message, ToolMessage):
            ids = {c.get("id") for c in pending}
            if message.tool_call_id in ids and message.tool_call_id not in answered:
                answered.add(message.tool_call_id)
                out.append(message)
            else:
                logger.debug("dropping a tool result that answers no pending call: %s", message.tool_call_id)
            continue
        close_turn()
        out.append(message)
        if isinstance(message, AIMessage) and message.tool_calls:
            pending.extend(message.tool_calls)
    close_turn()
    return out


def restore_message(ai_message: AIMessage, provider: str, id_map: ToolCallIdMap) -> AIMessage:
    """Undo :func:`adapt_messages` on an ``AIMessage`` coming back from ``provider``.

    Tool-call ids map back to the originals (ids the provider made up stay as they are). For
    Mistral, native ``[TOOL_CALLS]`` text in the content is parsed into ``tool_calls``.
    """
    key = _provider_key(provider)
    message = ai_message
    if (
        key == "mistral"
        and not message.tool_calls
        and isinstance(message.content, str)
        and TOOL_CALLS in message.content
    ):
        content, calls, invalid = parse_mistral_tool_calls(message.content)
        message = message.model_copy(
            update={
                "content": content,
                "tool_calls": calls,
                "invalid_tool_calls": [*message.invalid_tool_calls, *invalid],
            }
        )
    calls = [_map_call(c, key, id_map, outward=False) for c in message.tool_calls]
    kwargs = dict(message.additional_kwargs)
    _map_raw_calls(kwargs, key, id_map, outward=False)
    return message.model_copy(update={"tool_calls": calls, "additional_kwargs": kwargs})


# -- JSON schema ---------------------------------------------------------------------------

_DROP: dict[str, frozenset[str]] = {
    "mistral": frozenset({"format", "default", "examples", "$schema"}),
    "google": frozenset({"default", "examples", "additionalProperties", "$schema", "title"}),
}
_INLINE = frozenset({"mistral", "google", "ollama"})
_NULLABLE_STYLE = {"mistral": "drop", "google": "nullable"}


def _resolve_ref(ref: str, root: dict[str, Any]) -> Any:
    if not ref.startswith("#/"):
        return None
    node: Any = root
    for part in ref[2:].split("/"):
        part = part.replace("~1", "/").replace("~0", "~")
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node


def _inline(node: Any, root: dict[str, Any], depth: int = 0) -> Any:
    if isinstance(node, list):
        return [_inline(item, root, depth) for item in node]
    if not isinstance(node, dict):
        return node
    if "$ref" in node:
        target = _resolve_ref(str(node["$ref"]), root)
        if target is None or depth > 32:  # unresolvable or recursive: an open object
            return {"type": "object"}
        merged = {**target, **{k: v for k, v in node.items() if k != "$ref"}}
        return _inline(merged, root, depth + 1)
    return {k: _inline(v, root, depth) for k, v in node.items() if k not in {"$defs", "definitions"}}


def _is_null(node: Any) -> bool:
    return isinstance(node, dict) and node.get("type") == "null"


def _downgrade(node: Any, key: str) -> Any:
    if isinstance(node, list):
        return [_downgrade(item, key) for item in node]
    if not isinstance(node, dict):
        return node
    style = _NULLABLE_STYLE.get(key)
    drop = _DROP.get(key, frozenset())
    node = dict(node)
    if style:
        for union in ("anyOf", "oneOf"):
            branches = node.get(union)
            if isinstance(branches, list) and any(_is_null(b) for b in branches):
                rest = [b for b in branches if not _is_null(b)]
                node.pop(union)
                if len(rest) == 1 and isinstance(rest[0], dict):
                    node = {**rest[0], **node}
                elif rest:
                    node[union] = rest
                if style == "nullable":
                    node["nullable"] = True
        types = node.get("type")
        if isinstance(types, list) and "null" in types:
            rest_types = [t for t in types if t != "null"]
            node["type"] = rest_types[0] if len(rest_types) == 1 else rest_types
            if style == "nullable":
                node["nullable"] = True
    if key == "google":
        if "const" in node:
            node["enum"] = [node.pop("const")]
        if node.get("format") not in (None, "enum", "date-time"):
            node.pop("format")
    out: dict[str, Any] = {}
    for k, v in node.items():
        if k in drop:
            continue
        if k == "properties" and isinstance(v, dict):
            out[k] = {name: _downgrade(sub, key) for name, sub in v.items()}
        else:
            out[k] = _downgrade(v, key)
    return out


def adapt_tool_schema(schema: dict[str, Any], provider: str) -> dict[str, Any]:
    """A copy of a tool's input JSON schema that ``provider`` accepts (rules: module docstring).

    Example:
        >>> s = {"type": "object", "properties": {"x": {"anyOf": [{"type": "integer"}, {"type": "null"}]}}}
        >>> adapt_tool_schema(s, "mistral")["properties"]["x"]
        {'type': 'integer'}
    """
    key = _provider_key(provider)
    result = copy.deepcopy(schema)
    if key in _INLINE:
        result = _inline(result, result)
    if key in _DROP or key in _NULLABLE_STYLE:
        result = _downgrade(result, key)
    return result


def map_tool_choice(choice: Any, provider: str) -> Any:
    """Translate a ``tool_choice`` value into the spelling ``provider`` expects.

    Example:
        >>> map_tool_choice("any", "openai"), map_tool_choice("required", "mistral")
        ('required', 'any')
    """
    if not isinstance(choice, str):
        return choice
    key = _provider_key(provider)
    if choice in {"any", "required"}:
        if key in {"mistral", "anthropic", "google"}:
            return "any"
        if key in {"openai", "ollama", "openai-compatible", "openai_compatible", "openrouter"}:
            return "required"
    return choice
