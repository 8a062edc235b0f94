"""Mechanics for adapting tool traffic to what a model accepts; *which* model needs what is not here.

The rules per provider (which ids, which schema dialect, which ``tool_choice`` spelling) live in the
provider profiles of fusion-graph (``fusion_graph.providers.profiles``). This module holds only the
mechanics those profiles are parameters to, and the named JSON-schema dialects that
:meth:`ToolRegistry.openai_schemas(provider=...) <tool_registry.ToolRegistry.openai_schemas>` uses.

JSON-schema dialects (:func:`adapt_tool_schema`, :class:`SchemaRules`):

=============  ====================================================================
dialect        rules
=============  ====================================================================
``mistral``    ``$ref``/``$defs`` inlined; ``anyOf``/``oneOf`` with ``null`` → the non-null
               branch (optional); ``type: [T, "null"]`` → ``T``; ``format``, ``default``,
               ``examples``, ``$schema`` dropped
``google``     (also ``gemini``, ``vertex``) refs inlined; ``null`` unions → ``nullable: true``;
               ``format`` (except ``enum``/``date-time``), ``default``, ``examples``,
               ``additionalProperties``, ``$schema``, ``title`` dropped; ``const`` → ``enum``
``ollama``     refs inlined
others         unchanged (a deep copy)
=============  ====================================================================

Strict tool turns (:func:`rewrite_tool_turns` with ``strict=True``, Mistral's rules): an assistant
message with both text and tool calls is split in two (text, then the calls; older tokenizers reject
both in one message); one with neither is dropped; tool results that are not text (images) become a
text placeholder and their names are sanitised; a tool call left without a result gets a
``status="error"`` placeholder result, and a tool result that answers no pending call is dropped.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from langchain_core.messages import AIMessage, BaseMessage, ToolCall, ToolMessage

from . import _names
from .mistral_native import TOOL_CALLS, parse_mistral_tool_calls

__all__ = ["SCHEMA_DIALECTS", "SchemaRules", "adapt_tool_schema", "restore_tool_turns", "rewrite_tool_turns"]

logger = logging.getLogger(__name__)

_MISSING_RESULT = "[no result was recorded for this tool call]"

IdMapper = Callable[[str], str]
"""Maps one tool-call id (to the provider's form, or back)."""


def _map_call(call: ToolCall, map_id: IdMapper) -> ToolCall:
    old = call.get("id")
    if not old:
        return call
    return {**call, "id": map_id(old)}


def _map_raw_calls(kwargs: dict[str, Any], map_id: IdMapper) -> None:
    raw = kwargs.get("tool_calls")
    if not isinstance(raw, list):
        return
    mapped = []
    for item in raw:
        if isinstance(item, dict) and isinstance(item.get("id"), str):
            item = {**item, "id": map_id(item["id"])}
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


def rewrite_tool_turns(
    messages: Sequence[BaseMessage], *, to_provider: IdMapper, strict: bool = False
) -> list[BaseMessage]:
    """Rewrite a LangChain transcript's tool turns for a model; the input messages are not modified.

    Args:
        messages: The transcript (may hold several members' tool traces).
        to_provider: Maps each tool-call id (in ``AIMessage.tool_calls``, raw
            ``additional_kwargs["tool_calls"]`` and ``ToolMessage.tool_call_id``) to the model's form.
        strict: Apply the strict tool-turn rules of the module docstring.

    Returns:
        New messages.
    """
    out: list[BaseMessage] = []
    for message in messages:
        if isinstance(message, AIMessage):
            calls = [_map_call(c, to_provider) for c in message.tool_calls]
            kwargs = dict(message.additional_kwargs)
            _map_raw_calls(kwargs, to_provider)
            if strict and not calls and not _has_text(message.content):
                continue  # rejected: an assistant message with neither text nor tool calls
            if strict and calls and _has_text(message.content):
                # Older Mistral tokenizers reject text and tool calls in one message: split it.
                out.append(AIMessage(content=message.content, name=message.name))
                update = {"content": "", "tool_calls": calls, "additional_kwargs": kwargs}
                out.append(message.model_copy(update=update))
                continue
            out.append(message.model_copy(update={"tool_calls": calls, "additional_kwargs": kwargs}))
        elif isinstance(message, ToolMessage):
            update: dict[str, Any] = {"tool_call_id": to_provider(message.tool_call_id)}
            if strict:
                update["content"] = _text_only(message.content)
                if message.name is not None:
                    update["name"] = _names.sanitize(message.name)
            out.append(message.model_copy(update=update))
        else:
            out.append(message)
    return _pair_tool_results(out) if strict else out


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


def restore_tool_turns(
    ai_message: AIMessage, *, to_original: IdMapper, native_text: bool = False
) -> AIMessage:
    """Undo :func:`rewrite_tool_turns` on an ``AIMessage`` coming back from the model.

    Args:
        ai_message: The model's reply.
        to_original: Maps a tool-call id back to the original (ids the model made up stay as they are).
        native_text: Parse Mistral's native ``[TOOL_CALLS]`` text in the content into ``tool_calls``
            (a model served raw writes its calls as text).

    Returns:
        A new message.
    """
    message = ai_message
    if (
        native_text
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
    calls = [_map_call(c, to_original) for c in message.tool_calls]
    kwargs = dict(message.additional_kwargs)
    _map_raw_calls(kwargs, to_original)
    return message.model_copy(update={"tool_calls": calls, "additional_kwargs": kwargs})


# -- JSON schema ---------------------------------------------------------------------------


@dataclass(frozen=True)
class SchemaRules:
    """A JSON-schema dialect: what to downgrade in a tool's input schema for a model to accept it."""

    inline_refs: bool = False
    """Inline ``$ref`` and drop ``$defs`` / ``definitions``."""
    drop: frozenset[str] = frozenset()
    """Keywords removed at every level."""
    nullable: Literal["keep", "drop", "flag"] = "keep"
    """``null`` in unions and type lists: kept, dropped (the field stays optional) or ``nullable: true``."""
    const_to_enum: bool = False
    """``const: x`` becomes ``enum: [x]``."""
    formats: frozenset[str] | None = None
    """The only ``format`` values kept (``None``: all)."""


_MISTRAL_SCHEMA = SchemaRules(
    inline_refs=True, drop=frozenset({"format", "default", "examples", "$schema"}), nullable="drop"
)
_GOOGLE_SCHEMA = SchemaRules(
    inline_refs=True,
    drop=frozenset({"default", "examples", "additionalProperties", "$schema", "title"}),
    nullable="flag",
    const_to_enum=True,
    formats=frozenset({"enum", "date-time"}),
)
SCHEMA_DIALECTS: dict[str, SchemaRules] = {
    "mistral": _MISTRAL_SCHEMA,
    "mistralai": _MISTRAL_SCHEMA,
    "google": _GOOGLE_SCHEMA,
    "gemini": _GOOGLE_SCHEMA,
    "vertex": _GOOGLE_SCHEMA,
    "vertexai": _GOOGLE_SCHEMA,
    "ollama": SchemaRules(inline_refs=True),
}
"""The named dialects (see the module docstring); any other name leaves schemas unchanged."""


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


def _downgrade(node: Any, rules: SchemaRules) -> Any:
    if isinstance(node, list):
        return [_downgrade(item, rules) for item in node]
    if not isinstance(node, dict):
        return node
    node = dict(node)
    if rules.nullable != "keep":
        for union in ("anyOf", "oneOf"):
            branches = node.get(union)
            if isinstance(branches, list) and any(_is_null(b) for b in branches):
                rest = [b for b in branches if not _is_null(b)]
                node.pop(union)
                if len(rest) == 1 and isinstance(rest[0], dict):
                    node = {**rest[0], **node}
                elif rest:
                    node[union] = rest
                if rules.nullable == "flag":
                    node["nullable"] = True
        types = node.get("type")
        if isinstance(types, list) and "null" in types:
            rest_types = [t for t in types if t != "null"]
            node["type"] = rest_types[0] if len(rest_types) == 1 else rest_types
            if rules.nullable == "flag":
                node["nullable"] = True
    if rules.const_to_enum and "const" in node:
        node["enum"] = [node.pop("const")]
    if rules.formats is not None and node.get("format") not in (None, *rules.formats):
        node.pop("format")
    out: dict[str, Any] = {}
    for k, v in node.items():
        if k in rules.drop:
            continue
        if k == "properties" and isinstance(v, dict):
            out[k] = {name: _downgrade(sub, rules) for name, sub in v.items()}
        else:
            out[k] = _downgrade(v, rules)
    return out


def adapt_tool_schema(schema: dict[str, Any], dialect: str | SchemaRules) -> dict[str, Any]:
    """A copy of a tool's input JSON schema in a dialect a model accepts (rules: module docstring).

    Args:
        schema: The tool's input schema (not modified).
        dialect: The rules, or a dialect's name (``"mistral"``, ``"gemini"``, …; a model spec such as
            ``"mistral:mistral-large-latest"`` names its provider's dialect).

    Example:
        >>> s = {"type": "object", "properties": {"x": {"anyOf": [{"type": "integer"}, {"type": "null"}]}}}
        >>> adapt_tool_schema(s, "mistral")["properties"]["x"]
        {'type': 'integer'}
    """
    if isinstance(dialect, str):
        dialect = SCHEMA_DIALECTS.get(dialect.strip().lower().split(":", 1)[0], SchemaRules())
    result = copy.deepcopy(schema)
    if dialect.inline_refs:
        result = _inline(result, result)
    if dialect.nullable != "keep" or dialect.drop or dialect.const_to_enum or dialect.formats is not None:
        result = _downgrade(result, dialect)
    return result
