"""OpenAI Chat Completions ⇄ fusion: request validation, messages in, completions and chunks out."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any, Literal, cast

from langchain_core.messages import AnyMessage
from langchain_core.messages.utils import convert_to_messages
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from fusion_graph.result import FusionResult
from fusion_graph.server._errors import APIError

__all__ = [
    "ChatRequest",
    "completion",
    "completion_chunk",
    "fusion_extension",
    "parse_request",
    "to_langchain_messages",
    "to_openai_tool_calls",
    "usage_of",
]

_ROLES = ("system", "developer", "user", "assistant", "tool", "function")


class StreamOptions(BaseModel):
    """OpenAI's ``stream_options``."""

    model_config = ConfigDict(extra="allow")

    include_usage: bool = False


class ChatRequest(BaseModel):
    """A ``POST /v1/chat/completions`` body: OpenAI's fields plus the fusion overrides.

    Sampling fields (``temperature``, ``max_tokens``, …) are accepted and ignored: each member uses
    the settings of its own config.
    """

    model_config = ConfigDict(extra="allow")

    model: str = Field(min_length=1)
    messages: list[dict[str, Any]] = Field(min_length=1)
    stream: bool = False
    stream_options: StreamOptions | None = None
    tools: list[dict[str, Any]] | None = None
    tool_choice: str | dict[str, Any] | None = None
    n: int = Field(default=1, ge=1, le=1)
    response_format: dict[str, Any] | None = None
    """``json_schema`` or ``json_object``: the fused answer is JSON of the schema, or the request fails
    (``text`` or none: plain text). Read by :meth:`FusionService.prepare`; a format that cannot be
    honoured is a 400 naming the field."""
    mode: str | None = None
    """Extension: ``best-of``, ``merge``, ``debate`` or ``vote`` instead of the fusion's mode."""
    rounds: int | None = None
    """Extension: debate rounds instead of the fusion's."""
    members: list[str] | None = None
    """Extension: answer with this subset of the pool (member names)."""
    thread_id: str | None = Field(default=None, min_length=1, max_length=200)
    """Extension: the run's checkpoint thread (with a checkpointer, re-sending it returns the stored run)."""

    @field_validator("tool_choice")
    @classmethod
    def _check_choice(cls, value: str | dict[str, Any] | None) -> str | dict[str, Any] | None:
        if isinstance(value, str) and value not in ("none", "auto", "required"):
            raise ValueError(
                "must be 'none', 'auto', 'required' or {'type': 'function', 'function': {'name': …}}"
            )
        if isinstance(value, dict):
            name = value.get("function", {}).get("name") if isinstance(value.get("function"), dict) else None
            if value.get("type") != "function" or not isinstance(name, str):
                raise ValueError("must be {'type': 'function', 'function': {'name': NAME}}")
        return value

    @field_validator("tools")
    @classmethod
    def _check_tools(cls, value: list[dict[str, Any]] | None) -> list[dict[str, Any]] | None:
        for index, tool in enumerate(value or []):
            function = tool.get("function")
            if tool.get("type") != "function" or not isinstance(function, dict):
                raise ValueError(f"[{index}]: must be {{'type': 'function', 'function': {{…}}}}")
            name = cast(dict[str, Any], function).get("name")
            if not isinstance(name, str) or not name:
                raise ValueError(f"[{index}].function.name: missing")
        return value

    def bound_tools(self) -> tuple[list[dict[str, Any]], str | dict[str, Any] | None]:
        """The tools to bind and the tool choice (``tool_choice="none"`` binds none).

        Raises:
            APIError: ``tool_choice`` names a tool that is not in ``tools``.
        """
        if not self.tools or self.tool_choice == "none":
            return [], None
        choice = self.tool_choice
        if isinstance(choice, dict):
            name = choice["function"]["name"]
            names = [tool["function"]["name"] for tool in self.tools]
            if name not in names:
                raise APIError(
                    400, f"tool_choice: no tool is named {name!r}; use one of {names}", param="tool_choice"
                )
            choice = name
        elif choice == "required":
            choice = "any"
        return list(self.tools), choice


def parse_request(body: Any) -> ChatRequest:
    """Validate a request body.

    Raises:
        APIError: 400 naming the first invalid field.
    """
    if not isinstance(body, dict):
        raise APIError(400, "the body must be a JSON object")
    try:
        return ChatRequest.model_validate(body)
    except ValidationError as exc:
        error = exc.errors()[0]
        field = ""
        for part in error["loc"]:
            field += f"[{part}]" if isinstance(part, int) else (f".{part}" if field else str(part))
        message = str(error["msg"]).removeprefix("Value error, ")
        if message.startswith("["):  # a validator that names a sub-field
            sub, _, message = message.partition(": ")
            field += sub
        raise APIError(400, f"{field}: {message}", param=field.split("[")[0].split(".")[0]) from exc


def to_langchain_messages(messages: list[dict[str, Any]]) -> list[AnyMessage]:
    """OpenAI chat messages as LangChain messages (``tool`` results and assistant tool calls too).

    Raises:
        APIError: 400 naming the first invalid message.
    """
    normal: list[dict[str, Any]] = []
    for index, raw in enumerate(messages):
        role = raw.get("role")
        if role not in _ROLES:
            raise APIError(
                400, f"messages[{index}].role: {role!r} is not one of {list(_ROLES)}", param="messages"
            )
        message = dict(raw)
        if role == "developer":
            message["role"] = "system"
        if message.get("content") is None:
            if role != "assistant" or not message.get("tool_calls"):
                raise APIError(400, f"messages[{index}].content: missing", param="messages")
            message["content"] = ""
        if role == "tool" and not isinstance(message.get("tool_call_id"), str):
            raise APIError(
                400, f"messages[{index}].tool_call_id: missing for a tool message", param="messages"
            )
        normal.append(message)
    try:
        return cast(list[AnyMessage], convert_to_messages(normal))
    except (ValueError, TypeError, KeyError, NotImplementedError) as exc:
        raise APIError(400, f"messages: not a conversation: {exc}", param="messages") from exc


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
