"""Elicitation: an MCP server asks the user for input in the middle of a tool call.

MCP lets a server send ``elicitation/create`` while it handles a ``tools/call`` ("which account?",
"confirm the transfer"). The registry's sessions are shared by every caller, and the SDK hands the
request to one callback in the session's own task, which knows nothing of the caller. So the
registry routes it back: each call in flight on a connection has an inbox, the callback puts the
request into one, and the *calling* task answers it with the handler that was current when it
made the call. The handler therefore runs in the caller's context (a LangGraph node's task, for
a fusion member, where ``interrupt()`` works).

The handler comes from :func:`handling_elicitation` (a context variable, set around the tool
calls of one caller) or else from ``ToolRegistry(elicitation_handler=...)``. Without either, the
request is declined and a log line says so; the tool sees the decline.

The JSON-RPC request carries no link to the call that caused it (stdio has no side channel), so
with several calls in flight on one session the request goes to the oldest call that is not
already answering one. Requests are answered by the handler, whoever routes them: the routing
only picks the task that runs the handler. A handler that asks a person should therefore ask
the same request once (see :attr:`ElicitationRequest.key`).
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Awaitable, Callable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, Literal

__all__ = [
    "ElicitationHandler",
    "ElicitationRequest",
    "ElicitationResponse",
    "current_elicitation_handler",
    "handling_elicitation",
]


@dataclass(frozen=True, slots=True)
class ElicitationRequest:
    """What a server asks, and during which call.

    Attributes:
        server: The server's name in the registry.
        tool: The tool whose call the request came during (its name on the server); with several
            calls in flight on one session, the call the request was routed to.
        message: The server's message for the user.
        requested_schema: The JSON schema of the answer (form mode; flat, primitive properties).
        mode: ``"form"`` (the answer goes back to the server) or ``"url"`` (the user opens ``url``).
        url: The page to open (URL mode).
        elicitation_id: The server's id of a URL-mode elicitation.
    """

    server: str
    tool: str
    message: str
    requested_schema: dict[str, Any] | None = None
    mode: Literal["form", "url"] = "form"
    url: str | None = None
    elicitation_id: str | None = None

    @property
    def key(self) -> str:
        """The same request from the same server and tool, whoever's call it came during."""
        return json.dumps(
            [self.server, self.tool, self.mode, self.message, self.requested_schema, self.url],
            sort_keys=True,
            default=str,
        )

    def as_dict(self) -> dict[str, Any]:
        """The request as plain JSON data (what a fusion's ``interrupt`` carries)."""
        return {
            "server": self.server,
            "tool": self.tool,
            "message": self.message,
            "requested_schema": self.requested_schema,
            "mode": self.mode,
            "url": self.url,
            "elicitation_id": self.elicitation_id,
        }


@dataclass(frozen=True, slots=True)
class ElicitationResponse:
    """The user's answer.

    Attributes:
        action: ``"accept"`` (with ``content`` in form mode), ``"decline"`` or ``"cancel"``.
        content: The answer, matching the request's schema (form mode, accepted only).
    """

    action: Literal["accept", "decline", "cancel"]
    content: dict[str, Any] | None = None


ElicitationHandler = Callable[[ElicitationRequest], Awaitable[ElicitationResponse]]
"""Answers an elicitation request; awaited in the task that made the tool call."""

_HANDLER: ContextVar[ElicitationHandler | None] = ContextVar("tool_registry_elicitation", default=None)


def current_elicitation_handler() -> ElicitationHandler | None:
    """The handler :func:`handling_elicitation` set in this context, if any."""
    return _HANDLER.get()


@contextlib.contextmanager
def handling_elicitation(handler: ElicitationHandler | None) -> Iterator[None]:
    """Answer elicitation requests of the tool calls made inside this block with ``handler``.

    A context variable: it reaches the tasks started inside the block (e.g. a LangChain tool's
    coroutine), and concurrent callers each keep their own.

    Example:
        >>> async def ask(request: ElicitationRequest) -> ElicitationResponse:
        ...     return ElicitationResponse("accept", {"confirm": True})
        >>> with handling_elicitation(ask):  # doctest: +SKIP
        ...     await registry.call("bank__transfer", {"amount": 5})
    """
    token = _HANDLER.set(handler)
    try:
        yield
    finally:
        _HANDLER.reset(token)
