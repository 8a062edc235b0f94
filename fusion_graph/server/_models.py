"""The wire format as pydantic models: what requests hold, what responses and errors look like.

The same models validate requests (:mod:`fusion_graph.server._schema`) and make the OpenAPI
document (:mod:`fusion_graph.server._openapi`), so the document cannot drift from the code.

Request models are strict (a JSON string is not a number, ``1`` is not ``true``) and follow
OpenAI's Chat Completions shape. Every optional field also takes ``null``, meaning "not given", as
OpenAI's schema allows. Fields no model names are kept and reported (one warning log line per
request), never silently dropped.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import jsonschema
import jsonschema.validators
from pydantic import BaseModel, ConfigDict, Field, field_validator

__all__ = [
    "MESSAGE_ROLES",
    "AssistantMessage",
    "AssistantPart",
    "AudioPart",
    "ChatCompletion",
    "ChatCompletionChunk",
    "Choice",
    "DeveloperMessage",
    "ErrorBody",
    "ErrorResponse",
    "FileData",
    "FilePart",
    "FunctionCall",
    "FunctionDefinition",
    "FunctionMessage",
    "FusionRun",
    "Health",
    "ImagePart",
    "ImageURL",
    "InputAudio",
    "Message",
    "Metrics",
    "ModelEntry",
    "ModelFusion",
    "ModelList",
    "NamedFunction",
    "NamedToolChoice",
    "RefusalPart",
    "ResponseFunctionCall",
    "ResponseMessage",
    "ResponseToolCall",
    "StreamOptions",
    "SystemMessage",
    "TextPart",
    "Tool",
    "ToolCall",
    "ToolMessage",
    "Usage",
    "UserMessage",
    "UserPart",
    "WireModel",
    "json_schema_problem",
]


def json_schema_problem(schema: dict[str, Any]) -> str | None:
    """What makes ``schema`` no JSON Schema (its draft's meta-schema says), or ``None``."""
    try:
        validator = jsonschema.validators.validator_for(schema, default=jsonschema.Draft202012Validator)
        validator.check_schema(schema)
    except jsonschema.SchemaError as exc:
        where = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in exc.absolute_path)
        return f"{where.lstrip('.') or 'the schema'}: {exc.message}"
    except (RecursionError, ValueError, TypeError, LookupError) as exc:  # an unusable $schema or $ref
        return f"{type(exc).__name__}: {exc}"
    return None


class WireModel(BaseModel):
    """A request object: strict types; unknown fields are kept (``model_extra``) to be reported."""

    model_config = ConfigDict(strict=True, extra="allow")


# --- content parts ---------------------------------------------------------------------------


class TextPart(WireModel):
    """A text content part."""

    type: Literal["text"]
    text: str


class ImageURL(WireModel):
    """An image by URL or ``data:`` URL."""

    url: str
    detail: Literal["auto", "low", "high"] | None = None


class ImagePart(WireModel):
    """An image content part."""

    type: Literal["image_url"]
    image_url: ImageURL


class InputAudio(WireModel):
    """Base64 audio."""

    data: str
    format: Literal["wav", "mp3"]


class AudioPart(WireModel):
    """An audio content part."""

    type: Literal["input_audio"]
    input_audio: InputAudio


class FileData(WireModel):
    """A file by id or as base64 data."""

    file_data: str | None = None
    file_id: str | None = None
    filename: str | None = None


class FilePart(WireModel):
    """A file content part."""

    type: Literal["file"]
    file: FileData


class RefusalPart(WireModel):
    """A refusal content part (assistant messages)."""

    type: Literal["refusal"]
    refusal: str


UserPart = Annotated[TextPart | ImagePart | AudioPart | FilePart, Field(discriminator="type")]
AssistantPart = Annotated[TextPart | RefusalPart, Field(discriminator="type")]

# --- messages --------------------------------------------------------------------------------


class FunctionCall(WireModel):
    """A function's name and its arguments, as JSON text (not checked: the model wrote it)."""

    name: str
    arguments: str


class ToolCall(WireModel):
    """A tool call of an assistant message."""

    id: str
    type: Literal["function"]
    function: FunctionCall


class SystemMessage(WireModel):
    """Instructions."""

    role: Literal["system"]
    content: str | list[TextPart]
    name: str | None = None


class DeveloperMessage(WireModel):
    """Instructions (OpenAI's newer name for ``system``; read as a system message)."""

    role: Literal["developer"]
    content: str | list[TextPart]
    name: str | None = None


class UserMessage(WireModel):
    """What the user says: text, or content parts."""

    role: Literal["user"]
    content: str | list[UserPart]
    name: str | None = None


class AssistantMessage(WireModel):
    """An earlier answer: text, tool calls, or both (no content: empty text)."""

    role: Literal["assistant"]
    content: str | list[AssistantPart] | None = None
    refusal: str | None = None
    name: str | None = None
    tool_calls: list[ToolCall] | None = None
    function_call: FunctionCall | None = None
    audio: dict[str, Any] | None = None


class ToolMessage(WireModel):
    """A tool's result, answering the assistant's call ``tool_call_id``."""

    role: Literal["tool"]
    content: str | list[TextPart]
    tool_call_id: str


class FunctionMessage(WireModel):
    """A function's result (OpenAI's deprecated form of a tool message)."""

    role: Literal["function"]
    content: str | None
    name: str


Message = Annotated[
    SystemMessage | DeveloperMessage | UserMessage | AssistantMessage | ToolMessage | FunctionMessage,
    Field(discriminator="role"),
]
"""One chat message; ``role`` says which."""

MESSAGE_ROLES: tuple[str, ...] = ("system", "developer", "user", "assistant", "tool", "function")

# --- tools -----------------------------------------------------------------------------------


class FunctionDefinition(WireModel):
    """A function the members may call."""

    name: str = Field(pattern=r"^[A-Za-z0-9_-]{1,64}$")
    """1 to 64 ASCII letters, digits, ``_`` or ``-`` (OpenAI's rule)."""
    description: str | None = None
    parameters: dict[str, Any] | None = None
    """The arguments as a JSON Schema (checked against its meta-schema, as OpenAI does)."""
    strict: bool | None = None

    @field_validator("parameters")
    @classmethod
    def _check_parameters(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        if value is not None:
            problem = json_schema_problem(value)
            if problem is not None:
                raise ValueError(f"not a JSON Schema: {problem}")
        return value


class Tool(WireModel):
    """A function tool."""

    type: Literal["function"]
    function: FunctionDefinition


class NamedFunction(WireModel):
    """The name of the function to call."""

    name: str


class NamedToolChoice(WireModel):
    """Call this function."""

    type: Literal["function"]
    function: NamedFunction


class StreamOptions(WireModel):
    """OpenAI's ``stream_options``."""

    include_usage: bool | None = None
    """Send a last chunk with the whole fusion's ``usage``."""


# --- responses -------------------------------------------------------------------------------


class ErrorBody(BaseModel):
    """What went wrong, OpenAI's way."""

    message: str
    type: str
    """``invalid_request_error``, ``authentication_error``, ``rate_limit_error``, ``fusion_error``,
    ``server_error``, ``not_found``."""
    param: str | None
    """The request field at fault, if any."""
    code: str | None
    """A short machine-readable code (``invalid_value``, ``model_not_found``, ``queue_full``, …)."""


class ErrorResponse(BaseModel):
    """Every error response (and a stream's error event): ``{"error": {…}}``."""

    error: ErrorBody


class ResponseFunctionCall(BaseModel):
    """A fused tool call's function."""

    name: str
    arguments: str


class ResponseToolCall(BaseModel):
    """A fused tool call."""

    id: str
    type: Literal["function"]
    function: ResponseFunctionCall


class ResponseMessage(BaseModel):
    """The fused answer."""

    role: Literal["assistant"]
    content: str | None
    refusal: str | None = None
    tool_calls: list[ResponseToolCall] | None = None


class Choice(BaseModel):
    """The one choice of a completion."""

    index: int
    message: ResponseMessage
    finish_reason: Literal["stop", "tool_calls"]
    logprobs: None = None


class Usage(BaseModel):
    """Tokens of every member call and every judge call of the fusion together."""

    prompt_tokens: int
    completion_tokens: int
    total_tokens: int


class ChatCompletion(BaseModel):
    """A ``chat.completion``: OpenAI's object plus the ``fusion`` extension."""

    model_config = ConfigDict(extra="allow")

    id: str
    object: Literal["chat.completion"]
    created: int
    model: str
    choices: list[Choice]
    usage: Usage
    system_fingerprint: str | None = None
    fusion: dict[str, Any]
    """The ``FusionResult`` (candidates, verdict, who decided, usage and cost per member) plus
    ``model`` and ``thread_id``."""


class ChatCompletionChunk(BaseModel):
    """One ``data:`` event of a stream (the stream is ``text/event-stream``; see docs/serve.md)."""

    model_config = ConfigDict(extra="allow")

    id: str
    object: Literal["chat.completion.chunk"]
    created: int
    model: str
    choices: list[dict[str, Any]]
    system_fingerprint: str | None = None
    usage: Usage | None = None


class ModelFusion(BaseModel):
    """How a served fusion answers."""

    mode: str
    rounds: int
    members: list[str]
    judge: str


class ModelEntry(BaseModel):
    """A served fusion, as an OpenAI model."""

    id: str
    object: Literal["model"]
    created: int
    owned_by: str
    fusion: ModelFusion


class ModelList(BaseModel):
    """Every served fusion."""

    object: Literal["list"]
    data: list[ModelEntry]


class FusionRun(BaseModel):
    """A stored fusion run (``GET /v1/fusions/{thread_id}``)."""

    object: Literal["fusion"]
    thread_id: str
    status: Literal["completed", "failed", "running"]
    fusion: dict[str, Any] | None = None
    """The ``FusionResult`` once ``completed``."""
    error: str | None = None
    """The failed step's error once ``failed``."""


class Health(BaseModel):
    """The server's health."""

    model_config = ConfigDict(extra="allow")

    status: str


class Metrics(BaseModel):
    """The admission queue of the worker that answers (see docs/serve.md)."""

    model_config = ConfigDict(extra="allow")

    object: Literal["fusion.metrics"]
