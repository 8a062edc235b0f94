"""PostgreSQL as the server's checkpointer, shared by every worker and replica on the same database."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

from langgraph.checkpoint.base import BaseCheckpointSaver

from fusion_graph.errors import ConfigError, ProviderNotInstalled
from fusion_graph.server._migrate import migrate_postgres

__all__ = ["postgres_checkpointer"]


def postgres_checkpointer(
    url: str, *, max_connections: int = 10, startup_timeout: float = 60.0
) -> Callable[[], AbstractAsyncContextManager[BaseCheckpointSaver[Any]]]:
    """An ``AsyncPostgresSaver`` on a connection pool, opened at startup, for ``create_app``.

    Opening it migrates the tables once (:func:`fusion_graph.server.migrate_postgres`), so any number
    of workers and replicas may start together on a fresh or an existing database.

    Args:
        url: A libpq URL, e.g. ``postgresql://user:pw@127.0.0.1:5432/fusion``.
        max_connections: The pool's size per worker.
        startup_timeout: Seconds to reach the server, migrate and open the pool; past them opening
            fails with an error that names what it waited for.

    Returns:
        A function that returns the async context manager ``create_app(checkpointer=…)`` opens.

    Raises:
        ConfigError: The ``postgres`` extra is missing, the server does not answer, or the migration
            is stuck (raised when opened).

    Example:
        >>> app = create_app(fusions, checkpointer=postgres_checkpointer(url))
    """
    if not startup_timeout > 0:
        raise ConfigError("startup_timeout", "must be more than 0 seconds", "e.g. 60")

    @asynccontextmanager
    async def open_saver() -> AsyncIterator[BaseCheckpointSaver[Any]]:
        try:
            from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver
            from psycopg.rows import dict_row
            from psycopg_pool import AsyncConnectionPool
        except ImportError as exc:
            raise ProviderNotInstalled("postgres_url", "postgres", "postgres") from exc
        loop = asyncio.get_running_loop()
        deadline = loop.time() + startup_timeout
        await migrate_postgres(url, timeout=startup_timeout)
        pool: Any = AsyncConnectionPool(
            url,
            min_size=1,
            max_size=max(2, max_connections),
            open=False,
            kwargs={
                "autocommit": True,
                "prepare_threshold": 0,
                "row_factory": dict_row,
                "application_name": "fusion-graph",
            },
        )
        try:
            try:
                await pool.open(wait=True, timeout=max(1.0, deadline - loop.time()))
            except Exception as exc:
                raise ConfigError(
                    "postgres_url",
                    f"cannot open the connection pool: {exc}",
                    "check that the server runs and accepts more connections (max_connections)",
                ) from exc
            yield AsyncPostgresSaver(pool)
        finally:
            await pool.close()

    return open_saver
