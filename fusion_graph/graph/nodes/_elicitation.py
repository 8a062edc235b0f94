"""A member's MCP elicitations as LangGraph interrupts: the user is asked once per round and request.

When a tool in a member's tool loop makes its MCP server ask the user for input, the registry
hands the request to the handler set around that member's tool calls (see
:mod:`tool_registry.elicitation`), in the member node's task. This handler turns it into
``interrupt({"type": "mcp_elicitation", ...})``: the graph pauses with the server's message and
schema, and ``Command(resume=answer)`` resumes it. As with any interrupt, the member node runs
again from its start on resume (its model calls too), the tool is called again, the server asks
again, and this time ``interrupt()`` returns the answer, which goes back to the server.

Several members (or samples) of one round calling the same tool often trigger the same request.
The round's coordinator keeps one entry per request (:attr:`ElicitationRequest.key`): the first
member to meet it calls ``interrupt()``; the others wait for that outcome. When it paused the
graph, they stop too, without an interrupt of their own (``GraphInterrupt`` with none, so the user
sees one question and a plain ``Command(resume=...)`` answers it); when it returned the answer,
they all get it. On resume the first member to meet the request takes the answer.

Without a checkpointer nothing could resume the run: the request is declined, a warning says so,
and the member's tool gets the decline (its server decides what that means).

The answer may be a dict ``{"action": "accept" | "decline" | "cancel", "content": {...}}``, the
content alone (a dict: accepted), ``True`` (accept, URL mode), or ``False`` / ``None`` (decline).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from langgraph.config import get_config
from langgraph.constants import CONFIG_KEY_CHECKPOINTER
from langgraph.errors import GraphInterrupt
from langgraph.types import interrupt

from fusion_graph.graph._rounds import RoundCoordinator
from tool_registry.elicitation import ElicitationHandler, ElicitationRequest, ElicitationResponse

__all__ = ["ELICITATION", "member_elicitation", "response_of"]

logger = logging.getLogger(__name__)

ELICITATION = "mcp_elicitation"
"""The ``type`` of the interrupt value a member's MCP elicitation raises."""

_PAUSED = object()
"""The first asker's ``interrupt()`` paused the graph."""


def member_elicitation(member: str, coordinator: RoundCoordinator) -> ElicitationHandler:
    """The handler that answers ``member``'s elicitation requests with LangGraph interrupts."""

    async def ask(request: ElicitationRequest) -> ElicitationResponse:
        configurable = get_config().get("configurable") or {}
        if configurable.get(CONFIG_KEY_CHECKPOINTER) is None:
            logger.warning(
                "member %r: MCP server %r asked the user %r during %r; declined, because the fusion "
                "has no checkpointer to pause on (compile it with checkpointer=InMemorySaver() or "
                "AsyncSqliteSaver, or run it as a node of a graph that has one)",
                member,
                request.server,
                request.message,
                request.tool,
            )
            return ElicitationResponse("decline")
        asks = coordinator.elicitations
        pending = asks.get(request.key)
        if pending is None:
            pending = asks[request.key] = asyncio.get_running_loop().create_future()
            try:
                value = interrupt({"type": ELICITATION, "member": member, **request.as_dict()})
            except GraphInterrupt:  # the graph pauses on this question: the others stop too
                pending.set_result(_PAUSED)
                raise
            except BaseException:  # e.g. an answer the interrupt rejected: the others decline
                pending.set_result(None)
                raise
            pending.set_result(value)
        else:
            value = await asyncio.shield(pending)
            if value is _PAUSED:
                raise GraphInterrupt(())  # no second question: the first asker's interrupt stands
        return response_of(value)

    return ask


def response_of(value: Any) -> ElicitationResponse:
    """The user's resume value as an elicitation response (see the module docstring)."""
    if isinstance(value, ElicitationResponse):
        return value
    if isinstance(value, dict) and value.get("action") in ("accept", "decline", "cancel"):
        content = value.get("content")
        return ElicitationResponse(value["action"], dict(content) if isinstance(content, dict) else None)
    if isinstance(value, dict):
        return ElicitationResponse("accept", dict(value))
    if value is True:
        return ElicitationResponse("accept")
    return ElicitationResponse("decline")
