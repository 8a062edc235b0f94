"""OpenAI Chat Completions ⇄ fusion: the request model, messages in, completions and chunks out."""

from __future__ import annotations

import json
import time
import uuid
from typing import Annotated, Any, Literal, cast

from langchain_core.messages import AIMessage, AnyMessage, HumanMessage, InvalidToolCall, ToolCall
from langchain_core.messages import FunctionMessage as LCFunctionMessage
from langchain_core.messages import SystemMessage as LCSystemMessage
from langchain_core.messages import ToolMessage as LCToolMessage
from langchain_core.messages.tool import invalid_tool_call as create_invalid_tool_call
from langchain_core.messages.tool import tool_call as create_tool_call
from pydantic import BaseModel, Field, ValidationError, field_validator
from pydantic_core import ErrorDetails

from fusion_graph._threads import THREAD_ID_FIX, THREAD_ID_MAX_LENGTH, THREAD_ID_PATTERN, thread_id_problem
from fusion_graph.result import FusionResult
from fusion_graph.server._errors import APIError
from fusion_graph.server._models import (
    AssistantMessage,
    DeveloperMessage,
    FunctionMessage,
    Message,
    NamedToolChoice,
    StreamOptions,
    SystemMessage,
    Tool,
    ToolMessage,
    UserMessage,
    WireModel,
)

__all__ = [
    "ChatRequest",
    "completion",
    "completion_chunk",
    "declared",
    "fusion_extension",
    "parse_request",
    "to_langchain_messages",
    "to_openai_tool_calls",
    "usage_of",
]


class ChatRequest(WireModel):
    """A ``POST /v1/chat/completions`` body: OpenAI's fields plus the fusion extensions.

    Every optional field takes ``null`` for "not given", as OpenAI's schema allows. Sampling fields
    (``temperature``, ``max_tokens``, ``seed``, ``stop``, …) are checked for their type, then
    ignored: each member uses the settings of its own config. A field is added with one line
    here; the OpenAPI document and the validation follow from it.
    """

    model: str = Field(min_length=1)
    """A served fusion (``GET /v1/models``)."""
    messages: list[Message] = Field(min_length=1)
    """The whole conversation so far."""
    stream: bool | None = None
    """Answer as server-sent events (``text/event-stream``)."""
    stream_options: StreamOptions | None = None
    tools: list[Tool] | None = None
    """Functions every member may call; a fused call comes back as ``tool_calls``."""
    tool_choice: Literal["none", "auto", "required"] | NamedToolChoice | None = None
    parallel_tool_calls: bool | None = None
    n: int | None = Field(default=None, ge=1, le=1)
    """How many choices: one."""
    response_format: dict[str, Any] | None = None
    """``json_schema`` or ``json_object``: the fused answer is JSON of the schema, or the request fails
    (``text`` or none: plain text). Read by :meth:`FusionService.prepare`; a format that cannot be
    honoured is a 400 naming the field."""
    # Accepted and ignored: each member uses its own config's settings.
    temperature: float | None = None
    top_p: float | None = None
    max_tokens: int | None = None
    max_completion_tokens: int | None = None
    frequency_penalty: float | None = None
    presence_penalty: float | None = None
    seed: int | None = None
    stop: str | list[str] | None = None
    logprobs: bool | None = None
    top_logprobs: int | None = None
    logit_bias: dict[str, int] | None = None
    user: str | None = None
    store: bool | None = None
    metadata: dict[str, str] | None = None
    service_tier: str | None = None
    reasoning_effort: str | None = None
    verbosity: str | None = None
    modalities: list[str] | None = None
    audio: dict[str, Any] | None = None
    prediction: dict[str, Any] | None = None
    web_search_options: dict[str, Any] | None = None
    prompt_cache_key: str | None = None
    prompt_cache_options: dict[str, Any] | None = None
    prompt_cache_retention: str | None = None
    safety_identifier: str | None = None
    moderation: dict[str, Any] | None = None
    functions: list[dict[str, Any]] | None = None
    function_call: str | dict[str, Any] | None = None
    # The fusion extensions (the OpenAI SDKs send them with ``extra_body=``).
    mode: Literal["best-of", "merge", "debate", "vote"] | None = None
    """Extension: this mode instead of the fusion's."""
    rounds: int | None = Field(default=None, ge=1, le=20)
    """Extension: debate rounds instead of the fusion's."""
    members: list[str] | None = Field(default=None, min_length=1)
    """Extension: answer with this subset of the pool (member names, each once)."""
    thread_id: Annotated[
        str | None,
        Field(
            json_schema_extra={
                "pattern": THREAD_ID_PATTERN,
                "minLength": 1,
                "maxLength": THREAD_ID_MAX_LENGTH,
            }
        ),
    ] = None
    """Extension: the run's checkpoint thread (with a checkpointer, re-sending it returns the stored
    run): 1 to 200 ASCII letters, digits and ``_ . : @ -``."""

    @field_validator("thread_id", mode="before")
    @classmethod
    def _check_thread_id(cls, value: Any) -> Any:
        problem = None if value is None else thread_id_problem(value)
        if problem is not None:
            raise ValueError(f"{problem}; {THREAD_ID_FIX}")
        return value

    def unknown_fields(self) -> list[str]:
        """The fields no model names, anywhere in the request (``messages[0].foo``), in order."""
        return _extras(self, "")

    def bound_tools(self) -> tuple[list[dict[str, Any]], str | dict[str, Any] | None]:
        """The tools to bind and the tool choice (``tool_choice="none"`` binds none).

        Raises:
            APIError: ``tool_choice`` names a tool that is not in ``tools``.
        """
        if not self.tools or self.tool_choice == "none":
            return [], None
        tools = [declared(tool) for tool in self.tools]
        choice = self.tool_choice
        if isinstance(choice, NamedToolChoice):
            name = choice.function.name
            names = [tool.function.name for tool in self.tools]
            if name not in names:
                raise APIError(
                    400, f"tool_choice: no tool is named {name!r}; use one of {names}", param="tool_choice"
                )
            return tools, name
        if choice == "required":
            return tools, "any"
        return tools, choice


def _extras(value: Any, where: str) -> list[str]:
    found: list[str] = []
    if isinstance(value, BaseModel):
        found.extend(f"{where}.{name}" if where else name for name in value.model_extra or {})
        for name in type(value).model_fields:
            found.extend(_extras(getattr(value, name), f"{where}.{name}" if where else name))
    elif isinstance(value, list):
        for index, item in enumerate(cast(list[Any], value)):
            found.extend(_extras(item, f"{where}[{index}]"))
    return found


_UNION_LISTS = ("messages", "content")
"""List fields whose items are tagged unions: pydantic puts the tag in an error's location."""


def _error_field(loc: tuple[int | str, ...]) -> str:
    """An error location as a field path (``messages[0].content[1].text``), union labels left out."""
    field = ""
    last = ""
    for index, part in enumerate(loc):
        if isinstance(part, int):
            field += f"[{part}]"
            continue
        after_item = index > 0 and isinstance(loc[index - 1], int) and last in _UNION_LISTS
        label = not part.isidentifier() or part[:1].isupper() or part in ("str", "int", "float", "bool")
        if after_item or label:
            continue  # a tag (messages[0].user) or a union member (content.str, list[...])
        field += f".{part}" if field else part
        last = part
    return field


def _error_message(error: ErrorDetails) -> tuple[str, str]:
    """The field and what is wrong with it, from pydantic's error."""
    field = _error_field(error["loc"])
    ctx = error.get("ctx") or {}
    kind = error["type"]
    if kind == "union_tag_invalid":
        key = str(ctx.get("discriminator", "")).strip("'")
        expected = str(ctx.get("expected_tags", ""))
        return f"{field}.{key}", f"{ctx.get('tag')!r} is not one of {expected}"
    if kind == "union_tag_not_found":
        key = str(ctx.get("discriminator", "")).strip("'")
        return f"{field}.{key}", "missing"
    if kind == "literal_error":
        name = field.rsplit(".", 1)[-1].split("[")[0]
        return field, f"unknown {name} {error['input']!r}; use one of {ctx.get('expected')}"
    if kind == "missing":
        return field, "missing"
    if kind == "too_short" and ctx.get("actual_length") == 0:
        return field, "the list is empty; give at least one item"
    return field, str(error["msg"]).removeprefix("Value error, ")


def _first_error(exc: ValidationError) -> ErrorDetails:
    """The most specific error: the deepest location (a union reports one error per member)."""
    errors = exc.errors(include_url=False)
    return max(errors, key=lambda e: len(e["loc"]))


def parse_request(body: Any) -> ChatRequest:
    """Validate a request body.

    Raises:
        APIError: 400 naming the first invalid field.
    """
    if not isinstance(body, dict):
        raise APIError(400, "the body must be a JSON object", code="invalid_value")
    try:
        return ChatRequest.model_validate(body)
    except ValidationError as exc:
        field, message = _error_message(_first_error(exc))
        raise APIError(
            400, f"{field}: {message}", param=field.split("[")[0].split(".")[0] or None, code="invalid_value"
        ) from exc


def declared(value: Any) -> Any:
    """A validated value as plain data, holding only the fields its models declare (no extras)."""
    if isinstance(value, BaseModel):
        return {
            name: declared(getattr(value, name))
            for name in type(value).model_fields
            if getattr(value, name) is not None
        }
    if isinstance(value, list):
        return [declared(item) for item in cast(list[Any], value)]
    return value


def _text_or_parts(content: str | list[Any] | None) -> str | list[str | dict[str, Any]]:
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    return [declared(part) for part in content]


_INT_MIN, _INT_MAX = -(2**63), 2**64 - 1


def _bounded_int(text: str) -> int:
    """A JSON integer that a checkpoint can hold (msgpack: 64 bits), else ``ValueError``."""
    value = int(text)
    if not _INT_MIN <= value <= _INT_MAX:
        raise ValueError(f"{text[:24]}... is outside the 64-bit integer range")
    return value


def _assistant(message: AssistantMessage) -> AIMessage:
    calls: list[ToolCall] = []
    invalid: list[InvalidToolCall] = []
    for call in message.tool_calls or []:
        try:
            args: Any = json.loads(call.function.arguments, strict=False, parse_int=_bounded_int)
        except (ValueError, RecursionError) as exc:
            args, error = None, f"arguments are not JSON: {exc}"
        else:
            error = None if isinstance(args, dict) else "arguments are not a JSON object"
        if isinstance(args, dict):
            arguments = cast(dict[str, Any], args)
            calls.append(create_tool_call(name=call.function.name, args=arguments, id=call.id))
        else:
            invalid.append(
                create_invalid_tool_call(
                    name=call.function.name, args=call.function.arguments, id=call.id, error=error
                )
            )
    extra: dict[str, Any] = {}
    if message.refusal is not None:
        extra["refusal"] = message.refusal
    if message.function_call is not None:
        extra["function_call"] = declared(message.function_call)
    return AIMessage(
        content=_text_or_parts(message.content),
        name=message.name,
        tool_calls=calls,
        invalid_tool_calls=invalid,
        additional_kwargs=extra,
    )


def _to_langchain(message: Any) -> AnyMessage:
    if isinstance(message, SystemMessage | DeveloperMessage):
        return LCSystemMessage(content=_text_or_parts(message.content), name=message.name)
    if isinstance(message, UserMessage):
        return HumanMessage(content=_text_or_parts(message.content), name=message.name)
    if isinstance(message, AssistantMessage):
        return _assistant(message)
    if isinstance(message, ToolMessage):
        return LCToolMessage(content=_text_or_parts(message.content), tool_call_id=message.tool_call_id)
    assert isinstance(message, FunctionMessage)
    return LCFunctionMessage(content=message.content or "", name=message.name)


def to_langchain_messages(messages: list[Any]) -> list[AnyMessage]:
    """OpenAI chat messages (validated) as LangChain messages: tool results, tool calls too.

    ``developer`` reads as ``system``; an assistant message without content is empty text; a
    tool call whose arguments are not a JSON object (or hold an integer beyond 64 bits, which no
    checkpoint can store) is kept as an invalid tool call (its text as written), as LangChain's
    OpenAI integration does with the model's own. Fields no model declares are left out.
    """
    return [_to_langchain(message) for message in messages]


def to_openai_tool_calls(tool_calls: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """LangChain tool calls in OpenAI's ``tool_calls`` shape."""
    return [
        {
            "id": call.get("id") or f"call_{uuid.uuid4().hex[:24]}",
            "type": "function",
            "function": {"name": call["name"], "arguments": json.dumps(call.get("args", {}))},
        }
        for call in tool_calls
    ]


def usage_of(result: FusionResult) -> dict[str, int]:
    """OpenAI's ``usage``: every member call and judge call of the fusion together."""
    total = result.usage.total
    return {
        "prompt_tokens": total.input_tokens,
        "completion_tokens": total.output_tokens,
        "total_tokens": total.total_tokens,
    }


def fusion_extension(result: FusionResult, *, model: str, thread_id: str | None) -> dict[str, Any]:
    """The ``fusion`` extension field: candidates, verdict, who decided, usage and cost per member."""
    return {"model": model, "thread_id": thread_id, **result.model_dump(mode="json")}


def finish_reason(result: FusionResult) -> Literal["stop", "tool_calls"]:
    """``tool_calls`` when the fused answer is a tool call, else ``stop``."""
    return "tool_calls" if result.tool_calls else "stop"


def completion(result: FusionResult, *, model: str, thread_id: str | None) -> dict[str, Any]:
    """A ``chat.completion`` object for a finished fusion."""
    message: dict[str, Any] = {"role": "assistant", "content": result.answer, "refusal": None}
    if result.tool_calls:
        message["tool_calls"] = to_openai_tool_calls(result.tool_calls)
        message["content"] = result.answer or None
    return {
        "id": f"chatcmpl-{uuid.uuid4().hex}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {"index": 0, "message": message, "finish_reason": finish_reason(result), "logprobs": None}
        ],
        "usage": usage_of(result),
        "system_fingerprint": None,
        "fusion": fusion_extension(result, model=model, thread_id=thread_id),
    }


def completion_chunk(
    completion_id: str,
    created: int,
    model: str,
    delta: dict[str, Any] | None,
    *,
    finish: str | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """A ``chat.completion.chunk``; ``delta=None`` makes a chunk without choices (the usage chunk)."""
    choices = (
        [] if delta is None else [{"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}]
    )
    return {
        "id": completion_id,
        "object": "chat.completion.chunk",
        "created": created,
        "model": model,
        "choices": choices,
        "system_fingerprint": None,
        **extra,
    }
