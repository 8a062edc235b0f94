"""Replicas on one PostgreSQL start together, and a start that cannot finish ends with its cause.

Issue 19: two ``fusion serve --postgres-url`` replicas started at once on a fresh database hung
forever (one session held ``pg_advisory_lock`` idle while its ``setup()`` session's ``CREATE INDEX
CONCURRENTLY`` waited on the other replica's session, itself waiting for the lock).

The 20 tries per size open the checkpointer as each replica's startup does, N at once in one event
loop (each its own connections and sessions: the cycle lies in the server, so this reproduces the
hang), each try on a database of its own on the test cluster. Real ``fusion serve`` processes take
seconds each to import on this machine, so they start together once per size (``--workers 2``
beside plain replicas) and in the failure tests. Needs ``FUSION_TEST_POSTGRES_URL``.
"""

from __future__ import annotations

import asyncio
import signal
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import psycopg
import pytest

from fusion_graph.server import postgres_checkpointer

from ._postgres_db import fresh_database, require_postgres
from ._serve_process import ServeProcess

TRIES = 20
TRY_BOUND_S = 20.0
"""Every replica of a try is up within this (a try takes well under a second when nothing hangs)."""

CONFIG = """
[judge]
model = "fake:judge"

[[pool]]
model = "fake:Not prime."
name = "alpha"

[fusions."fusion/best-of"]
"""


@pytest.fixture(scope="module")
def postgres_url() -> str:
    return require_postgres()


@pytest.fixture
def database(postgres_url: str) -> Iterator[str]:
    with fresh_database(postgres_url) as url:
        yield url


async def _start_together(url: str, replicas: int) -> float:
    """Open ``replicas`` checkpointers on ``url`` at once, use each, close them; the seconds it took."""
    started = asyncio.Event()

    async def replica() -> None:
        await started.wait()
        async with postgres_checkpointer(url)() as saver:
            assert await saver.aget_tuple({"configurable": {"thread_id": "none"}}) is None

    tasks = [asyncio.ensure_future(replica()) for _ in range(replicas)]
    t0 = time.monotonic()
    started.set()
    try:
        await asyncio.wait_for(asyncio.gather(*tasks), TRY_BOUND_S)
    except TimeoutError:
        pytest.fail(f"{replicas} replicas started together were not up in {TRY_BOUND_S:g} s")
    return time.monotonic() - t0


@pytest.mark.slow
@pytest.mark.parametrize("replicas", [2, 4])
async def test_replicas_started_together_on_fresh_databases_come_up(postgres_url: str, replicas: int):
    took = []
    for _ in range(TRIES):
        with fresh_database(postgres_url) as url:
            took.append(await _start_together(url, replicas))
            # an existing, migrated database: the same again
            took.append(await _start_together(url, replicas))
    assert len(took) == 2 * TRIES and max(took) < TRY_BOUND_S
    print(f"{replicas} replicas x {TRIES} fresh + {TRIES} existing: slowest try {max(took):.2f} s")


def _tables(url: str) -> set[str]:
    with psycopg.connect(url) as conn:
        rows = conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'").fetchall()
        versions = conn.execute("SELECT count(*) FROM checkpoint_migrations").fetchone()
    assert versions is not None and versions[0] > 0
    return {row[0] for row in rows}


@pytest.mark.slow
def test_fusion_serve_replicas_started_together_are_ready(database: str, tmp_path: Path):
    config = tmp_path / "fusions.toml"
    config.write_text(CONFIG)
    args = ["--postgres-url", database, "--startup-timeout", "30"]
    # a replica of two workers beside a plain one: three processes open the fresh database at once
    procs = [ServeProcess(config, *args, "--workers", "2"), ServeProcess(config, *args)]
    try:
        for proc in procs:
            proc.wait_ready(timeout=90)
        for proc in procs:
            r = httpx.post(
                f"{proc.base_url}/chat/completions",
                json={"model": "fusion/best-of", "messages": [{"role": "user", "content": "Is 1001 prime?"}]},
                timeout=30,
            )
            assert r.status_code == 200 and r.json()["choices"][0]["message"]["content"] == "Not prime."
    finally:
        for proc in procs:
            proc.stop()
    assert {"checkpoints", "checkpoint_writes", "checkpoint_blobs"} <= _tables(database)
    assert not any(proc.errors() for proc in procs)


@pytest.fixture
def lock_held(database: str) -> Iterator[int]:
    """Another session holds the migration lock (a replica stuck mid-migration): its pid."""
    from fusion_graph.server._migrate import MIGRATION_LOCK

    with psycopg.connect(database, autocommit=True, application_name="stuck replica") as conn:
        conn.execute("SELECT pg_advisory_lock(%s)", (MIGRATION_LOCK,))
        yield conn.info.backend_pid


def _wait_health(proc: ServeProcess, timeout: float = 60) -> httpx.Response:
    deadline = time.monotonic() + timeout
    while True:
        assert proc.proc.poll() is None, proc.log.read_text()
        assert time.monotonic() < deadline, f"/health did not answer:\n{proc.log.read_text()}"
        try:
            return httpx.get(f"{proc.url}/health", timeout=1)
        except httpx.TransportError:
            time.sleep(0.1)


@pytest.mark.slow
def test_a_migration_stuck_on_the_lock_is_reported_then_fails_the_start(
    database: str, lock_held: int, tmp_path: Path
):
    config = tmp_path / "fusions.toml"
    config.write_text(CONFIG)
    proc = ServeProcess(config, "--postgres-url", database, "--startup-timeout", "4")
    try:
        live = _wait_health(proc)
        ready = httpx.get(f"{proc.url}/health/ready", timeout=5)
        assert live.status_code == 200 and live.json() == {"status": "ok", "phase": "starting"}
        assert ready.status_code == 503 and ready.json() == {"status": "starting"}
        # a request waits for the startup, then gets its cause
        r = httpx.get(f"{proc.base_url}/models", timeout=30)
        assert r.status_code == 503 and r.json()["error"]["code"] == "not_ready"
        assert f"pid {lock_held}" in r.json()["error"]["message"]
        code = proc.proc.wait(30)
    finally:
        proc.stop()
    log = " ".join(proc.log.read_text().split())  # rich wraps lines
    assert code == 1, log
    assert "Startup failed" in log and "did not finish within 4 s (waiting for the migration lock)" in log
    assert f"the lock is held by pid {lock_held} (application 'stuck replica'" in log


@pytest.mark.slow
@pytest.mark.parametrize("workers", [1, 2])
def test_an_unreachable_database_fails_the_start_naming_it(tmp_path: Path, workers: int):
    with socket.socket() as closed:  # a port nothing listens on
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    config = tmp_path / "fusions.toml"
    config.write_text(CONFIG)
    url = f"postgresql://fusion:secret@127.0.0.1:{port}/fusion"
    t0 = time.monotonic()
    proc = ServeProcess(config, "--postgres-url", url, "--startup-timeout", "2", "--workers", str(workers))
    try:
        code = proc.proc.wait(60)
    finally:
        proc.stop()
    log = " ".join(proc.log.read_text().split())  # rich wraps lines
    assert code == 1, log
    assert f"cannot reach PostgreSQL at 127.0.0.1:{port}/fusion within 2 s" in log
    assert "secret" not in log
    assert time.monotonic() - t0 < 45


@pytest.mark.slow
def test_sigterm_during_startup_stops_at_once(database: str, lock_held: int, tmp_path: Path):
    config = tmp_path / "fusions.toml"
    config.write_text(CONFIG)
    proc = ServeProcess(config, "--postgres-url", database, "--graceful-timeout", "5")
    try:
        assert _wait_health(proc).json()["phase"] == "starting"
        t0 = time.monotonic()
        proc.proc.send_signal(signal.SIGTERM)
        code = proc.proc.wait(10)
        took = time.monotonic() - t0
    finally:
        proc.stop()
    assert code == -signal.SIGTERM, proc.log.read_text()
    assert took < 5, f"stopped in {took:.1f} s"
    # its polling session is gone: nothing of it waits in the server
    with psycopg.connect(database) as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'fusion-graph migrate'"
        ).fetchone()
    assert row == (0,)


def test_fusion_db_migrate_creates_the_tables_once(database: str):
    from typer.testing import CliRunner

    from fusion_graph.cli import app

    runner = CliRunner()
    first = runner.invoke(app, ["db", "migrate", "--postgres-url", database])
    again = runner.invoke(app, ["db", "migrate", "--postgres-url", database])
    assert first.exit_code == 0 and "applied" in first.output, first.output
    assert again.exit_code == 0 and "the tables were up to date" in again.output, again.output
    assert {"checkpoints", "checkpoint_writes", "checkpoint_blobs"} <= _tables(database)


def test_fusion_db_migrate_names_an_unreachable_server():
    from typer.testing import CliRunner

    from fusion_graph.cli import app

    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    url = f"postgresql://postgres@127.0.0.1:{port}/fusion"
    result = CliRunner().invoke(app, ["db", "migrate", "--postgres-url", url, "--timeout", "1"])
    assert result.exit_code == 1
    assert f"cannot reach PostgreSQL at 127.0.0.1:{port}/fusion within 1 s" in " ".join(result.output.split())


async def test_a_migration_waiting_for_a_long_transaction_names_it_and_a_later_start_repairs(database: str):
    from fusion_graph.errors import ConfigError
    from fusion_graph.server import migrate_postgres

    # a transaction with a snapshot, left open: CREATE INDEX CONCURRENTLY waits for it to end
    with psycopg.connect(database, application_name="long report") as other:
        other.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        other.execute("SELECT 1")
        with pytest.raises(ConfigError) as caught:
            await migrate_postgres(database, timeout=3)
        message = str(caught.value)
        assert "did not finish within 3 s (migrating)" in message
        assert (
            f"it waits for pid {other.info.backend_pid} (application 'long report', idle in transaction"
            in message
        )
    # the transaction is over: the next start finishes the migration, rebuilding the cancelled index
    assert await migrate_postgres(database, timeout=30) >= 1
    with psycopg.connect(database) as conn:
        invalid = conn.execute("SELECT count(*) FROM pg_index WHERE NOT indisvalid").fetchone()
        index = conn.execute("SELECT to_regclass('checkpoints_thread_id_idx') IS NOT NULL").fetchone()
    assert invalid == (0,) and index == (True,)
