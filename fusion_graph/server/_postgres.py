"""PostgreSQL as the server's checkpointer, shared by every worker on the same database."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

from langgraph.checkpoint.base import BaseCheckpointSaver

from fusion_graph.errors import ConfigError, ProviderNotInstalled

__all__ = ["postgres_checkpointer"]

_SETUP_LOCK = 0x46555349  # pg_advisory_lock key: one worker runs the migrations at a time


def postgres_checkpointer(
    url: str, *, max_connections: int = 10
) -> Callable[[], AbstractAsyncContextManager[BaseCheckpointSaver[Any]]]:
    """An ``AsyncPostgresSaver`` on a connection pool, opened at startup, for ``create_app``.

    The tables are created (``setup()``) on first use, under an advisory lock, so several workers
    may start together on one database.

    Args:
        url: A libpq URL, e.g. ``postgresql://user:pw@127.0.0.1:5432/fusion``.
        max_connections: The pool's size per worker.

    Returns:
        A function that returns the async context manager ``create_app(checkpointer=…)`` opens.

    Raises:
        ConfigError: The ``postgres`` extra is missing (raised when opened).

    Example:
        >>> app = create_app(fusions, checkpointer=postgres_checkpointer(url))
    """

    @asynccontextmanager
    async def open_saver() -> AsyncIterator[BaseCheckpointSaver[Any]]:
        try:
            from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver
            from psycopg.rows import dict_row
            from psycopg_pool import AsyncConnectionPool
        except ImportError as exc:
            raise ProviderNotInstalled("postgres_url", "postgres", "postgres") from exc
        pool: Any = AsyncConnectionPool(
            url,
            min_size=1,
            max_size=max(2, max_connections),
            open=False,
            kwargs={"autocommit": True, "prepare_threshold": 0, "row_factory": dict_row},
        )
        try:
            await pool.open(wait=True, timeout=15)
        except Exception as exc:
            await pool.close()
            raise ConfigError(
                "postgres_url", f"cannot connect: {exc}", "check the URL and that the server runs"
            ) from exc
        try:
            saver = AsyncPostgresSaver(pool)
            async with pool.connection() as conn:
                await conn.execute("SELECT pg_advisory_lock(%s)", (_SETUP_LOCK,))
                try:
                    await saver.setup()
                finally:
                    await conn.execute("SELECT pg_advisory_unlock(%s)", (_SETUP_LOCK,))
            yield saver
        finally:
            await pool.close()

    return open_saver
