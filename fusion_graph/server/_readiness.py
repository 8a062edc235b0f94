"""Whether the server is starting, ready, stopping or failed to start, and the gate that waits on it.

The app's startup (opening the checkpointer: reaching PostgreSQL, migrating) runs in the background
after uvicorn binds, so ``/health`` answers while it runs and a SIGTERM stops it at any moment. A
request that arrives meanwhile waits for the startup's end (bounded by it), then runs, or gets a
503 ``not_ready`` naming the cause.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any, Literal

from fusion_graph.server._errors import error_body

__all__ = ["Phase", "Readiness", "ReadinessGate"]

Phase = Literal["starting", "ready", "stopping", "failed"]


class Readiness:
    """The server's phase, the startup's error, and an event set once the startup has ended.

    Attributes:
        phase: ``starting``, ``ready``, ``stopping`` or ``failed``.
        error: Why the startup failed (``failed`` only).
        on_failure: Called with the error when the startup fails (``fusion serve`` stops uvicorn).
    """

    def __init__(self) -> None:
        """Start in ``starting``."""
        self.phase: Phase = "starting"
        self.error: str | None = None
        self.on_failure: Callable[[BaseException], None] | None = None
        self._ended: asyncio.Event | None = None

    def _event(self) -> asyncio.Event:
        if self._ended is None:
            self._ended = asyncio.Event()
        return self._ended

    def begin(self) -> None:
        """A new startup (the lifespan's): back to ``starting``."""
        self.phase, self.error, self._ended = "starting", None, None

    def set_ready(self) -> None:
        """The startup succeeded."""
        self.phase = "ready"
        self._event().set()

    def set_failed(self, exc: BaseException) -> None:
        """The startup failed with ``exc``; calls :attr:`on_failure`."""
        self.phase = "failed"
        self.error = str(exc) or type(exc).__name__
        self._event().set()
        if self.on_failure is not None:
            self.on_failure(exc)

    def set_stopping(self) -> None:
        """Shutdown has begun: no longer ready."""
        if self.phase != "failed":
            self.phase = "stopping"
        self._event().set()

    async def wait(self) -> Phase:
        """Wait for the startup to end (the startup itself is bounded) and return the phase."""
        if self.phase == "starting":
            await self._event().wait()
        return self.phase

    def body(self) -> dict[str, Any]:
        """``{"status": phase}``, with ``error`` when the startup failed."""
        body: dict[str, Any] = {"status": self.phase}
        if self.error is not None:
            body["error"] = self.error
        return body


class ReadinessGate:
    """ASGI middleware: HTTP requests outside ``/health`` wait while the server starts.

    Once ready (or stopping) requests pass through untouched; after a failed startup they get a 503
    ``not_ready`` error that says why.
    """

    def __init__(self, app: Any, readiness: Readiness) -> None:
        """Wrap ``app``."""
        self.app = app
        self.readiness = readiness

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        """Pass the request on once the startup has ended well."""
        readiness = self.readiness
        if (
            scope["type"] != "http"
            or readiness.phase in ("ready", "stopping")
            or scope["path"].startswith("/health")
        ):
            await self.app(scope, receive, send)
            return
        if await readiness.wait() != "failed":
            await self.app(scope, receive, send)
            return
        message = f"the server failed to start: {readiness.error}"
        body = json.dumps(error_body(message, type="server_error", code="not_ready")).encode()
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
        await send({"type": "http.response.start", "status": 503, "headers": headers})
        await send({"type": "http.response.body", "body": body})
