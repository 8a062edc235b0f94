"""LangGraph Server's custom HTTP app (``langgraph.json``'s ``http.app``): requests checked before runs.

LangGraph Server builds the graph of a run (``langgraph_app.make_graph``) inside the run, so a graph
factory's error becomes a failed run whose full traceback goes to the server's log, twice. A request
whose ``config.configurable.fusion`` names no fusion of ``FUSION_LANGGRAPH_CONFIG`` is a caller's
mistake, not a crash: this middleware refuses it up front (any ``POST``/``PUT``/``PATCH`` with a JSON
body: runs, assistants, crons) with a 400 ``{"detail": "configurable.fusion: no fusion is named 'x' —
use one of [...]"}`` and one warning log line. Other requests pass through untouched.

The app has no routes of its own; LangGraph Server adds its middleware to every route. Importing
this module builds that empty app (``langgraph.json`` needs a module variable) and needs Starlette,
which LangGraph Server brings.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from fusion_graph.server.langgraph_app import check_request

__all__ = ["FusionRequestCheck", "app"]

logger = logging.getLogger("fusion_graph.server")

_CHECKED = {"POST", "PUT", "PATCH"}
_MAX_BODY = 8 * 1024 * 1024
"""Bodies larger than this are not read here (passed through unchecked)."""


class FusionRequestCheck:
    """ASGI middleware: a 400 for a request that names a fusion the served file does not have."""

    def __init__(self, app: ASGIApp) -> None:
        """Wrap ``app``."""
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Read a JSON body, check it, and replay it to the app (or answer 400)."""
        if scope["type"] != "http" or scope.get("method") not in _CHECKED:
            await self.app(scope, receive, send)
            return
        messages: list[Message] = []
        size = 0
        while True:
            message = await receive()
            messages.append(message)
            if message["type"] != "http.request":
                break
            size += len(message.get("body", b""))
            if not message.get("more_body") or size > _MAX_BODY:
                break
        complete = messages[-1]["type"] == "http.request" and not messages[-1].get("more_body")
        if complete:
            error = check_request(_json(b"".join(m.get("body", b"") for m in messages)))
            if error is not None:
                logger.warning("refused %s %s: %s", scope.get("method"), scope.get("path"), error)
                await JSONResponse({"detail": str(error)}, status_code=400)(scope, receive, send)
                return

        async def replay() -> Message:
            return messages.pop(0) if messages else await receive()

        await self.app(scope, replay, send)


def _json(raw: bytes) -> Any:
    try:
        return json.loads(raw) if raw else None
    except (json.JSONDecodeError, UnicodeDecodeError):
        return None


app = Starlette(middleware=[Middleware(FusionRequestCheck)])
"""What ``langgraph.json`` names: no routes, only the check."""
