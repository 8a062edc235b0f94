"""``GET /openapi.json``: the API as OpenAPI 3.1, made from the models that validate requests.

FastAPI lists the routes; the request body, the responses and every error status come from the
pydantic models of :mod:`fusion_graph.server._models` and :class:`~fusion_graph.server._schema.ChatRequest`,
the same ones the routes validate with, so the document cannot drift from the code. The document
describes one server: its ``model`` and ``members`` are the ones it serves, and the bearer key
appears only when the server asks for one.
"""

from __future__ import annotations

import copy
import json
from typing import Any, cast

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel
from pydantic.json_schema import JsonSchemaMode, models_json_schema

from fusion_graph._threads import THREAD_ID_MAX_LENGTH, THREAD_ID_PATTERN
from fusion_graph.config import FusionConfig
from fusion_graph.server._models import (
    ChatCompletion,
    ChatCompletionChunk,
    ErrorResponse,
    FusionRun,
    Health,
    Metrics,
    ModelEntry,
    ModelList,
)
from fusion_graph.server._schema import ChatRequest

__all__ = ["ERROR_STATUSES", "openapi_document"]

_REF = "#/components/schemas/{model}"

ERROR_STATUSES: dict[int, str] = {
    400: "A bad request: invalid JSON, or a field of the wrong type or value; `param` names it "
    "(`invalid_json`, `invalid_value`).",
    401: "The server asks for a key and got none, or a wrong one (`missing_api_key`, `invalid_api_key`).",
    404: "No such model (`model_not_found`), thread (`not_found`), or no checkpointer (`no_checkpointer`).",
    409: "The messages do not continue the thread's conversation (`thread_conflict`).",
    413: "The body is larger than the server's limit (`request_too_large`).",
    429: "Every slot is taken and the queue is full (`queue_full`), or the wait timed out "
    "(`queue_timeout`); `Retry-After` and `retry-after-ms` say when to come back.",
    500: "A bug (`internal_error`).",
    502: "The fusion failed: every member (`all_members_failed`), the judge (`judge_failed`), or "
    "another step (`fusion_failed`).",
    503: "The server is starting or stopping (`not_ready`).",
}
"""Every error status the API answers with, and when (the body is always ``ErrorResponse``)."""

_MODELS: list[tuple[type[BaseModel], JsonSchemaMode]] = [
    (ChatRequest, "validation"),
    (ChatCompletion, "serialization"),
    (ChatCompletionChunk, "serialization"),
    (ErrorResponse, "serialization"),
    (ModelList, "serialization"),
    (ModelEntry, "serialization"),
    (FusionRun, "serialization"),
    (Health, "serialization"),
    (Metrics, "serialization"),
]


def _ref(name: str) -> dict[str, str]:
    return {"$ref": _REF.format(model=name)}


_STREAM = (
    "With `stream: true`: server-sent events. Each `data:` line is a `ChatCompletionChunk` (the "
    "last one carries `finish_reason` and the `fusion` extension), progress arrives as SSE comments "
    "(`: queued`, `: running`, `: fusion {…}`), a failure after the headers is a `data:` line "
    "holding an `ErrorResponse`, and `data: [DONE]` ends a stream that succeeded."
)

_SSE_EVENT = {
    "description": "One server-sent event (OpenAPI 3.2's `itemSchema`; comments are not events).",
    "type": "object",
    "properties": {
        "event": {"type": "string"},
        "data": {
            "anyOf": [
                {"const": "[DONE]"},
                {
                    "type": "string",
                    "contentMediaType": "application/json",
                    "contentSchema": {"anyOf": [_ref("ChatCompletionChunk"), _ref("ErrorResponse")]},
                },
            ]
        },
    },
    "required": ["data"],
}

_THREAD_HEADER = {
    "x-fusion-thread-id": {
        "description": "The run's thread (with a checkpointer).",
        "schema": {"type": "string", "pattern": THREAD_ID_PATTERN},
    }
}

# (method, path) -> (response model of 200, error statuses, whether the route asks for the key)
_OPERATIONS: dict[tuple[str, str], tuple[str, tuple[int, ...], bool]] = {
    ("get", "/health"): ("Health", (500, 503), False),
    ("get", "/health/ready"): ("Health", (500, 503), False),
    ("get", "/v1/models"): ("ModelList", (401, 500, 503), True),
    ("get", "/v1/models/{model}"): ("ModelEntry", (401, 404, 500, 503), True),
    ("get", "/v1/fusions/{thread_id}"): ("FusionRun", (400, 401, 404, 500, 503), True),
    ("get", "/metrics"): ("Metrics", (401, 500), True),
    ("post", "/v1/chat/completions"): (
        "ChatCompletion",
        (400, 401, 404, 409, 413, 429, 500, 502, 503),
        True,
    ),
}


def _errors(statuses: tuple[int, ...]) -> dict[str, Any]:
    responses: dict[str, Any] = {}
    for status in statuses:
        response: dict[str, Any] = {
            "description": ERROR_STATUSES[status],
            "content": {"application/json": {"schema": _ref("ErrorResponse")}},
        }
        if status == 429:
            response["headers"] = {
                "Retry-After": {"description": "Whole seconds to wait.", "schema": {"type": "string"}},
                "retry-after-ms": {"description": "Milliseconds to wait.", "schema": {"type": "string"}},
            }
        responses[str(status)] = response
    return responses


def _schemas(fusions: dict[str, FusionConfig]) -> dict[str, Any]:
    """The components' schemas; ``ChatRequest`` names this server's models and members."""
    _, top = models_json_schema(_MODELS, ref_template=_REF)
    schemas = cast(dict[str, Any], copy.deepcopy(top["$defs"]))
    request = schemas["ChatRequest"]["properties"]
    request["model"] = {**request["model"], "enum": list(fusions)}
    names = sorted({name for config in fusions.values() for name in config.member_names})
    members = request["members"]
    for option in members.get("anyOf", []):
        if option.get("type") == "array":
            option["items"] = {"type": "string", "enum": names}
            option["uniqueItems"] = True
    return schemas


def openapi_document(app: FastAPI, fusions: dict[str, FusionConfig], *, keys: bool) -> dict[str, Any]:
    """The OpenAPI document of ``app`` serving ``fusions`` (``keys``: it asks for a bearer key).

    Returns:
        The document, as ``GET /openapi.json`` serves it.
    """
    doc = get_openapi(
        title=app.title,
        version=app.version,
        summary=app.summary,
        description=(
            "An OpenAI-compatible Chat Completions API whose models are fusions of a pool of LLMs. "
            "Every optional request field also takes `null` (not given); unknown fields are ignored "
            'and logged. Every error is `{"error": {"message", "type", "param", "code"}}`. '
            "See docs/serve.md."
        ),
        routes=app.routes,
    )
    components = doc.setdefault("components", {})
    components.setdefault("schemas", {}).update(_schemas(fusions))
    if keys:
        components["securitySchemes"] = {"bearer": {"type": "http", "scheme": "bearer"}}
    for path, methods in doc.get("paths", {}).items():
        for method, operation in methods.items():
            _describe(operation, _OPERATIONS.get((method, path)), keys=keys)
            for parameter in operation.get("parameters", []):
                if parameter.get("name") == "thread_id":
                    parameter["schema"] = {
                        "type": "string",
                        "pattern": THREAD_ID_PATTERN,
                        "minLength": 1,
                        "maxLength": THREAD_ID_MAX_LENGTH,
                    }
                elif parameter.get("name") == "model":
                    parameter["schema"] = {"type": "string", "enum": list(fusions)}
    if "422" not in json.dumps(doc.get("paths", {})):  # FastAPI's, for errors these routes never give
        for name in ("HTTPValidationError", "ValidationError"):
            components["schemas"].pop(name, None)
    return doc


def _describe(
    operation: dict[str, Any], spec: tuple[str, tuple[int, ...], bool] | None, *, keys: bool
) -> None:
    """Put the request body, the 200 and every error status into one operation."""
    if spec is None:  # a route this table does not know yet: its errors are still OpenAI's
        operation.setdefault("responses", {})["default"] = {
            "description": "An error.",
            "content": {"application/json": {"schema": _ref("ErrorResponse")}},
        }
        return
    model, statuses, guarded = spec
    ok: dict[str, Any] = {"description": "OK", "content": {"application/json": {"schema": _ref(model)}}}
    if model == "ChatCompletion":
        operation["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": _ref("ChatRequest")}},
        }
        ok["description"] = "The fused answer; with `stream: true`, a stream of chunks."
        ok["content"]["text/event-stream"] = {
            "schema": {"type": "string", "description": _STREAM},
            "itemSchema": _SSE_EVENT,
        }
        ok["headers"] = {
            **_THREAD_HEADER,
            "x-fusion-queue-wait-ms": {
                "description": "Milliseconds the request waited for a slot (plain responses).",
                "schema": {"type": "string"},
            },
        }
    operation["responses"] = {"200": ok, **_errors(statuses if keys or not guarded else _no_401(statuses))}
    if keys and guarded:
        operation["security"] = [{"bearer": []}]


def _no_401(statuses: tuple[int, ...]) -> tuple[int, ...]:
    return tuple(status for status in statuses if status != 401)
