"""Parse Mistral's native tool-call text into LangChain tool calls.

A Mistral model served raw (llama.cpp, vLLM without a tool parser, a local GGUF) writes its
tool calls as text, in one of these forms (several calls may follow each other)::

    [TOOL_CALLS][{"name": "add", "arguments": {"a": 1, "b": 2}}, {"name": …}]   (v2/v3 tokenizers)
    [TOOL_CALLS]add[ARGS]{"a": 1, "b": 2}[TOOL_CALLS]mul[ARGS]{"a": 3}         (v11+ tokenizers)
    [TOOL_CALLS]add[CALL_ID]a1b2c3d4e[ARGS]{"a": 1, "b": 2}                    (with call ids)

Text before the first ``[TOOL_CALLS]`` is kept as the message content.
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any

from langchain_core.messages import InvalidToolCall, ToolCall
from langchain_core.messages.tool import invalid_tool_call, tool_call

__all__ = ["TOOL_CALLS", "parse_mistral_tool_calls"]

TOOL_CALLS = "[TOOL_CALLS]"
_ARGS = "[ARGS]"
_CALL_ID = "[CALL_ID]"
_EOS = re.compile(r"\s*</s>\s*$")
_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


def _call_id(index: int, name: str, args: str) -> str:
    number = int.from_bytes(hashlib.sha256(f"{index}:{name}:{args}".encode()).digest()[:8], "big")
    chars = []
    for _ in range(9):
        number, rem = divmod(number, 62)
        chars.append(_ALPHABET[rem])
    return "".join(chars)


def _as_args(value: Any) -> dict[str, Any] | None:
    if isinstance(value, str):
        try:
            value = json.loads(value) if value.strip() else {}
        except json.JSONDecodeError:
            return None
    return value if isinstance(value, dict) else None


def parse_mistral_tool_calls(text: str) -> tuple[str, list[ToolCall], list[InvalidToolCall]]:
    """Split Mistral's native output into content, tool calls and unparseable tool calls.

    Args:
        text: The raw model output.

    Returns:
        ``(content, tool_calls, invalid_tool_calls)``. Without ``[TOOL_CALLS]`` the text is
        returned unchanged with no calls. Call ids are the model's ``[CALL_ID]`` when given,
        else deterministic 9-character alphanumerics (valid Mistral ids).

    Example:
        >>> _, calls, _ = parse_mistral_tool_calls('[TOOL_CALLS]add[ARGS]{"a": 1, "b": 2}')
        >>> calls[0]["name"], calls[0]["args"]
        ('add', {'a': 1, 'b': 2})
    """
    start = text.find(TOOL_CALLS)
    if start < 0:
        return text, [], []
    content = text[:start].strip()
    rest = _EOS.sub("", text[start:])
    calls: list[ToolCall] = []
    invalid: list[InvalidToolCall] = []
    decoder = json.JSONDecoder()
    for chunk in rest.split(TOOL_CALLS)[1:]:
        chunk = chunk.strip()
        if not chunk:
            continue
        if chunk.startswith("["):  # JSON list form
            try:
                items, _ = decoder.raw_decode(chunk)
            except json.JSONDecodeError as exc:
                invalid.append(invalid_tool_call(name=None, args=chunk, id=None, error=str(exc)))
                continue
            for item in items if isinstance(items, list) else [items]:
                name = item.get("name") if isinstance(item, dict) else None
                raw = item.get("arguments", {}) if isinstance(item, dict) else None
                args = _as_args(raw)
                index = len(calls) + len(invalid)
                if not isinstance(name, str) or args is None:
                    invalid.append(
                        invalid_tool_call(name=name, args=json.dumps(raw), id=None, error="bad call")
                    )
                    continue
                cid = item.get("id") if isinstance(item.get("id"), str) else None
                calls.append(
                    tool_call(name=name, args=args, id=cid or _call_id(index, name, json.dumps(args)))
                )
            continue
        name_part, sep, args_part = chunk.partition(_ARGS)
        name, _, given_id = name_part.partition(_CALL_ID)
        name, given_id = name.strip(), given_id.strip()
        index = len(calls) + len(invalid)
        if not sep or not name:
            invalid.append(invalid_tool_call(name=name or None, args=args_part, id=None, error="no [ARGS]"))
            continue
        try:
            value, _ = decoder.raw_decode(args_part.strip())
        except json.JSONDecodeError as exc:
            invalid.append(invalid_tool_call(name=name, args=args_part, id=given_id or None, error=str(exc)))
            continue
        args = _as_args(value)
        if args is None:
            invalid.append(invalid_tool_call(name=name, args=args_part, id=None, error="args not an object"))
            continue
        calls.append(tool_call(name=name, args=args, id=given_id or _call_id(index, name, json.dumps(args))))
    return content, calls, invalid
