"""LangGraph Server: ``langgraph dev`` serves langgraph.json's fusion graph offline; langgraph_sdk runs it."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from fusion_graph import ConfigError
from fusion_graph.defaults import default_config
from fusion_graph.server.langgraph_app import check_request, fusion_config, make_graph

REPO = Path(__file__).resolve().parents[2]
ANSWERS = {"1001 = 7 x 11 x 13, so it is not prime.", "1001 is not prime: it is 7 x 143."}
FAKE_POOL = """mode = "best-of"
[judge]
model = "fake:judge"
name = "judge"
[[pool]]
model = "fake:1001 = 7 x 11 x 13, so it is not prime."
name = "alpha"
[[pool]]
model = "fake:1001 is not prime: it is 7 x 143."
name = "beta"
"""
"""The scripted pool the langgraph dev tests serve (FUSION_LANGGRAPH_CONFIG): fast, offline."""


def test_without_a_file_the_default_is_the_offline_local_pool(monkeypatch):
    monkeypatch.delenv("FUSION_LANGGRAPH_CONFIG", raising=False)
    assert fusion_config({}) == default_config()
    assert check_request({"config": {"configurable": {"fusion": "any"}}}) is None  # no file: nothing named


def test_make_graph_reads_the_file_named_by_the_env(monkeypatch, tmp_path):
    path = tmp_path / "fusions.toml"
    path.write_text(
        'judge = "fake:judge"\npool = ["fake:a", "fake:b"]\n'
        '[fusions."x"]\nmode = "merge"\n[fusions."y"]\nmode = "debate"\n'
    )
    monkeypatch.setenv("FUSION_LANGGRAPH_CONFIG", str(path))
    assert "judge" in make_graph({"configurable": {"fusion": "y"}}).nodes
    with pytest.raises(ConfigError, match="configurable.fusion: no fusion is named 'z'"):
        make_graph({"configurable": {"fusion": "z"}})
    error = check_request({"assistant_id": "fusion", "config": {"configurable": {"fusion": "z"}}})
    assert error is not None and error.field == "configurable.fusion"
    assert "use one of ['x', 'y']" in str(error)
    assert check_request({"config": {"configurable": {"fusion": "y"}}}) is None
    assert check_request({"config": {"configurable": {}}}) is None
    assert check_request(["not", "a", "dict"]) is None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.asynccontextmanager
async def _langgraph_dev(tmp_path: Path) -> AsyncIterator[str]:
    """``langgraph dev`` on langgraph.json, offline, on a free 127.0.0.1 port: yields its URL."""
    port = _free_port()
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("FUSION_LANGGRAPH_", "LANGSMITH_", "LANGCHAIN_"))
    }
    pool = tmp_path / "pool.toml"
    pool.write_text(FAKE_POOL)
    env.update(
        LANGGRAPH_CLI_NO_ANALYTICS="1",
        LANGSMITH_TRACING="false",
        LANGCHAIN_TRACING_V2="false",
        FUSION_LANGGRAPH_CONFIG=str(pool),  # a scripted pool: the default local pool is slow to load
    )
    command = [
        str(Path(sys.executable).with_name("langgraph")),
        "dev",
        "--config",
        str(REPO / "langgraph.json"),
        "--port",
        str(port),
        "--host",
        "127.0.0.1",
        "--no-browser",
        "--no-reload",
    ]
    log = (tmp_path / "langgraph-dev.log").open("w")
    # cwd: a temp dir, so the dev server's .langgraph_api state stays out of the repo
    proc = subprocess.Popen(
        command, cwd=tmp_path, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        async with httpx.AsyncClient() as http:
            while True:
                assert proc.poll() is None, (tmp_path / "langgraph-dev.log").read_text()[-3000:]
                assert time.monotonic() < deadline, "langgraph dev did not start in 60 s"
                try:
                    if (await http.get(f"{url}/ok", timeout=1)).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                await _sleep(0.2)
        yield url
    finally:
        os.killpg(proc.pid, signal.SIGINT)
        try:
            code = proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)
            raise
        finally:
            log.close()
    assert code in (0, -signal.SIGINT, 130)


@pytest.mark.slow
async def test_langgraph_dev_serves_the_fusion_graph(tmp_path):
    from langgraph_sdk import get_client

    async with _langgraph_dev(tmp_path) as url:
        client = get_client(url=url)
        thread = await client.threads.create()
        state = await client.runs.wait(
            thread["thread_id"], "fusion", input={"messages": [{"role": "user", "content": "Is 1001 prime?"}]}
        )
        assert isinstance(state, dict)
        assert state["answer"] in ANSWERS
        assert state["messages"][-1]["content"] == state["answer"]
        assert {c["member"] for c in state["candidates"]} == {"alpha", "beta"}
        other = await client.threads.create()
        events = [
            part.data
            async for part in client.runs.stream(
                other["thread_id"],
                "fusion",
                input={"messages": [{"role": "user", "content": "Is 1001 prime?"}]},
                stream_mode="custom",
            )
            if part.event == "custom"
        ]
        assert [e["type"] for e in events][-1] == "verdict"
        # a fusion the file does not have: a 400 naming it, one log line, no failed run's traceback
        bad = httpx.post(
            f"{url}/threads/{other['thread_id']}/runs/wait",
            json={"assistant_id": "fusion", "input": None, "config": {"configurable": {"fusion": "nope"}}},
            timeout=30,
        )
        assert bad.status_code == 400
        assert bad.json()["detail"].startswith("configurable.fusion: no fusion is named 'nope'")
    log = (tmp_path / "langgraph-dev.log").read_text()
    assert "Traceback" not in log
    assert sum("configurable.fusion: no fusion is named 'nope'" in line for line in log.splitlines()) == 1


@pytest.mark.slow
async def test_langgraph_dev_threads_follow_the_thread_table(tmp_path):
    """The rows of fusion_graph._threads through the real server (tests/server/test_langgraph_threads
    drives the same graph in-process, with failing judges and model-call counts)."""
    from langgraph_sdk import get_client

    question = {"role": "user", "content": "Is 1001 prime?"}
    async with _langgraph_dev(tmp_path) as url:
        client = get_client(url=url)
        thread = (await client.threads.create())["thread_id"]
        first = await client.runs.wait(thread, "fusion", input={"messages": [question]})
        assert isinstance(first, dict)
        # the same prompt: the stored state, the thread unchanged
        again = await client.runs.wait(thread, "fusion", input={"messages": [question]})
        assert isinstance(again, dict)
        assert [m["id"] for m in again["messages"]] == [m["id"] for m in first["messages"]]
        assert again["candidates"] == first["candidates"]
        # the whole conversation without ids, as a chat client keeps it: only the new turn is added
        answer = {"role": "assistant", "content": first["answer"]}
        history = [question, answer, {"role": "user", "content": "And 1003?"}]
        state = await client.runs.wait(thread, "fusion", input={"messages": history})
        assert isinstance(state, dict)
        assert [m["type"] for m in state["messages"]] == ["human", "ai", "human", "ai"]
        # an interrupted thread refuses a different prompt, keeps none of it, and resumes
        cut = (await client.threads.create())["thread_id"]
        await client.runs.wait(cut, "fusion", input={"messages": [question]}, interrupt_before=["judge"])
        other: Any = {"messages": [{"role": "user", "content": "And 1003?"}]}
        with pytest.raises(Exception, match="ThreadConflict: .*interrupted before it answered 'Is 1001"):
            await client.runs.wait(cut, "fusion", input=other)
        kept: Any = (await client.threads.get_state(cut))["values"]
        assert [m["content"] for m in kept["messages"]] == ["Is 1001 prime?"]
        state = await client.runs.wait(cut, "fusion", input=None)
        assert isinstance(state, dict)
        assert [m["type"] for m in state["messages"]] == ["human", "ai"] and state["answer"] in ANSWERS


async def _sleep(seconds: float) -> None:
    import asyncio

    await asyncio.sleep(seconds)
