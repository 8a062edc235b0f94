"""LangGraph Server: ``langgraph dev`` serves langgraph.json's fusion graph offline; langgraph_sdk runs it."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from langgraph.graph import StateGraph

from fusion_graph import ConfigError
from fusion_graph.server.langgraph_app import make_graph

REPO = Path(__file__).resolve().parents[2]
ANSWERS = {"1001 = 7 x 11 x 13, so it is not prime.", "1001 is not prime: it is 7 x 143."}


def test_make_graph_reads_the_file_named_by_the_env(monkeypatch, tmp_path):
    monkeypatch.delenv("FUSION_LANGGRAPH_CONFIG", raising=False)
    assert isinstance(make_graph({}), StateGraph)
    path = tmp_path / "fusions.toml"
    path.write_text(
        'judge = "fake:judge"\npool = ["fake:a", "fake:b"]\n'
        '[fusions."x"]\nmode = "merge"\n[fusions."y"]\nmode = "debate"\n'
    )
    monkeypatch.setenv("FUSION_LANGGRAPH_CONFIG", str(path))
    assert "judge" in make_graph({"configurable": {"fusion": "y"}}).nodes
    with pytest.raises(ConfigError, match="no fusion is named 'z'"):
        make_graph({"configurable": {"fusion": "z"}})


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.slow
async def test_langgraph_dev_serves_the_fusion_graph(tmp_path):
    from langgraph_sdk import get_client

    port = _free_port()
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("FUSION_LANGGRAPH_", "LANGSMITH_", "LANGCHAIN_"))
    }
    env.update(LANGGRAPH_CLI_NO_ANALYTICS="1", LANGSMITH_TRACING="false", LANGCHAIN_TRACING_V2="false")
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


async def _sleep(seconds: float) -> None:
    import asyncio

    await asyncio.sleep(seconds)
