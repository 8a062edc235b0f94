"""JSON schemas: from a Python callable's signature, and argument validation against them."""

from __future__ import annotations

import inspect
import logging
import re
from collections.abc import Callable
from typing import Any, get_type_hints

import jsonschema
import jsonschema.validators
from jsonschema.protocols import Validator
from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model
from referencing.exceptions import Unresolvable

logger = logging.getLogger(__name__)

_ARGS_HEADER = re.compile(r"^\s*(Args|Arguments|Parameters):\s*$")
_SECTION = re.compile(r"^\s*[A-Z][A-Za-z ]*:\s*$")
_ARG_LINE = re.compile(r"^\s*(\*{0,2}\w+)(?:\s*\([^)]*\))?\s*:\s*(.*)$")


def parse_google_docstring(doc: str | None) -> tuple[str, dict[str, str]]:
    """Split a Google-style docstring into (description, {arg: description})."""
    if not doc:
        return "", {}
    lines = inspect.cleandoc(doc).splitlines()
    summary: list[str] = []
    args: dict[str, str] = {}
    i = 0
    while i < len(lines) and not _ARGS_HEADER.match(lines[i]) and not _SECTION.match(lines[i]):
        summary.append(lines[i])
        i += 1
    in_args = False
    current: str | None = None
    arg_indent: int | None = None
    for line in lines[i:]:
        if _ARGS_HEADER.match(line):
            in_args, current, arg_indent = True, None, None
            continue
        if _SECTION.match(line) and (arg_indent is None or _indent(line) < arg_indent):
            in_args = False
            continue
        if not in_args or not line.strip():
            continue
        indent = _indent(line)
        match = _ARG_LINE.match(line)
        if match and (arg_indent is None or indent <= arg_indent):
            arg_indent = indent
            key = match.group(1).lstrip("*")
            args[key] = match.group(2).strip()
            current = key
        elif current is not None:
            args[current] = f"{args[current]} {line.strip()}".strip()
    return "\n".join(summary).strip(), args


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip())


def model_for_callable(fn: Callable[..., Any], name: str) -> tuple[type[BaseModel], str]:
    """A pydantic model of ``fn``'s parameters, and the description from its docstring.

    Raises:
        TypeError: ``fn`` takes ``*args`` / ``**kwargs`` or positional-only parameters.
    """
    description, arg_docs = parse_google_docstring(inspect.getdoc(fn))
    sig = inspect.signature(fn)
    try:
        hints = get_type_hints(fn)
    except Exception:  # unresolved forward references: fall back to Any
        hints = {}
    fields: dict[str, Any] = {}
    for pname, param in sig.parameters.items():
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD, param.POSITIONAL_ONLY):
            raise TypeError(f"tool {name!r}: parameter {pname!r} must be a named parameter")
        annotation = hints.get(pname, Any)
        default = ... if param.default is inspect.Parameter.empty else param.default
        fields[pname] = (annotation, Field(default, description=arg_docs.get(pname)))
    model = create_model(  # type: ignore[call-overload]
        f"{name}_arguments", __config__=ConfigDict(extra="forbid"), **fields
    )
    return model, description


def schema_of(model: type[BaseModel]) -> dict[str, Any]:
    """The JSON schema of a pydantic arguments model, without the noisy top-level title."""
    schema = model.model_json_schema()
    schema.pop("title", None)
    schema.setdefault("properties", {})
    return schema


def compile_validator(schema: dict[str, Any]) -> Validator | None:
    """A reusable validator for ``schema``, or None when the schema itself is invalid.

    A tool whose schema jsonschema cannot check is passed through unchecked (its server still
    validates); rejecting every call would make the tool unusable.
    """
    try:
        validator_cls = jsonschema.validators.validator_for(schema, default=jsonschema.Draft202012Validator)
        validator_cls.check_schema(schema)
        return validator_cls(schema)
    except jsonschema.SchemaError as exc:
        logger.warning("a tool schema is invalid, it is not checked: %s", exc.message)
        return None


def validate_arguments(schema: dict[str, Any] | Validator | None, arguments: Any) -> str | None:
    """Validate ``arguments``; return a readable error, or None when valid.

    Args:
        schema: A JSON schema, a compiled validator (see :func:`compile_validator`), or None
            (only the object check applies).
        arguments: The arguments a model produced.
    """
    if not isinstance(arguments, dict):
        return f"arguments must be a JSON object, got {type(arguments).__name__}"
    validator = compile_validator(schema) if isinstance(schema, dict) else schema
    if validator is None:
        return None
    try:
        errors = sorted(validator.iter_errors(arguments), key=lambda e: list(e.absolute_path))
    except Unresolvable as exc:  # pragma: no cover - exotic schemas
        return f"the tool's input schema cannot be resolved: {exc}"
    if not errors:
        return None
    return _mismatch([(list(err.absolute_path), err.message) for err in errors])


def bind_arguments(model: type[BaseModel], arguments: dict[str, Any]) -> dict[str, Any] | str:
    """Keyword arguments for a Python tool: ``arguments`` bound to its parameters' types.

    Called on arguments that already passed :func:`validate_arguments`; a binding can then fail
    only on a check of the model's own that its JSON schema does not carry.

    Returns:
        The keyword arguments, or a readable error in the format of :func:`validate_arguments`.
    """
    try:
        parsed = model.model_validate(arguments)
    except ValidationError as exc:
        return _mismatch([(list(err["loc"]), err["msg"]) for err in exc.errors()])
    return {field: getattr(parsed, field) for field in model.model_fields}


def validate_output(validator: Validator, structured: Any) -> str | None:
    """Check an MCP tool's structured result against its ``outputSchema``; a readable error, or None."""
    if structured is None:
        return "the result does not match the tool's outputSchema: it has no structured content"
    try:
        errors = sorted(validator.iter_errors(structured), key=lambda e: list(e.absolute_path))
    except Unresolvable as exc:  # pragma: no cover - exotic schemas
        return f"the tool's outputSchema cannot be resolved: {exc}"
    if not errors:
        return None
    found = [(list(err.absolute_path), err.message) for err in errors]
    return _mismatch(found, "the result does not match the tool's outputSchema")


def _mismatch(
    errors: list[tuple[list[Any], str]], what: str = "arguments do not match the input schema"
) -> str:
    lines = [f"- at {'/'.join(str(p) for p in path) or '(root)'}: {message}" for path, message in errors[:5]]
    more = f"\n- … and {len(errors) - 5} more" if len(errors) > 5 else ""
    return f"{what}:\n" + "\n".join(lines) + more
