"""``fusion serve``: the OpenAI-compatible API over HTTP (registered on the app by :mod:`fusion_graph.cli`).

Imports FastAPI and uvicorn only when the command runs.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.text import Text

from fusion_graph.cli import _common
from fusion_graph.errors import ConfigError

__all__ = ["serve"]

_INSTALL = "pip install 'fusion-graph[server]'"


def serve(
    config: Annotated[
        Path | None,
        typer.Option(
            "--config",
            "-c",
            help="A fusions file (.toml/.yaml). Default: the local pool, one model per mode.",
            dir_okay=False,
        ),
    ] = None,
    host: Annotated[
        str, typer.Option("--host", help="Address to bind; not loopback needs --api-key.")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", "-p", help="Port to bind.")] = 8000,
    api_key: Annotated[
        list[str] | None,
        typer.Option("--api-key", help="Accepted API key (repeatable). Also FUSION_API_KEYS=k1,k2."),
    ] = None,
    postgres_url: Annotated[
        str | None,
        typer.Option(
            "--postgres-url",
            envvar="FUSION_POSTGRES_URL",
            help="PostgreSQL URL: keep runs there, shared by every worker (needs the postgres extra).",
        ),
    ] = None,
    workers: Annotated[int, typer.Option("--workers", "-w", min=1, help="Worker processes.")] = 1,
    max_concurrency: Annotated[
        int, typer.Option("--max-concurrency", min=1, help="Fusions at once per worker; more wait.")
    ] = 16,
    max_queue: Annotated[
        int | None,
        typer.Option(
            "--max-queue",
            min=0,
            help="Requests waiting for a slot per worker (default 4x --max-concurrency; 0: no queue); "
            "one more gets a 429 with Retry-After.",
        ),
    ] = None,
    queue_timeout: Annotated[
        float,
        typer.Option(
            "--queue-timeout", min=0.001, help="Seconds a request may wait for a slot before a 429."
        ),
    ] = 30.0,
    max_body_bytes: Annotated[
        int, typer.Option("--max-body-bytes", min=1, help="Larger request bodies get a 413.")
    ] = 1_000_000,
    graceful_timeout: Annotated[
        int,
        typer.Option("--graceful-timeout", min=0, help="Seconds to let in-flight fusions finish on stop."),
    ] = 300,
    startup_timeout: Annotated[
        float,
        typer.Option(
            "--startup-timeout",
            min=0.001,
            help="Seconds to reach PostgreSQL and migrate its tables before the start fails, naming why.",
        ),
    ] = 60.0,
    log_level: Annotated[str, typer.Option("--log-level", help="uvicorn's log level.")] = "info",
) -> None:
    """Serve the fusions as an OpenAI-compatible API: /v1/models, /v1/chat/completions, /metrics.

    Past --max-concurrency, requests wait in a queue (per worker) for up to --queue-timeout; a 429
    with a computed Retry-After comes only when the queue is full or the wait times out.

    With --postgres-url the server binds at once and opens the database in the background: GET
    /health (liveness) answers, GET /health/ready is 503 until the tables are migrated (once, by one
    replica, under a lock) and requests wait for it. A database that does not answer, or a migration
    stuck on a lock, ends the start after --startup-timeout with exit code 1 and the cause.

    SIGINT/SIGTERM stop it gracefully, at any moment (startup too): no new connections, in-flight
    fusions finish (up to --graceful-timeout), then the process ends by that signal, as uvicorn does.
    Exit code 2 on an invalid configuration (including a non-loopback --host without an API key).
    """
    keys = [*(api_key or []), *os.environ.get("FUSION_API_KEYS", "").split(",")]
    keys = [key.strip() for key in keys if key.strip()]
    try:
        import uvicorn

        from fusion_graph.server import (
            create_app,
            default_fusions,
            load_fusions,
            migrate_postgres,
            postgres_checkpointer,
        )
        from tool_registry.server import is_loopback
    except ModuleNotFoundError as exc:
        _common.fail(
            None, f"fusion serve needs FastAPI and uvicorn ({exc}); install them with: {_INSTALL}", 2
        )
    try:
        if not keys and not is_loopback(host):
            raise ConfigError(
                "--host",
                f"{host} is reachable from other machines and no API key is set",
                "pass --api-key KEY (or set FUSION_API_KEYS), or bind 127.0.0.1",
            )
        fusions = load_fusions(config) if config is not None else default_fusions()
        checkpointer = (
            postgres_checkpointer(postgres_url, startup_timeout=startup_timeout) if postgres_url else None
        )
        app = create_app(
            fusions,
            api_keys=keys,
            max_body_bytes=max_body_bytes,
            max_concurrency=max_concurrency,
            max_queue=max_queue,
            queue_timeout=queue_timeout,
            checkpointer=checkpointer,
            startup_timeout=startup_timeout + 10,  # a backstop: the checkpointer's own names the cause
        )
    except ConfigError as exc:
        _common.fail("Configuration error", exc, 2)
    serving = f"serving {', '.join(fusions)} on http://{host}:{port}/v1"
    Console(stderr=True).print(Text(serving, style="green"))
    if workers == 1:
        server = uvicorn.Server(
            uvicorn.Config(
                app,
                host=host,
                port=port,
                log_level=log_level,
                lifespan="on",
                timeout_graceful_shutdown=graceful_timeout,
            )
        )
        readiness = app.state.readiness
        readiness.on_failure = lambda exc: setattr(server, "should_exit", True)
        server.run()
        if readiness.phase == "failed":
            _common.fail("Startup failed", readiness.error, 1)
        if not server.started:
            raise typer.Exit(3)  # uvicorn's own startup failure (e.g. the port is taken), logged
        return
    if postgres_url:
        # Migrate here, once, before the workers start: they then find the tables up to date, and a
        # database that does not answer ends the command with its cause instead of failing each worker.
        try:
            asyncio.run(migrate_postgres(postgres_url, timeout=startup_timeout))
        except ConfigError as exc:
            _common.fail("Startup failed", exc, 1)
    os.environ.update(
        {
            "FUSION_SERVE_CONFIG": str(config.resolve()) if config is not None else "",
            "FUSION_API_KEYS": ",".join(keys),
            "FUSION_POSTGRES_URL": postgres_url or "",
            "FUSION_SERVE_MAX_CONCURRENCY": str(max_concurrency),
            "FUSION_SERVE_MAX_QUEUE": "" if max_queue is None else str(max_queue),
            "FUSION_SERVE_QUEUE_TIMEOUT": str(queue_timeout),
            "FUSION_SERVE_MAX_BODY_BYTES": str(max_body_bytes),
            "FUSION_SERVE_STARTUP_TIMEOUT": str(startup_timeout),
        }
    )
    # Each worker imports LangChain and the providers before it answers the supervisor's first
    # health check: on a small machine that takes longer than uvicorn's default 5 s.
    uvicorn.run(
        "fusion_graph.server.app:app_from_env",
        factory=True,
        workers=workers,
        host=host,
        port=port,
        log_level=log_level,
        lifespan="on",
        timeout_graceful_shutdown=graceful_timeout,
        timeout_worker_healthcheck=60,
    )
