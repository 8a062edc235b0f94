"""Pure helpers of the local provider: messages, tool choice, grammar schema, tool-call parsing.

Nothing here needs a model; everything is tested without one.
"""

from __future__ import annotations

import json
import random
import re
import uuid
from collections.abc import Sequence
from typing import Any, Literal

from langchain_core.messages import (
    AIMessage,
    BaseMessage,
    ChatMessage,
    FunctionMessage,
    HumanMessage,
    InvalidToolCall,
    SystemMessage,
    ToolCall,
    ToolMessage,
)
from langchain_core.messages.tool import invalid_tool_call, tool_call

from tool_registry.mistral_native import TOOL_CALLS, parse_mistral_tool_calls

__all__ = [
    "ToolChoice",
    "bounded_numbers",
    "compact_schema",
    "convert_messages",
    "forced_call_instructions",
    "forced_tool_schema",
    "normalize_tool_choice",
    "parse_forced_call",
    "parse_tool_calls",
]

_TOOL_CALL_TAG = re.compile(r"<tool_call>\s*(.*?)\s*(?:</tool_call>|\Z)", re.DOTALL)
_FENCE = re.compile(r"^```(?:json)?\s*(.*?)\s*```$", re.DOTALL)
_MARKERS = ("<tool_call>", TOOL_CALLS)


ToolChoice = str | bool | dict[str, Any] | None


def _text(content: str | list[str | dict[str, Any]]) -> str:
    if isinstance(content, str):
        return content
    parts: list[str] = []
    for block in content:
        if isinstance(block, str):
            parts.append(block)
        elif block.get("type") == "text":
            parts.append(str(block.get("text", "")))
        elif block.get("type") in {"tool_use", "tool_call", "reasoning", "thinking"}:
            continue  # tool calls travel in AIMessage.tool_calls; reasoning is not replayed
        else:
            raise ValueError(f"local models accept text only; got a {block.get('type')!r} content block")
    return "".join(parts)


def _tool_call_json(name: str, args: dict[str, Any]) -> str:
    return json.dumps({"name": name, "arguments": args}, ensure_ascii=False)


def convert_messages(
    messages: Sequence[BaseMessage], *, native_tool_calls: bool = True
) -> list[dict[str, Any]]:
    """Convert LangChain messages to the dicts a GGUF chat template renders.

    Tool calls follow the Hugging Face chat-template convention (OpenAI shape, but
    ``arguments`` is a dict, which templates serialise with ``tojson``). When the template
    cannot render tool calls (``native_tool_calls=False``), they are written into the assistant
    text as ``<tool_call>{...}</tool_call>`` and tool results become user turns wrapped in
    ``<tool_response>``; consecutive user turns are merged so strict templates still alternate.

    Args:
        messages: The conversation.
        native_tool_calls: Whether the template renders ``tool_calls`` and the ``tool`` role.

    Returns:
        The messages as dicts with ``role`` and ``content`` (and ``tool_calls`` /
        ``tool_call_id`` / ``name`` where relevant).

    Raises:
        ValueError: A message holds non-text content (images, audio, files).
    """
    out: list[dict[str, Any]] = []
    for message in messages:
        text = _text(message.content)
        if isinstance(message, SystemMessage):
            out.append({"role": "system", "content": text})
        elif isinstance(message, HumanMessage):
            out.append({"role": "user", "content": text})
        elif isinstance(message, AIMessage):
            calls = message.tool_calls
            if not calls:
                out.append({"role": "assistant", "content": text})
            elif native_tool_calls:
                out.append(
                    {
                        "role": "assistant",
                        "content": text,
                        "tool_calls": [
                            {
                                "id": call.get("id") or _new_call_id(),
                                "type": "function",
                                "function": {"name": call["name"], "arguments": call["args"]},
                            }
                            for call in calls
                        ],
                    }
                )
            else:
                rendered = "\n".join(
                    f"<tool_call>\n{_tool_call_json(c['name'], c['args'])}\n</tool_call>" for c in calls
                )
                out.append({"role": "assistant", "content": f"{text}\n{rendered}" if text else rendered})
        elif isinstance(message, ToolMessage | FunctionMessage):
            name = getattr(message, "name", None)
            if native_tool_calls:
                entry: dict[str, Any] = {"role": "tool", "content": text}
                if isinstance(message, ToolMessage):
                    entry["tool_call_id"] = message.tool_call_id
                if name:
                    entry["name"] = name
                out.append(entry)
            else:
                out.append({"role": "user", "content": f"<tool_response>\n{text}\n</tool_response>"})
        elif isinstance(message, ChatMessage):
            out.append({"role": message.role, "content": text})
        else:
            raise ValueError(f"unsupported message type for a local model: {message.type!r}")
    if native_tool_calls:
        return out
    merged: list[dict[str, Any]] = []
    for entry in out:
        if merged and entry["role"] == "user" and merged[-1]["role"] == "user":
            merged[-1] = {"role": "user", "content": f"{merged[-1]['content']}\n{entry['content']}"}
        else:
            merged.append(entry)
    return merged


def normalize_tool_choice(
    tool_choice: ToolChoice, tool_names: Sequence[str]
) -> Literal["auto", "none", "required"] | str | None:
    """Normalise LangChain / OpenAI ``tool_choice`` values.

    Args:
        tool_choice: ``None``/``"auto"`` (model decides), ``"none"`` (no tools),
            ``"any"``/``"required"``/``True`` (must call one of the tools), a tool name, or
            ``{"type": "function", "function": {"name": ...}}`` (must call that tool).
        tool_names: The names of the bound tools.

    Returns:
        ``None``, ``"auto"``, ``"none"``, ``"required"``, or the name of the forced tool.

    Raises:
        ValueError: An unknown tool name or an unsupported value.
    """
    if tool_choice is None or tool_choice is False:
        return None
    if tool_choice is True:
        return "required"
    if isinstance(tool_choice, dict):
        function = tool_choice.get("function")
        name = function.get("name") if isinstance(function, dict) else tool_choice.get("name")
        if not isinstance(name, str):
            raise ValueError(f"unsupported tool_choice {tool_choice!r}")
        tool_choice = name
    if tool_choice in ("auto", "none"):
        return tool_choice
    if tool_choice in ("any", "required"):
        return "required"
    if tool_choice in tool_names:
        return tool_choice
    raise ValueError(f"tool_choice {tool_choice!r} names no bound tool; bound tools: {list(tool_names)}")


def forced_tool_schema(tools: Sequence[dict[str, Any]], names: Sequence[str]) -> dict[str, Any]:
    """Return the JSON schema of a forced tool call, for a llama.cpp grammar.

    Args:
        tools: The bound tools in OpenAI format.
        names: The tools the call may name (one when a tool is forced by name).

    Returns:
        ``{"name": <const>, "arguments": <the tool's parameters>}``, or an ``anyOf`` of such
        objects when several tools are allowed, so the arguments always match the name. Numbers
        with a ``minimum`` and a ``maximum`` become an ``enum`` of the values in range (see
        :func:`bounded_numbers`): llama.cpp's grammars cannot bound a number otherwise.
    """
    by_name = {t["function"]["name"]: t["function"] for t in tools}
    variants: list[dict[str, Any]] = []
    for name in names:
        parameters = bounded_numbers(by_name[name].get("parameters") or {"type": "object", "properties": {}})
        variants.append(
            {
                "type": "object",
                "properties": {"name": {"const": name}, "arguments": parameters},
                "required": ["name", "arguments"],
                "additionalProperties": False,
            }
        )
    return variants[0] if len(variants) == 1 else {"anyOf": variants}


_GRID_STEPS = (0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10, 50, 100)
_GRID_MAX = 201
_NOT_SCHEMAS = ("enum", "const", "default", "examples")


def bounded_numbers(schema: Any) -> Any:
    """Give every number with a ``minimum`` and a ``maximum`` its allowed values, for a grammar.

    llama.cpp's JSON-schema grammars ignore ``minimum`` and ``maximum``, so a judge asked for a
    score from 0 to 10 could write 12 and fail validation. A bounded integer becomes the ``enum``
    of the integers in range; a bounded number the ``enum`` of a grid from minimum to maximum, at
    the finest step of 0.001, 0.005, 0.01 … that keeps it to at most 201 values (0.05 for 0-10).
    Ranges too wide for that, and exclusive bounds, are left as they are.

    Args:
        schema: A JSON schema (not modified).

    Returns:
        The schema with bounded numbers replaced.

    Example:
        >>> bounded_numbers({"type": "integer", "minimum": 1, "maximum": 3})
        {'enum': [1, 2, 3]}
    """
    if isinstance(schema, list):
        return [bounded_numbers(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    out = {k: v if k in _NOT_SCHEMAS else bounded_numbers(v) for k, v in schema.items()}
    kind, low, high = out.get("type"), out.get("minimum"), out.get("maximum")
    if kind not in ("number", "integer") or _CHOICES & out.keys():
        return out
    if not isinstance(low, int | float) or not isinstance(high, int | float) or high < low:
        return out
    steps = [1, *(s for s in _GRID_STEPS if s > 1)] if kind == "integer" else list(_GRID_STEPS)
    for step in steps:
        count = int(round((high - low) / step, 9)) + 1
        if count <= _GRID_MAX:
            values = [_plain_number(low + i * step) for i in range(count)]
            values = [v for v in values if low <= v <= high]
            rest = {k: v for k, v in out.items() if k not in ("type", "minimum", "maximum", "multipleOf")}
            return {**rest, "enum": values}
    return out


def _plain_number(value: float) -> int | float:
    value = round(value, 6)
    return int(value) if value == int(value) else value


_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_MAX_DEPTH = 12
_PLAIN = ("string", "number", "integer", "boolean")
_CHOICES = {"enum", "const", "anyOf", "oneOf"}


def compact_schema(schema: dict[str, Any], *, root: dict[str, Any] | None = None, indent: int = 0) -> str:
    r"""Render a JSON schema as a compact, TypeScript-like type with ``//`` descriptions.

    A grammar enforces the shape of a forced call; the model only needs to know what each field
    means. Pretty-printed JSON schema spends most of its tokens on syntax (``"type": "string"``,
    titles, ``required`` lists); this keeps the names, types, enums, ranges, length limits and
    descriptions. ``$ref`` is resolved; a ``prefixItems`` tuple of objects that differ only in
    their constants is written out once, then by its constants (``{label: "answer_2", …}``).

    Args:
        schema: The JSON schema.
        root: The document ``$ref`` resolves against (default: ``schema``).
        indent: The indentation of the first line, in spaces.

    Returns:
        The rendering, e.g. ``{\n  city: string, // The city.\n  days?: integer 1-7\n}``.

    Example:
        >>> compact_schema({"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]})
        '{\n  n: integer\n}'
    """
    return _Compact(root if root is not None else schema).render(schema, indent, 0)


def forced_call_instructions(tools: Sequence[dict[str, Any]], names: Sequence[str]) -> str:
    """The system text of a forced tool call: the reply's shape and each tool's compact arguments.

    Args:
        tools: The bound tools in OpenAI format.
        names: The tools the call may name (one when a tool is forced by name).

    Returns:
        Instructions for the model; a grammar makes the reply follow them.
    """
    by_name = {t["function"]["name"]: t["function"] for t in tools}
    compact = _Compact({})

    def arguments(name: str) -> str:
        parameters = by_name[name].get("parameters") or {"type": "object", "properties": {}}
        compact.root = parameters
        return compact.render(parameters, 0, 0)

    def about(name: str) -> str:
        description = " ".join(str(by_name[name].get("description") or "").split())
        return f"{name}: {description}\n" if description else ""

    if len(names) == 1:  # the reply opens with the call's name already (a prefill)
        return f"{about(names[0])}Call {names[0]} with these JSON arguments:\n{arguments(names[0])}"
    listing = "\n".join(f"{about(name)}{name} arguments: {arguments(name)}" for name in names)
    head = 'Reply with only {"name": <tool>, "arguments": <its arguments>} for one of these tools.'
    return f"{head}\n{listing}"


class _Compact:
    """The renderer behind :func:`compact_schema` (holds the ``$ref`` root)."""

    def __init__(self, root: dict[str, Any]) -> None:
        self.root = root

    def resolve(self, schema: Any) -> dict[str, Any]:
        seen = 0
        while isinstance(schema, dict) and "$ref" in schema and seen < _MAX_DEPTH:
            target: Any = self.root
            for part in str(schema["$ref"]).removeprefix("#/").split("/"):
                target = target.get(part, {}) if isinstance(target, dict) else {}
            schema = {**target, **{k: v for k, v in schema.items() if k != "$ref"}}
            seen += 1
        return schema if isinstance(schema, dict) else {}

    def render(self, raw: Any, indent: int, depth: int) -> str:
        schema = self.resolve(raw)
        if depth > _MAX_DEPTH:
            return "any"
        if "const" in schema:
            return json.dumps(schema["const"], ensure_ascii=False)
        if "enum" in schema:
            return " | ".join(json.dumps(v, ensure_ascii=False) for v in schema["enum"])
        for key in ("anyOf", "oneOf"):
            if key in schema:
                return " | ".join(self.render(v, indent, depth + 1) for v in schema[key])
        kind = schema.get("type")
        if isinstance(kind, list):
            return " | ".join(self.render({**schema, "type": k}, indent, depth + 1) for k in kind)
        if kind == "object" or "properties" in schema:
            return self.object(schema, indent, depth)
        if kind == "array" or "items" in schema or "prefixItems" in schema:
            return self.array(schema, indent, depth)
        if kind in ("number", "integer"):
            return f"{kind}{_range(schema)}"
        if kind == "string" and "maxLength" in schema:
            return f"string ≤{schema['maxLength']} chars"
        return str(kind) if kind else "any"

    def object(self, schema: dict[str, Any], indent: int, depth: int) -> str:
        properties: dict[str, Any] = schema.get("properties") or {}
        if not properties:
            extra = schema.get("additionalProperties")
            if isinstance(extra, dict):
                return f"{{[key: string]: {self.render(extra, indent, depth + 1)}}}"
            return "object"
        required = set(schema.get("required") or [])
        pad = " " * (indent + 2)
        lines: list[str] = []
        for i, (name, raw) in enumerate(properties.items()):
            prop = self.resolve(raw)
            key = name if _IDENTIFIER.match(name) else json.dumps(name, ensure_ascii=False)
            value = self.render(prop, indent + 2, depth + 1)
            comma = "," if i < len(properties) - 1 else ""
            # A constant is not the model's choice: what it means goes without saying.
            description = "" if "const" in prop else " ".join(str(prop.get("description") or "").split())
            line = f"{key}{'' if name in required else '?'}: {value}{comma}"
            if description and "\n" in value:
                lines.append(f"{pad}// {description}\n{pad}{line}")
            else:
                lines.append(f"{pad}{line}{f' // {description}' if description else ''}")
        return "{\n" + "\n".join(lines) + "\n" + " " * indent + "}"

    def array(self, schema: dict[str, Any], indent: int, depth: int) -> str:
        fixed = [self.resolve(item) for item in schema.get("prefixItems") or []]
        if fixed:
            pad = " " * (indent + 2)
            first = self.render(fixed[0], indent + 2, depth + 1)
            rest = [self.short(item, fixed[0], indent + 2, depth) for item in fixed[1:]]
            return "[\n" + ",\n".join(pad + text for text in [first, *rest]) + "\n" + " " * indent + "]"
        items = self.resolve(schema.get("items"))
        kind = items.get("type")
        if kind in _PLAIN and not _CHOICES & items.keys():
            return f"{kind}[]"  # a list of plain values: their limits are left to the grammar
        inner = self.render(items, indent, depth + 1) if items else "any"
        if "\n" in inner or " " in inner:
            return f"[{inner}, …]"
        return f"{inner}[]"

    def short(self, item: dict[str, Any], first: dict[str, Any], indent: int, depth: int) -> str:
        """A tuple item like the first but for its constants: only the constants, then ``…``."""
        props, first_props = item.get("properties") or {}, first.get("properties") or {}
        consts = {k: v["const"] for k, v in props.items() if isinstance(v, dict) and "const" in v}

        def bare(p: dict[str, Any]) -> dict[str, Any]:
            return {k: v for k, v in p.items() if k not in ("const", "description", "title")}

        same = props.keys() == first_props.keys() and all(
            bare(self.resolve(props[k])) == bare(self.resolve(first_props[k])) for k in props
        )
        if not (same and consts):
            return self.render(item, indent, depth + 1)
        shown = ", ".join(f"{k}: {json.dumps(v, ensure_ascii=False)}" for k, v in consts.items())
        return f"{{{shown}, …}}"


def _range(schema: dict[str, Any]) -> str:
    low = schema.get("minimum", schema.get("exclusiveMinimum"))
    high = schema.get("maximum", schema.get("exclusiveMaximum"))

    def num(value: Any) -> str:
        return f"{value:g}" if isinstance(value, float) else str(value)

    if low is not None and high is not None:
        return f" {num(low)}-{num(high)}" if low >= 0 else f" {num(low)} to {num(high)}"
    if low is not None:
        return f" ≥{num(low)}"
    if high is not None:
        return f" ≤{num(high)}"
    return ""


def _call_seed(seed: int | None) -> int:
    return random.getrandbits(31) if seed is None else seed


def _new_call_id() -> str:
    return f"call_{uuid.uuid4().hex[:24]}"


def _loads_lenient(text: str) -> Any:
    text = text.strip()
    fenced = _FENCE.match(text)
    if fenced:
        text = fenced.group(1)
    return json.loads(text)


def _call_from_obj(obj: Any, raw: str) -> ToolCall | InvalidToolCall:
    if isinstance(obj, dict):
        name = obj.get("name")
        args = obj.get("arguments", obj.get("parameters", {}))
        if isinstance(args, str):
            try:
                args = json.loads(args)
            except json.JSONDecodeError:
                pass
        if isinstance(name, str) and isinstance(args, dict):
            return tool_call(name=name, args=args, id=_new_call_id())
    return invalid_tool_call(
        name=obj.get("name") if isinstance(obj, dict) else None,
        args=raw,
        id=_new_call_id(),
        error="expected a JSON object with a string 'name' and an object 'arguments'",
    )


def parse_forced_call(text: str) -> ToolCall | InvalidToolCall:
    """Parse the grammar-constrained output of a forced tool call.

    Args:
        text: The model output (``{"name": ..., "arguments": {...}}``).

    Returns:
        A tool call, or an invalid tool call keeping the raw text (e.g. cut by ``max_tokens``).
    """
    try:
        obj = _loads_lenient(text)
    except json.JSONDecodeError as exc:
        return invalid_tool_call(name=None, args=text, id=_new_call_id(), error=f"not valid JSON ({exc})")
    return _call_from_obj(obj, text)


def parse_tool_calls(
    text: str, tool_names: Sequence[str]
) -> tuple[str, list[ToolCall], list[InvalidToolCall]]:
    """Parse tool calls out of free model text.

    Recognises Qwen/Hermes ``<tool_call>{...}</tool_call>`` blocks, Mistral's ``[TOOL_CALLS]`` forms
    (read by :func:`tool_registry.mistral_native.parse_mistral_tool_calls`) and, when the whole reply
    is one JSON object (optionally fenced) naming a bound tool, that object.

    Args:
        text: The model output.
        tool_names: The names of the bound tools.

    Returns:
        The remaining text, the valid tool calls, and the calls that did not parse.
    """
    calls: list[ToolCall] = []
    invalid: list[InvalidToolCall] = []

    def add(raw: str) -> None:
        try:
            obj = _loads_lenient(raw)
        except json.JSONDecodeError as exc:
            invalid.append(
                invalid_tool_call(name=None, args=raw, id=_new_call_id(), error=f"bad JSON: {exc}")
            )
            return
        for item in obj if isinstance(obj, list) else [obj]:
            result = _call_from_obj(item, raw)
            (calls if "error" not in result else invalid).append(result)  # type: ignore[arg-type]

    if "<tool_call>" in text:
        for match in _TOOL_CALL_TAG.finditer(text):
            add(match.group(1))
        return _TOOL_CALL_TAG.sub("", text).strip(), calls, invalid
    if TOOL_CALLS in text:
        return parse_mistral_tool_calls(text, new_id=_new_call_id)
    try:
        obj = _loads_lenient(text)
    except json.JSONDecodeError:
        return text, calls, invalid
    if isinstance(obj, dict) and obj.get("name") in tool_names:
        add(json.dumps(obj))
        return "", calls, invalid
    return text, calls, invalid


class _ToolTextSplitter:
    """Streams text while holding back anything that may turn out to be a tool call."""

    def __init__(self) -> None:
        self.emitted = ""
        self.held = ""
        self.capturing = False

    def feed(self, piece: str) -> str:
        """Add a piece of model text; return the part that is safe to show now."""
        self.held += piece
        if self.capturing:
            return ""
        if not self.emitted and self.held.lstrip()[:1] in ("{", "`"):
            self.capturing = True  # possibly a bare JSON call: decide at the end
            return ""
        for marker in _MARKERS:
            index = self.held.find(marker)
            if index != -1:
                out, self.held = self.held[:index], self.held[index:]
                self.capturing = True
                self.emitted += out
                return out
        keep = 0
        for marker in _MARKERS:  # keep a suffix that could be the start of a marker
            for size in range(min(len(marker) - 1, len(self.held)), 0, -1):
                if self.held.endswith(marker[:size]):
                    keep = max(keep, size)
                    break
        out = self.held[: len(self.held) - keep]
        self.held = self.held[len(self.held) - keep :]
        self.emitted += out
        return out
