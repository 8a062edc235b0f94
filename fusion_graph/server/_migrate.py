"""The checkpoint tables' migration: run once, by the session that holds the lock, within a deadline.

Every replica (and every ``--workers`` process) of ``fusion serve`` on one database calls
:func:`migrate_postgres` at startup. The tables are usually up to date, and one query says so.
Otherwise the replica takes a session advisory lock **without waiting in the server**
(``pg_try_advisory_lock`` polled from the client) and runs ``AsyncPostgresSaver.setup()`` on that
same session.

Why not ``pg_advisory_lock`` on one pooled connection and ``setup()`` on another (as before):
``setup()`` runs ``CREATE INDEX CONCURRENTLY``, which waits for every transaction that is open in
the database, and a replica blocked in ``SELECT pg_advisory_lock(…)`` is one. That replica waits for
the lock, whose holder waits for its own ``setup()`` session: a cycle through the client that
PostgreSQL cannot see, so two replicas started together on a fresh database hung forever. A client
that polls sits idle between tries, outside any transaction, and the index build does not wait for it.

A stuck step fails after the deadline with an error that names what it waited for: the server that
does not answer, the session that holds the lock, or the session the migration's index build waits on.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from typing import Any
from urllib.parse import urlsplit

from fusion_graph.errors import ConfigError, ProviderNotInstalled

__all__ = ["MIGRATION_LOCK", "connect", "migrate_postgres"]

MIGRATION_LOCK = 0x46555349
"""The advisory lock key (per database) that one session holds while it migrates."""

_APP_NAME = "fusion-graph migrate"
_FIX_WAIT = "or pass a longer --startup-timeout (create_app/postgres_checkpointer: startup_timeout=)"


def _where(url: str) -> str:
    """``host:port/db`` of a libpq URL, without user or password (for error messages)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "the given URL"
    if not parts.scheme.startswith("postgres"):
        return "the given URL"
    host = parts.hostname or "localhost"
    port = parts.port or 5432
    return f"{host}:{port}{parts.path or ''}"


async def connect(url: str, *, deadline: float, timeout: float, application_name: str = _APP_NAME) -> Any:
    """An autocommit connection (dict rows), tried again until ``deadline`` (event-loop time).

    Args:
        url: A libpq URL.
        deadline: The loop time after which the last failure is raised.
        timeout: The whole startup's seconds, for the message.
        application_name: Shown in ``pg_stat_activity``.

    Returns:
        A ``psycopg.AsyncConnection``.

    Raises:
        ConfigError: The server did not accept a connection before the deadline; names the cause.
    """
    try:
        import psycopg
        from psycopg.rows import dict_row
    except ImportError as exc:
        raise ProviderNotInstalled("postgres_url", "postgres", "postgres") from exc
    loop = asyncio.get_running_loop()
    options: dict[str, Any] = {"autocommit": True, "prepare_threshold": 0, "row_factory": dict_row}
    delay = 0.1
    while True:
        left = deadline - loop.time()
        try:
            return await psycopg.AsyncConnection.connect(
                url,
                connect_timeout=max(1, min(10, round(left))),
                application_name=application_name,
                **options,
            )
        except psycopg.OperationalError as exc:
            if loop.time() + delay >= deadline:
                cause = " ".join(str(exc).split()) or type(exc).__name__
                raise ConfigError(
                    "postgres_url",
                    f"cannot reach PostgreSQL at {_where(url)} within {timeout:g} s: {cause}",
                    f"check the URL and that PostgreSQL runs and accepts connections from here, {_FIX_WAIT}",
                ) from exc
        except psycopg.Error as exc:  # a bad URL or option: trying again will not help
            raise ConfigError("postgres_url", f"cannot connect: {exc}", "check the URL") from exc
        await asyncio.sleep(delay)
        delay = min(delay * 2, 2.0)


async def _version(conn: Any) -> int:
    """The newest applied migration, -1 when there is none (or no table yet)."""
    import psycopg

    try:
        cursor = await conn.execute("SELECT v FROM checkpoint_migrations ORDER BY v DESC LIMIT 1")
    except psycopg.errors.UndefinedTable:
        return -1
    row = await cursor.fetchone()
    return -1 if row is None else int(row["v"])


async def _take_lock(conn: Any) -> None:
    """Hold :data:`MIGRATION_LOCK` on ``conn``'s session, polling: idle between tries, never blocked."""
    delay = 0.02
    while True:
        cursor = await conn.execute("SELECT pg_try_advisory_lock(%s) AS got", (MIGRATION_LOCK,))
        row = await cursor.fetchone()
        if row is not None and row["got"]:
            return
        await asyncio.sleep(delay * (0.5 + random.random()))
        delay = min(delay * 1.5, 0.25)


async def _drop_invalid_indexes(conn: Any) -> None:
    """Drop the checkpoint tables' invalid indexes: what a cancelled ``CREATE INDEX CONCURRENTLY`` leaves.

    The migrations say ``IF NOT EXISTS``, so an invalid index left by a start that timed out (or was
    stopped) mid-build would be kept, unused, for good; dropped, the migration builds it again.
    """
    from psycopg import sql

    cursor = await conn.execute(
        "SELECT c.relname FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
        "JOIN pg_class t ON t.oid = i.indrelid WHERE NOT i.indisvalid "
        "AND t.relname IN ('checkpoints', 'checkpoint_blobs', 'checkpoint_writes') "
        "AND t.relnamespace = current_schema()::regnamespace"
    )
    for row in await cursor.fetchall():
        await conn.execute(
            sql.SQL("DROP INDEX CONCURRENTLY IF EXISTS {}").format(sql.Identifier(row["relname"]))
        )


async def migrate_postgres(url: str, *, timeout: float = 60.0) -> int:
    """Bring the checkpoint tables to this version of ``langgraph-checkpoint-postgres``, once.

    Safe to call from any number of processes at once, on a fresh or an existing database.

    Args:
        url: A libpq URL.
        timeout: Seconds for the whole step (connecting, waiting for the lock, migrating).

    Returns:
        How many migrations this call applied (0: the tables were up to date, or another process
        brought them up to date while this one waited).

    Raises:
        ConfigError: The ``postgres`` extra is missing; the server did not answer, or the migration
            did not finish, within ``timeout`` (the message names the session it waited for).

    Example:
        >>> await migrate_postgres("postgresql://fusion@db:5432/fusion", timeout=60)
        0
    """
    try:
        import psycopg
        from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver
    except ImportError as exc:
        raise ProviderNotInstalled("postgres_url", "postgres", "postgres") from exc
    if not timeout > 0:
        raise ConfigError("startup_timeout", "must be more than 0 seconds", "e.g. 60")
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    latest = len(AsyncPostgresSaver.MIGRATIONS) - 1
    conn = await connect(url, deadline=deadline, timeout=timeout)
    step = ["waiting for the migration lock"]

    async def locked_setup() -> int:
        if await _version(conn) >= latest:
            return 0
        await _take_lock(conn)
        step[0] = "migrating"
        before = await _version(conn)
        if before < latest:
            await _drop_invalid_indexes(conn)
            await AsyncPostgresSaver(conn).setup()
        await conn.execute("SELECT pg_advisory_unlock(%s)", (MIGRATION_LOCK,))
        return max(0, latest - before)

    work = asyncio.ensure_future(locked_setup())
    try:
        await asyncio.wait({work}, timeout=max(0.0, deadline - loop.time()))
        if work.done():
            try:
                return work.result()
            except psycopg.Error as exc:
                raise ConfigError(
                    "postgres_url",
                    f"the checkpoint tables' migration failed: {exc}",
                    "check that the URL's user may create tables and indexes in that database",
                ) from exc
        # Read what it waits for while it still waits; cancelling cancels its query in the server.
        problem = await _stuck(url, conn.info.backend_pid, step[0], timeout)
        raise ConfigError(
            "postgres_url",
            problem,
            f"end or finish the session named there (SELECT pg_terminate_backend(pid)), {_FIX_WAIT}",
        )
    finally:
        if not work.done():
            work.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await work
        await conn.close()  # ends the session, and so its lock, whatever happened


async def _stuck(url: str, pid: int, step: str, timeout: float) -> str:
    """What the migration of session ``pid`` waited for, as a sentence (read on a new connection)."""
    head = f"the checkpoint tables' migration did not finish within {timeout:g} s ({step})"
    try:
        loop = asyncio.get_running_loop()
        conn = await connect(
            url, deadline=loop.time() + 5, timeout=5, application_name="fusion-graph diagnose"
        )
    except ConfigError:
        return head
    try:
        async with conn, asyncio.timeout(5):
            if step.startswith("waiting"):
                blockers = await _rows(
                    conn,
                    "SELECT a.pid, a.application_name, a.state, a.query, "
                    "round(extract(epoch FROM now() - a.backend_start)) AS age_s "
                    "FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
                    "WHERE l.locktype = 'advisory' AND l.granted AND l.classid = 0 AND l.objid = %s "
                    "AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())",
                    (MIGRATION_LOCK,),
                )
                what = "the lock is held by"
            else:
                blockers = await _rows(
                    conn,
                    "SELECT a.pid, a.application_name, a.state, a.query, "
                    "round(extract(epoch FROM now() - coalesce(a.xact_start, a.backend_start))) AS age_s "
                    "FROM pg_stat_activity a WHERE a.pid = ANY(pg_blocking_pids(%s))",
                    (pid,),
                )
                what = "it waits for"
    except Exception as exc:  # noqa: BLE001 - the diagnosis is a courtesy; the timeout is the error
        return f"{head}; could not read pg_stat_activity: {exc}"
    if not blockers:
        return head
    sessions = "; ".join(
        f"pid {b['pid']} (application {b['application_name'] or '?'!r}, {b['state']}, "
        f"for {float(b['age_s'] or 0):g} s, query {_short(b['query'])!r})"
        for b in blockers
    )
    return f"{head}: {what} {sessions}"


async def _rows(conn: Any, query: str, params: tuple[Any, ...]) -> list[dict[str, Any]]:
    cursor = await conn.execute(query, params)
    return list(await cursor.fetchall())


def _short(text: str | None, limit: int = 80) -> str:
    text = " ".join((text or "").split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
