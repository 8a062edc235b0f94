"""Two server workers share fusion runs through one PostgreSQL (AsyncPostgresSaver).

Worker A is an app in this process, B a separate ``fusion serve --workers 2 --postgres-url``.
Needs ``FUSION_TEST_POSTGRES_URL`` (``.ci/run`` starts PostgreSQL with scripts/start-postgres.sh).
"""

from __future__ import annotations

import concurrent.futures
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import pytest

from fusion_graph.server import create_app, postgres_checkpointer

from ._postgres_db import require_postgres as _postgres_url
from .conftest import ANSWERS, pool_config, serve

PROMPT = [{"role": "user", "content": "Is 1001 prime?"}]
WORKER_B = """
[judge]
model = "fake:judge"

[[pool]]
model = "fake:worker B would say this"
name = "b-only"

[fusions."fusion/best-of"]
"""


@pytest.fixture(scope="module")
def postgres_url() -> str:
    return _postgres_url()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def worker_b(postgres_url: str, tmp_path: Path) -> Iterator[str]:
    config = tmp_path / "fusions.toml"
    config.write_text(WORKER_B)
    port = _free_port()
    fusion = Path(sys.executable).with_name("fusion")
    proc = subprocess.Popen(
        [
            str(fusion),
            "serve",
            "-c",
            str(config),
            "--port",
            str(port),
            "--workers",
            "2",
            "--log-level",
            "warning",
        ],
        env={**os.environ, "FUSION_POSTGRES_URL": postgres_url, "FUSION_API_KEYS": ""},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 45
        while True:
            assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
            assert time.monotonic() < deadline, "worker B did not start"
            try:
                if httpx.get(f"{url}/health/ready", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        yield url
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


@pytest.mark.slow
def test_a_run_started_on_one_worker_is_read_on_the_other(postgres_url, worker_b):
    app = create_app(
        {"fusion/best-of": pool_config(latency=1.0)}, checkpointer=postgres_checkpointer(postgres_url)
    )
    thread_id = f"t-{uuid.uuid4().hex}"
    with serve(app) as worker_a, concurrent.futures.ThreadPoolExecutor(1) as pool:
        client_a = openai.OpenAI(base_url=worker_a.base_url, api_key="x", max_retries=0)
        pending = pool.submit(
            client_a.chat.completions.create,
            model="fusion/best-of",
            messages=PROMPT,
            extra_body={"thread_id": thread_id},
        )
        # while A runs it, B sees the run in the shared database
        seen = set()
        deadline = time.monotonic() + 10
        while not pending.done() and time.monotonic() < deadline:
            r = httpx.get(f"{worker_b}/v1/fusions/{thread_id}", timeout=5)
            seen.add(r.json()["status"] if r.status_code == 200 else r.status_code)
            time.sleep(0.1)
        response = pending.result(timeout=20)
    assert "running" in seen
    fusion_a = (response.model_extra or {})["fusion"]
    assert fusion_a["thread_id"] == thread_id and response.choices[0].message.content in ANSWERS

    # A is gone; B reads the finished run
    stored = httpx.get(f"{worker_b}/v1/fusions/{thread_id}", timeout=5).json()
    assert stored["status"] == "completed"
    assert stored["fusion"]["answer"] == fusion_a["answer"]
    assert [c["member"] for c in stored["fusion"]["candidates"]] == [
        c["member"] for c in fusion_a["candidates"]
    ]

    # re-sending the thread to B returns A's stored run: B's own pool (b-only) never answers
    client_b = openai.OpenAI(base_url=f"{worker_b}/v1", api_key="x", max_retries=0)
    again = client_b.chat.completions.create(
        model="fusion/best-of", messages=PROMPT, extra_body={"thread_id": thread_id}
    )  # type: ignore[arg-type]
    assert again.choices[0].message.content == fusion_a["answer"]
    assert {c["member"] for c in (again.model_extra or {})["fusion"]["candidates"]} == {
        "alpha",
        "beta",
        "gamma",
    }

    # a fresh run on B gets a thread id of its own, readable too
    fresh = client_b.chat.completions.create(model="fusion/best-of", messages=PROMPT)  # type: ignore[arg-type]
    fresh_id = (fresh.model_extra or {})["fusion"]["thread_id"]
    assert fresh_id and fresh_id != thread_id
    assert httpx.get(f"{worker_b}/v1/fusions/{fresh_id}", timeout=5).json()["fusion"]["answer"] == (
        "worker B would say this"
    )
    missing = httpx.get(f"{worker_b}/v1/fusions/t-nope-{uuid.uuid4().hex}", timeout=5)
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"


@pytest.mark.parametrize("ci", ["true", "1", "TRUE"])
def test_a_missing_postgres_fails_under_ci(monkeypatch: pytest.MonkeyPatch, ci: str):
    monkeypatch.delenv("FUSION_TEST_POSTGRES_URL", raising=False)
    monkeypatch.setenv("CI", ci)
    with pytest.raises(pytest.fail.Exception, match="FUSION_TEST_POSTGRES_URL is not set.*CI is set"):
        _postgres_url()


def test_an_unreachable_postgres_fails_under_ci(monkeypatch: pytest.MonkeyPatch):
    with socket.socket() as closed:  # a port nothing listens on
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    monkeypatch.setenv("FUSION_TEST_POSTGRES_URL", f"postgresql://postgres@127.0.0.1:{port}/fusion_test")
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match=f"127.0.0.1:{port}/fusion_test does not answer"):
        _postgres_url()


@pytest.mark.parametrize("ci", [None, "", "false", "0"])
def test_a_missing_postgres_skips_outside_ci(monkeypatch: pytest.MonkeyPatch, ci: str | None):
    monkeypatch.setenv("FUSION_TEST_POSTGRES_URL", "")
    if ci is None:
        monkeypatch.delenv("CI", raising=False)
    else:
        monkeypatch.setenv("CI", ci)
    with pytest.raises(pytest.skip.Exception, match="start-postgres.sh"):
        _postgres_url()


def test_without_a_checkpointer_threads_are_404():
    with serve(create_app({"fusion/best-of": pool_config()})) as server:
        r = httpx.get(f"{server.base_url}/fusions/abc", timeout=5)
    assert r.status_code == 404 and r.json()["error"]["code"] == "no_checkpointer"


def test_a_failed_run_is_kept_as_failed_with_its_error():
    from langgraph.checkpoint.memory import InMemorySaver

    app = create_app({"fusion/best-of": pool_config(failing=True)}, checkpointer=InMemorySaver())
    with serve(app) as server:
        client = openai.OpenAI(base_url=server.base_url, api_key="x", max_retries=0)
        with pytest.raises(openai.InternalServerError) as caught:
            client.chat.completions.create(model="fusion/best-of", messages=PROMPT)  # type: ignore[arg-type]
        thread_id = caught.value.response.headers["x-fusion-thread-id"]
        stored = httpx.get(f"{server.base_url}/fusions/{thread_id}", timeout=5).json()
    assert stored["status"] == "failed"
    assert "alpha is down" in stored["error"]
