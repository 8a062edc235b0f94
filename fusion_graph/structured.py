"""Structured answers: a ``response_format`` read once, and every answer checked against it.

A run may ask for its answer as JSON: OpenAI's ``response_format`` (``{"type": "json_schema",
"json_schema": {"name", "schema", "strict"}}`` or ``{"type": "json_object"}``), a pydantic model, a
``TypedDict`` or a JSON schema. :meth:`ResponseFormat.parse` reads any of them into one
:class:`ResponseFormat`, or raises a :class:`~fusion_graph.ConfigError` naming the field at fault.
The same path serves ``Fusion.run(..., response_format=)``, ``FusionChatModel.with_structured_output``
and ``fusion serve``'s ``response_format``:

- every member answers in the schema, each by its provider's structured-output method (its
  :class:`~fusion_graph.providers.profiles.ModelProfile`; see ``graph/nodes/_structured.py``);
- the judge node decides field by field (``docs/decisions.md``, "Structured answers");
- the fused answer is JSON valid under the schema (checked with ``jsonschema``), or the run raises
  :class:`~fusion_graph.StructuredOutputError`: never text posing as the answer.

The format rides in the run's ``configurable`` under :data:`RESPONSE_FORMAT` (in OpenAI's wire form,
plain JSON), so a compiled fusion serves runs with and without one.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal, cast

import jsonschema
import jsonschema.validators
from langchain_core.runnables import RunnableConfig

from fusion_graph import answers
from fusion_graph.errors import ConfigError, StructuredOutputError

__all__ = ["RESPONSE_FORMAT", "ResponseFormat", "run_format", "with_format"]

RESPONSE_FORMAT = "fusion_response_format"
"""The ``configurable`` key of a run's response format (OpenAI's wire form, a plain dict)."""

_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
_WIRE_TYPES = ("text", "json_object", "json_schema")
_SCHEMA_TYPES = ("object", "array", "string", "number", "integer", "boolean", "null", "function", None)
"""`type`s that make a mapping a schema (or an OpenAI tool) rather than OpenAI's `response_format`."""
_SCHEMA_KEYS = {"name", "schema", "strict", "description"}
_FIX = (
    'send {"type": "json_schema", "json_schema": {"name": "answer", "schema": {"type": "object", ...}}}, '
    '{"type": "json_object"} or {"type": "text"}'
)


@dataclass(frozen=True)
class ResponseFormat:
    """What a structured answer must be: a JSON object, valid under ``schema``.

    Attributes:
        kind: ``json_schema`` (a schema to follow) or ``json_object`` (any JSON object).
        name: The schema's name (what a provider's forced tool call is named).
        schema: The JSON schema of the answer (``{"type": "object"}`` for ``json_object``).
        strict: OpenAI's ``strict`` flag, passed on to members that speak OpenAI's wire.
        description: What the answer is, if the caller said.
    """

    kind: Literal["json_schema", "json_object"]
    name: str
    schema: dict[str, Any]
    strict: bool | None = None
    description: str | None = None

    @classmethod
    def parse(cls, value: Any, field: str = "response_format") -> ResponseFormat | None:
        """Read a response format; ``None`` (or ``{"type": "text"}``) means a plain-text answer.

        Args:
            value: OpenAI's ``response_format`` dict, a :class:`ResponseFormat`, a pydantic model
                class, a ``TypedDict``, an OpenAI tool or a JSON schema of an object.
            field: The field named in errors.

        Returns:
            The format, or ``None`` for plain text.

        Raises:
            ConfigError: An unknown ``type`` or key, a missing or invalid name, a schema that is not
                a valid JSON schema of an object.

        Example:
            >>> ResponseFormat.parse({"type": "json_object"}).schema
            {'type': 'object'}
        """
        if value is None or isinstance(value, ResponseFormat):
            return value
        wire = isinstance(value, Mapping) and value.get("type") not in _SCHEMA_TYPES
        if wire and "properties" not in value:
            return cls.from_wire(cast(Mapping[str, Any], value), field)  # OpenAI's form, or a bad type
        return cls.from_schema(value, field=field)

    @classmethod
    def from_wire(cls, value: Any, field: str = "response_format") -> ResponseFormat | None:
        """Read OpenAI's ``response_format`` (``json_schema``, ``json_object`` or ``text``) strictly.

        Raises:
            ConfigError: Not one of those three, an unknown key, a bad name or schema.
        """
        if not isinstance(value, Mapping):
            raise ConfigError(field, f"{value!r:.80} is not an object", _FIX)
        value = cast(Mapping[str, Any], value)
        kind = value.get("type")
        if kind not in _WIRE_TYPES:
            raise ConfigError(f"{field}.type", f"{kind!r} is not a response format type", _FIX)
        allowed = {"type", "json_schema"} if kind == "json_schema" else {"type"}
        extra = sorted(set(value) - allowed)
        if extra:
            raise ConfigError(f"{field}.{extra[0]}", f"is not a field of a {kind} format", _FIX)
        if kind == "text":
            return None
        if kind == "json_object":
            return cls("json_object", "json_object", {"type": "object"})
        spec = value.get("json_schema")
        if not isinstance(spec, Mapping):
            raise ConfigError(f"{field}.json_schema", "missing, or not an object", _FIX)
        spec = cast(Mapping[str, Any], spec)
        unknown = sorted(set(spec) - _SCHEMA_KEYS)
        if unknown:
            raise ConfigError(
                f"{field}.json_schema.{unknown[0]}",
                "is not a field of json_schema",
                f"use only {sorted(_SCHEMA_KEYS)}",
            )
        name = spec.get("name")
        if not isinstance(name, str) or not _NAME.match(name):
            raise ConfigError(
                f"{field}.json_schema.name",
                f"{name!r} is not a name of 1-64 letters, digits, '_' or '-'",
                'name the schema, e.g. "answer"',
            )
        strict = spec.get("strict")
        if strict is not None and not isinstance(strict, bool):
            raise ConfigError(f"{field}.json_schema.strict", f"{strict!r} is not true, false or null")
        description = spec.get("description")
        if description is not None and not isinstance(description, str):
            raise ConfigError(f"{field}.json_schema.description", "is not a string")
        schema = _checked_schema(spec.get("schema", {"type": "object"}), f"{field}.json_schema.schema")
        return cls("json_schema", name, schema, strict, description)

    @classmethod
    def from_schema(cls, schema: Any, *, strict: bool | None = None, field: str = "schema") -> ResponseFormat:
        """The format of a pydantic model class, a ``TypedDict``, a JSON schema or an OpenAI tool.

        Raises:
            ConfigError: ``schema`` is none of these, or not a schema of an object.

        Example:
            >>> ResponseFormat.from_schema({"title": "city", "type": "object",
            ...     "properties": {"name": {"type": "string"}}}).name
            'city'
        """
        from langchain_core.utils.function_calling import convert_to_openai_function

        if isinstance(schema, Mapping) and "title" not in schema and "function" not in schema:
            if "name" not in schema:  # a bare JSON schema
                plain = cast(dict[str, Any], dict(schema))
                description = plain.get("description")
                return cls("json_schema", "answer", _checked_schema(plain, field), strict, description)
        try:
            function = convert_to_openai_function(schema, strict=strict)
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            raise ConfigError(
                field,
                f"{schema!r:.80} is not a schema: {exc}",
                "pass a pydantic model class, a TypedDict, or a JSON schema of an object",
            ) from exc
        name = re.sub(r"[^a-zA-Z0-9_-]", "_", str(function.get("name") or "answer"))[:64] or "answer"
        parameters = function.get("parameters") or {"type": "object"}
        description = function.get("description") or None
        return cls("json_schema", name, _checked_schema(parameters, field), strict, description)

    def openai(self) -> dict[str, Any]:
        """The format in OpenAI's wire form (what an OpenAI-compatible member is sent).

        Example:
            >>> ResponseFormat("json_object", "json_object", {"type": "object"}).openai()
            {'type': 'json_object'}
        """
        if self.kind == "json_object":
            return {"type": "json_object"}
        spec: dict[str, Any] = {"name": self.name, "schema": self.schema}
        if self.strict is not None:
            spec["strict"] = self.strict
        if self.description:
            spec["description"] = self.description
        return {"type": "json_schema", "json_schema": spec}

    def tool(self) -> dict[str, Any]:
        """The schema as one OpenAI tool, for providers whose structured output is a forced call."""
        function: dict[str, Any] = {"name": self.name, "parameters": self.schema}
        function["description"] = self.description or "Give the answer in this form."
        return {"type": "function", "function": function}

    def problems(self, value: Any) -> list[str]:
        """Why ``value`` is not valid under the schema (empty when it is)."""
        if not isinstance(value, dict):
            return [f"the answer is {type(value).__name__}, not a JSON object"]
        validator = _validator(json.dumps(self.schema, sort_keys=True))
        found = sorted(validator.iter_errors(value), key=lambda error: list(error.absolute_path))
        return [_problem(error) for error in found[:5]]

    def read(self, text: str) -> tuple[dict[str, Any] | None, str | None]:
        """``(object, None)`` when ``text`` is a JSON object valid under the schema, else ``(None, why)``."""
        value = answers.json_object(text)
        if value is None:
            return None, f"not a JSON object: {text.strip()[:80]!r}"
        problems = self.problems(value)
        return (None, "; ".join(problems)) if problems else (value, None)

    def check(self, text: str) -> dict[str, Any]:
        """The JSON object of an answer, checked against the schema.

        Raises:
            StructuredOutputError: ``text`` is not a JSON object valid under the schema.
        """
        value, problem = self.read(text)
        if value is None:
            raise StructuredOutputError(problem or "invalid", raw=text)
        return value


def _problem(error: jsonschema.ValidationError) -> str:
    where = "/".join(str(part) for part in error.absolute_path)
    return f"{where or 'the answer'}: {error.message}"


@functools.lru_cache(maxsize=64)
def _validator(schema: str) -> Any:
    loaded = json.loads(schema)
    return jsonschema.validators.validator_for(loaded)(loaded)


def _checked_schema(schema: Any, field: str) -> dict[str, Any]:
    if not isinstance(schema, Mapping):
        raise ConfigError(field, f"{schema!r:.80} is not a JSON schema object", _FIX)
    schema = dict(cast(Mapping[str, Any], schema))
    root = schema.get("type", "object")
    if root != "object" and not (isinstance(root, list) and "object" in root):
        raise ConfigError(
            field,
            f"the answer's schema must describe an object, not {root!r}",
            'wrap the value in an object, e.g. {"type": "object", "properties": {"items": ...}}',
        )
    try:
        jsonschema.validators.validator_for(schema).check_schema(schema)
    except jsonschema.SchemaError as exc:
        where = "/".join(str(part) for part in exc.absolute_path)
        raise ConfigError(
            f"{field}{'.' + where.replace('/', '.') if where else ''}",
            f"not a valid JSON schema: {exc.message}",
            "fix the schema (https://json-schema.org)",
        ) from exc
    return schema


def run_format(config: RunnableConfig | None) -> ResponseFormat | None:
    """The response format a run asked for (``configurable[RESPONSE_FORMAT]``), or ``None``."""
    value = ((config or {}).get("configurable") or {}).get(RESPONSE_FORMAT)
    if value is None:
        return None
    return _cached(json.dumps(value, sort_keys=True))


@functools.lru_cache(maxsize=64)
def _cached(wire: str) -> ResponseFormat | None:
    return ResponseFormat.parse(json.loads(wire))


def with_format(config: RunnableConfig | None, response_format: ResponseFormat | None) -> RunnableConfig:
    """``config`` with the run's response format set (or removed, for ``None``)."""
    run: RunnableConfig = dict(config or {})  # type: ignore[assignment]
    configurable = {k: v for k, v in run.get("configurable", {}).items() if k != RESPONSE_FORMAT}
    if response_format is not None:
        configurable[RESPONSE_FORMAT] = response_format.openai()
    run["configurable"] = configurable
    return run
