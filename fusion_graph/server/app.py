"""The app factory: an OpenAI-compatible API whose models are fusions."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import AbstractAsyncContextManager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from langgraph.checkpoint.base import BaseCheckpointSaver
from starlette.exceptions import HTTPException as StarletteHTTPException

from fusion_graph.config import FusionConfig
from fusion_graph.errors import ConfigError
from fusion_graph.server._admission import AdmissionQueue
from fusion_graph.server._errors import APIError, error_body, from_exception, safe_headers
from fusion_graph.server._health import router as health_router
from fusion_graph.server._limits import parse_api_keys
from fusion_graph.server._openapi import openapi_document
from fusion_graph.server._readiness import Readiness, ReadinessGate
from fusion_graph.server._routes import router
from fusion_graph.server._service import FusionService

__all__ = ["CheckpointerSource", "create_app"]

_log = logging.getLogger("fusion_graph.server")

CheckpointerSource = (
    BaseCheckpointSaver[Any] | Callable[[], AbstractAsyncContextManager[BaseCheckpointSaver[Any]]]
)
"""A checkpointer, or a function returning an async context manager that opens one at startup
(e.g. :func:`fusion_graph.server.postgres_checkpointer`), closed at shutdown."""


def create_app(
    fusions: dict[str, FusionConfig],
    *,
    api_keys: str | Iterable[str] | None = None,
    max_body_bytes: int = 1_000_000,
    max_concurrency: int = 16,
    max_queue: int | None = None,
    queue_timeout: float = 30.0,
    checkpointer: CheckpointerSource | None = None,
    startup_timeout: float = 120.0,
) -> FastAPI:
    """Build the FastAPI app that serves ``fusions`` as OpenAI chat models.

    Args:
        fusions: The fusions by served model name (e.g. from :func:`load_fusions`).
        api_keys: Keys accepted in ``Authorization: Bearer <key>`` (a list or a comma-separated
            string); none means no key is asked for.
        max_body_bytes: Larger request bodies get a 413.
        max_concurrency: Fusions run at once; more wait in the queue.
        max_queue: Requests that may wait for a slot, first come first served; one more gets a
            429 with a computed ``Retry-After``. ``None``: 4 × ``max_concurrency``; 0: no queue.
        queue_timeout: Seconds a request may wait in the queue before it gets a 429.
        checkpointer: Where runs are kept (shared by every worker that uses the same store), so
            that ``thread_id`` re-sends and ``GET /v1/fusions/{thread_id}`` work; ``None`` keeps
            nothing.
        startup_timeout: Seconds the startup (opening the checkpointer) may take before it fails.
            It runs after the server binds: ``GET /health`` (liveness) answers meanwhile,
            ``GET /health/ready`` is 503 until it ends well, and other requests wait for it. A
            failed startup makes both 503 with the cause, and every request a 503 ``not_ready``.
            ``postgres_checkpointer`` has its own, shorter, ``startup_timeout`` that names the cause.

    Returns:
        The app, for uvicorn or any ASGI server.

    Raises:
        ConfigError: No fusion is given, a limit is out of range, or a model cannot be resolved.

    Example:
        >>> app = create_app(load_fusions("fusions.toml"), api_keys=["sk-local"])
        >>> uvicorn.run(app, host="127.0.0.1", port=8000)
    """
    if not fusions:
        raise ConfigError("fusions", "nothing to serve", "give at least one named FusionConfig")
    if max_body_bytes < 1:
        raise ConfigError("max_body_bytes", "must be at least 1")
    if max_concurrency < 1:
        raise ConfigError("max_concurrency", "must be at least 1")
    if max_queue is None:
        max_queue = 4 * max_concurrency
    if max_queue < 0:
        raise ConfigError("max_queue", "must be 0 or more", "pass 0 to refuse when every slot is taken")
    if not queue_timeout > 0:
        raise ConfigError("queue_timeout", "must be more than 0 seconds", "e.g. 30")
    if not startup_timeout > 0:
        raise ConfigError("startup_timeout", "must be more than 0 seconds", "e.g. 120")
    FusionService(fusions, None).check()
    readiness = Readiness()

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        readiness.begin()
        async with contextlib.AsyncExitStack() as stack:

            async def start() -> None:
                try:
                    saver: BaseCheckpointSaver[Any] | None
                    if checkpointer is None or isinstance(checkpointer, BaseCheckpointSaver):
                        saver = checkpointer
                    else:
                        try:
                            async with asyncio.timeout(startup_timeout):
                                saver = await stack.enter_async_context(checkpointer())
                        except TimeoutError:
                            raise TimeoutError(
                                f"the checkpointer did not open within {startup_timeout:g} s"
                            ) from None
                    app.state.service = FusionService(fusions, saver)
                except Exception as exc:  # noqa: BLE001 - kept, logged and served as the cause
                    _log.error("fusion-graph: the server failed to start: %s", exc)
                    readiness.set_failed(exc)
                else:
                    readiness.set_ready()

            # After uvicorn binds: /health answers while it runs, and a SIGTERM stops it.
            starting = asyncio.ensure_future(start())
            try:
                yield
            finally:
                readiness.set_stopping()
                starting.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await starting
                app.state.service = None

    app = FastAPI(
        title="fusion-graph",
        summary="An OpenAI-compatible API whose models are fusions of a pool of LLMs.",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
    )
    app.state.api_keys = parse_api_keys(api_keys)
    app.state.max_body_bytes = max_body_bytes
    app.state.limit = AdmissionQueue(max_concurrency, max_queue, queue_timeout)
    app.state.service = None
    app.state.readiness = readiness
    app.add_middleware(ReadinessGate, readiness=readiness)
    app.include_router(health_router)
    app.include_router(router)
    app.add_exception_handler(APIError, _api_error)  # pyright: ignore[reportArgumentType]
    app.add_exception_handler(StarletteHTTPException, _http_error)  # pyright: ignore[reportArgumentType]
    app.add_exception_handler(RequestValidationError, _validation_error)  # pyright: ignore[reportArgumentType]
    app.add_exception_handler(Exception, _unexpected_error)

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = openapi_document(app, fusions, keys=bool(app.state.api_keys))
        return app.openapi_schema

    app.openapi = openapi  # the document of the models that validate requests (_openapi.py)
    return app


class _ErrorResponse(JSONResponse):
    """An error body as ASCII JSON: it encodes whatever client text a message quotes."""

    def render(self, content: Any) -> bytes:
        return json.dumps(content, ensure_ascii=True, separators=(",", ":")).encode()


async def _api_error(request: Request, exc: APIError) -> JSONResponse:
    return _ErrorResponse(exc.body(), status_code=exc.status, headers=safe_headers(exc.headers))


async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
    kind = "not_found" if exc.status_code == 404 else "invalid_request_error"
    return _ErrorResponse(
        error_body(str(exc.detail), type=kind, code=str(exc.status_code)),
        status_code=exc.status_code,
        headers=safe_headers(dict(exc.headers or {})),
    )


async def _validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
    return _ErrorResponse(error_body(str(exc.errors()), type="invalid_request_error"), status_code=400)


async def _unexpected_error(request: Request, exc: Exception) -> JSONResponse:
    """A bug: still an OpenAI error body (500 ``internal_error``); the server logs the traceback."""
    error = from_exception(exc)
    return _ErrorResponse(error.body(), status_code=error.status)


def app_from_env() -> FastAPI:
    """The app of one ``fusion serve --workers N`` worker, built from the environment.

    The command puts its settings there (``FUSION_SERVE_CONFIG``, ``FUSION_API_KEYS``,
    ``FUSION_POSTGRES_URL``, ``FUSION_SERVE_MAX_CONCURRENCY``, ``FUSION_SERVE_MAX_QUEUE``,
    ``FUSION_SERVE_QUEUE_TIMEOUT``, ``FUSION_SERVE_MAX_BODY_BYTES``, ``FUSION_SERVE_STARTUP_TIMEOUT``).

    Raises:
        ConfigError: The settings are invalid.
    """
    import os

    from fusion_graph.server._fusions import default_fusions, load_fusions
    from fusion_graph.server._postgres import postgres_checkpointer

    path = os.environ.get("FUSION_SERVE_CONFIG")
    url = os.environ.get("FUSION_POSTGRES_URL")
    max_queue = os.environ.get("FUSION_SERVE_MAX_QUEUE", "")
    startup_timeout = float(os.environ.get("FUSION_SERVE_STARTUP_TIMEOUT", "60"))
    return create_app(
        load_fusions(path) if path else default_fusions(),
        api_keys=os.environ.get("FUSION_API_KEYS"),
        max_concurrency=int(os.environ.get("FUSION_SERVE_MAX_CONCURRENCY", "16")),
        max_queue=int(max_queue) if max_queue else None,
        queue_timeout=float(os.environ.get("FUSION_SERVE_QUEUE_TIMEOUT", "30")),
        max_body_bytes=int(os.environ.get("FUSION_SERVE_MAX_BODY_BYTES", "1000000")),
        checkpointer=postgres_checkpointer(url, startup_timeout=startup_timeout) if url else None,
        startup_timeout=startup_timeout + 10,
    )
