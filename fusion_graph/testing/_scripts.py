"""Scripts for the stub server: what a model answers (:class:`ModelScript`, :class:`Turn`), and faults."""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from fusion_graph.providers.schema_examples import JudgePick

__all__ = ["FAULT_ERRORS", "Fault", "ModelScript", "ReplyText", "Turn"]

ReplyText = str | Callable[[dict[str, Any]], str]
"""A reply: fixed text, or a callable ``(request_body) -> str`` for dynamic replies."""


class Fault(enum.Enum):
    """A fault injected into one chat completion call.

    Error statuses answer in OpenAI's error format. Hanging faults (``TIMEOUT``,
    ``STREAM_STALL``) wait until the client disconnects or the server stops, so they
    never outlive :meth:`OpenAIStubServer.aclose`.
    """

    HTTP_429 = "http_429"
    """429 rate limit, with a ``Retry-After`` header (``ModelScript.retry_after``)."""
    HTTP_500 = "http_500"
    """500 internal server error."""
    HTTP_503 = "http_503"
    """503 service unavailable (overloaded)."""
    HTTP_401 = "http_401"
    """401 invalid API key."""
    HTTP_400 = "http_400"
    """400 invalid request."""
    TIMEOUT = "timeout"
    """Send nothing and hang, past any client timeout."""
    CONNECTION_RESET = "connection_reset"
    """Close the socket (RST) without a response."""
    MALFORMED_JSON = "malformed_json"
    """200 with a body (or, streaming, an SSE event) that is not valid JSON."""
    EMPTY_CONTENT = "empty_content"
    """A normal answer whose content is the empty string."""
    INVALID_TOOL_ARGS = "invalid_tool_args"
    """A tool call whose ``arguments`` string is not valid JSON."""
    STREAM_STALL = "stream_stall"
    """Streaming: send a couple of chunks, then hang. Non-streaming: headers, then hang."""
    STREAM_CUT = "stream_cut"
    """Streaming: send a couple of chunks, then close the socket. Non-streaming: half a body."""


@dataclass
class Turn:
    """One assistant turn of a multi-turn script.

    Attributes:
        reply: The text reply, or a callable ``(request_body) -> str``.
        tool_calls: Tool calls to make instead, each ``{"name": str, "arguments": dict |
            str}`` (optionally with an ``"id"``).
    """

    reply: ReplyText | None = None
    tool_calls: Sequence[Mapping[str, Any]] | None = None


@dataclass
class ModelScript:
    """What one model name answers.

    The reply of a call is chosen in this order: a judge answer (``judge=True`` and a
    structured-output request), ``respond``, the turn (``turns``), ``tool_calls``,
    ``replies``, ``reply``, and finally ``"ok"``.

    Attributes:
        reply: Fixed text, or a callable ``(request_body) -> str``.
        replies: Replies used in turn, cycling, one per answered (not faulted) call.
        respond: A callable ``(request_body) -> Turn`` that chooses the whole turn from
            the request, e.g. a simulated agent that reads the conversation so far.
        turns: Turns of a conversation. The turn index is the number of assistant
            messages after the last user message of the request, clamped to the last
            turn, so concurrent conversations each get the right turn.
        tool_calls: Tool calls made on every call (with ``reply`` too: tool calls first,
            then the reply once the conversation holds a tool result).
        judge: Answer structured-output requests (``response_format`` json_schema, or
            tools with a forced ``tool_choice``) with an object generated from the schema.
        judge_pick: How the judge picks labels for enum fields and for string fields
            named like ``winner``/``label``, from the prompt (the text of the user
            messages): a regex whose first match (its first non-empty group, if it has
            groups) is the label, or a callable ``(prompt, options) -> label`` where
            ``options`` are the enum values or ``None``. By default an enum takes the
            option that occurs first in the prompt, a free field the first match of
            :data:`DEFAULT_LABEL_PATTERN` (``"A"`` when nothing matches).
        judge_fields: Fixed judge output values by property name, at any depth; a
            callable value is called with the prompt.
        faults: Faults per call: entry ``i`` applies to call ``i`` (0-based) of this
            model, ``None`` means a normal answer; calls past the list are normal.
        latency: Seconds to wait before answering.
        token_delay: Seconds to wait between streamed chunks.
        prompt_tokens: Fixed prompt token count (counted words otherwise).
        completion_tokens: Fixed completion token count (counted words otherwise).
        retry_after: ``Retry-After`` seconds sent with :attr:`Fault.HTTP_429`.
        cost: A cost in US dollars reported in ``usage.cost`` (as OpenRouter does), or none.
        finish_reason: The ``finish_reason`` to report instead of ``stop`` / ``tool_calls``
            (e.g. ``"length"``: the answer stopped at its token limit).
    """

    reply: ReplyText | None = None
    replies: Sequence[ReplyText] | None = None
    turns: Sequence[Turn] | None = None
    tool_calls: Sequence[Mapping[str, Any]] | None = None
    judge: bool = False
    judge_pick: JudgePick | None = None
    judge_fields: Mapping[str, Any] | None = None
    faults: Sequence[Fault | None] = ()
    latency: float = 0.0
    token_delay: float = 0.0
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    retry_after: float = 1.0
    cost: float | None = None
    finish_reason: str | None = None
    respond: Callable[[dict[str, Any]], Turn] | None = None


FAULT_ERRORS: dict[Fault, tuple[int, str, str, str | None]] = {
    Fault.HTTP_429: (429, "Rate limit reached (injected).", "requests", "rate_limit_exceeded"),
    Fault.HTTP_500: (500, "The server had an error (injected).", "server_error", None),
    Fault.HTTP_503: (503, "The engine is overloaded (injected).", "server_error", "overloaded"),
    Fault.HTTP_401: (
        401,
        "Incorrect API key (injected).",
        "invalid_request_error",
        "invalid_api_key",
    ),
    Fault.HTTP_400: (400, "Invalid request (injected).", "invalid_request_error", None),
}
"""The OpenAI error (status, message, type, code) each status fault answers with."""
