"""Parse Mistral's native tool-call text into LangChain tool calls.

A Mistral model served raw (llama.cpp, vLLM without a tool parser, a local GGUF) writes its
tool calls as text, in one of these forms (several calls may follow each other)::

    [TOOL_CALLS][{"name": "add", "arguments": {"a": 1, "b": 2}}, {"name": …}]   (v2/v3 tokenizers)
    [TOOL_CALLS]add[ARGS]{"a": 1, "b": 2}[TOOL_CALLS]mul[ARGS]{"a": 3}         (v11+ tokenizers)
    [TOOL_CALLS]add[CALL_ID]a1b2c3d4e[ARGS]{"a": 1, "b": 2}                    (with call ids)

Text before the first ``[TOOL_CALLS]`` is kept as the message content. Small local models also
write a lone object after ``[TOOL_CALLS]``, or ``parameters`` for ``arguments``; both are read.
This is the one ``[TOOL_CALLS]`` parser: the registry's Mistral adapter and the local provider use it.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable
from typing import Any

from langchain_core.messages import InvalidToolCall, ToolCall
from langchain_core.messages.tool import invalid_tool_call, tool_call

__all__ = ["TOOL_CALLS", "base62", "parse_mistral_tool_calls"]

TOOL_CALLS = "[TOOL_CALLS]"
_ARGS = "[ARGS]"
_CALL_ID = "[CALL_ID]"
_EOS = re.compile(r"\s*</s>\s*$")
_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


def base62(data: bytes, n: int) -> str:
    """The ``n`` lowest base-62 digits (``0-9A-Za-z``, least significant first) of ``data`` as a number.

    The alphabet of Mistral's 9-character tool-call ids; also used to map foreign ids into a
    provider's id rules.

    Example:
        >>> base62((256).to_bytes(2, "big"), 3)
        '840'
    """
    number = int.from_bytes(data, "big")
    chars = []
    for _ in range(n):
        number, rem = divmod(number, 62)
        chars.append(_ALPHABET[rem])
    return "".join(chars)


def _call_id(index: int, name: str, args: str) -> str:
    return base62(hashlib.sha256(f"{index}:{name}:{args}".encode()).digest()[:8], 9)


def _as_args(value: Any) -> dict[str, Any] | None:
    if isinstance(value, str):
        try:
            value = json.loads(value) if value.strip() else {}
        except json.JSONDecodeError:
            return None
    return value if isinstance(value, dict) else None


def parse_mistral_tool_calls(
    text: str, *, new_id: Callable[[], str] | None = None
) -> tuple[str, list[ToolCall], list[InvalidToolCall]]:
    """Split Mistral's native output into content, tool calls and unparseable tool calls.

    Args:
        text: The raw model output.
        new_id: Mints the id of a call the model gave none (the unparseable ones too); by
            default valid calls get deterministic 9-character alphanumerics (valid Mistral ids)
            and unparseable ones none.

    Returns:
        ``(content, tool_calls, invalid_tool_calls)``. Without ``[TOOL_CALLS]`` the text is
        returned unchanged with no calls. Call ids are the model's ``[CALL_ID]`` when given,
        else minted as ``new_id`` says.

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

    def valid_id(given: str | None, name: str, args: dict[str, Any]) -> str:
        if given:
            return given
        return new_id() if new_id else _call_id(len(calls) + len(invalid), name, json.dumps(args))

    def invalid_id(given: str | None = None) -> str | None:
        return given or (new_id() if new_id else None)

    for chunk in rest.split(TOOL_CALLS)[1:]:
        chunk = chunk.strip()
        if not chunk:
            continue
        if chunk.startswith(("[", "{")):  # JSON form: a list of calls (or, from small models, one)
            try:
                items, _ = decoder.raw_decode(chunk)
            except json.JSONDecodeError as exc:
                invalid.append(invalid_tool_call(name=None, args=chunk, id=invalid_id(), error=str(exc)))
                continue
            for item in items if isinstance(items, list) else [items]:
                name = item.get("name") if isinstance(item, dict) else None
                raw = item.get("arguments", item.get("parameters", {})) if isinstance(item, dict) else None
                args = _as_args(raw)
                if not isinstance(name, str) or args is None:
                    invalid.append(
                        invalid_tool_call(name=name, args=json.dumps(raw), id=invalid_id(), error="bad call")
                    )
                    continue
                cid = item.get("id") if isinstance(item.get("id"), str) else None
                calls.append(tool_call(name=name, args=args, id=valid_id(cid, name, args)))
            continue
        name_part, sep, args_part = chunk.partition(_ARGS)
        name, _, given_id = name_part.partition(_CALL_ID)
        name, given_id = name.strip(), given_id.strip()
        if not sep or not name:
            invalid.append(
                invalid_tool_call(name=name or None, args=args_part, id=invalid_id(), error="no [ARGS]")
            )
            continue
        try:
            value, _ = decoder.raw_decode(args_part.strip())
        except json.JSONDecodeError as exc:
            error = str(exc)
            invalid.append(invalid_tool_call(name=name, args=args_part, id=invalid_id(given_id), error=error))
            continue
        args = _as_args(value)
        if args is None:
            invalid.append(
                invalid_tool_call(name=name, args=args_part, id=invalid_id(), error="args not an object")
            )
            continue
        calls.append(tool_call(name=name, args=args, id=valid_id(given_id, name, args)))
    return content, calls, invalid
