"""Malformed JSON-RPC sent to `fusion tools serve --transport http` (a real process on 127.0.0.1).

Hypothesis (fixed seed) sends bytes that are not JSON, JSON that is not JSON-RPC, JSON-RPC with
junk methods, ids and params, batches, and junk MCP headers, with and without a live session. The
bar: no response at or above 500, no dropped connection, every JSON error a JSON-RPC error object,
and the server still answers a valid ``tools/list`` afterwards, with nothing in its log but warnings.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

pytestmark = [pytest.mark.fuzz, pytest.mark.timeout(120)]

BIN = Path(sys.executable).parent
ACCEPT = "application/json, text/event-stream"
PROTOCOL = "2025-06-18"
FUZZ = settings(
    max_examples=60,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class ToolsServer:
    """``fusion tools serve --transport http`` with the time MCP server and a fake pool's fuse tool."""

    def __init__(self, tmp: Path) -> None:
        config = tmp / "tools.toml"
        config.write_text(
            'mode = "best-of"\njudge = "fake:judge"\npool = ["fake:one", "fake:two"]\n\n'
            f'[[tools.servers]]\nname = "time"\ntransport = "stdio"\ncommand = "{BIN / "mcp-server-time"}"\n'
            'args = ["--local-timezone", "UTC"]\n'
        )
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}/mcp"
        self.log = tmp / "tools-serve.log"
        command = [str(BIN / "fusion"), "tools", "serve", "--config", str(config), "--transport", "http"]
        with self.log.open("w") as out:
            self.proc = subprocess.Popen(
                [*command, "--port", str(self.port)],
                stdout=out,
                stderr=subprocess.STDOUT,
                env={**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"},
            )

    def wait_ready(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"fusion tools serve exited:\n{self.log.read_text()}")
            try:
                httpx.get(self.url, timeout=1)
                return
            except httpx.TransportError:
                time.sleep(0.1)
        raise RuntimeError(f"fusion tools serve did not start:\n{self.log.read_text()}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


def _rpc(client: httpx.Client, url: str, body: Any, session: str | None = None) -> httpx.Response:
    headers = {"content-type": "application/json", "accept": ACCEPT, "mcp-protocol-version": PROTOCOL}
    if session:
        headers["mcp-session-id"] = session
    return client.post(url, content=json.dumps(body), headers=headers)


def _initialize(client: httpx.Client, url: str) -> str:
    params = {"protocolVersion": PROTOCOL, "capabilities": {}, "clientInfo": {"name": "fuzz", "version": "0"}}
    response = _rpc(client, url, {"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": params})
    assert response.status_code == 200, response.text
    session = response.headers["mcp-session-id"]
    _rpc(client, url, {"jsonrpc": "2.0", "method": "notifications/initialized"}, session)
    return session


def _result(response: httpx.Response) -> dict[str, Any]:
    """The JSON-RPC message of a response, plain JSON or the ``data:`` of an SSE response."""
    text = response.text
    if response.headers.get("content-type", "").startswith("text/event-stream"):
        text = next(line[6:] for line in text.splitlines() if line.startswith("data: "))
    return json.loads(text)


@pytest.fixture(scope="module")
def tools_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ToolsServer, str]]:
    server = ToolsServer(tmp_path_factory.mktemp("tools-serve"))
    try:
        server.wait_ready()
        with httpx.Client(timeout=30) as client:
            session = _initialize(client, server.url)
        yield server, session
    finally:
        server.stop()
    log = server.log.read_text()
    assert "Traceback" not in log and "ERROR" not in log, log[-3000:]


TEXT = st.text(max_size=16) | st.sampled_from(["", "\x00", "\U0001f600", "caf\u00e9", "x" * 500])
LEAF = st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats(allow_nan=False) | TEXT
JSON = st.recursive(
    LEAF, lambda kids: st.lists(kids, max_size=3) | st.dictionaries(TEXT, kids, max_size=3), max_leaves=8
)
METHODS = st.sampled_from(
    [
        "initialize",
        "tools/list",
        "tools/call",
        "ping",
        "resources/read",
        "prompts/get",
        "notifications/cancelled",
    ]
)
ENVELOPE = st.fixed_dictionaries(
    {},
    optional={
        "jsonrpc": st.just("2.0") | JSON,
        "id": st.integers() | TEXT | JSON,
        "method": METHODS | TEXT | JSON,
        "params": st.fixed_dictionaries(
            {},
            optional={"name": st.sampled_from(["fuse", "time__get_current_time"]) | JSON, "arguments": JSON},
        )
        | JSON,
    },
)
BODY = (
    ENVELOPE.map(lambda body: json.dumps(body).encode())
    | st.lists(ENVELOPE, max_size=3).map(lambda batch: json.dumps(batch).encode())
    | JSON.map(lambda value: json.dumps(value).encode())
    | st.binary(max_size=64)
    | st.integers(1, 20_000).map(lambda depth: b"[" * depth + b"]" * depth)
    | st.sampled_from([b"", b"{", b'{"jsonrpc": "2.0", "id": 1, "method": "tools/list"', b'{"a": "\\ud800"}'])
)
HEADERS = st.fixed_dictionaries(
    {},
    optional={
        "content-type": st.sampled_from(
            ["application/json", "text/plain", "application/json; charset=latin-1"]
        ),
        "accept": st.sampled_from([ACCEPT, "application/json", "text/html", ""]),
        "mcp-protocol-version": st.sampled_from([PROTOCOL, "1999-01-01", "junk"]),
        "mcp-session-id": st.sampled_from(["", "0" * 32, "junk-session"]),
    },
)


@FUZZ
@given(body=BODY, headers=HEADERS, live_session=st.booleans())
def test_malformed_json_rpc_never_breaks_fusion_tools_serve(tools_server, body, headers, live_session):
    server, session = tools_server
    sent = {"content-type": "application/json", "accept": ACCEPT, **headers}
    if live_session:
        sent["mcp-session-id"] = session
    sent = {name: value for name, value in sent.items() if value}
    with httpx.Client(timeout=30) as client:
        response = client.post(server.url, content=body, headers=sent)  # a dropped connection raises
    assert response.status_code < 500, f"{response.status_code} {response.text[:300]} for {body[:200]!r}"
    if response.status_code >= 400 and response.headers.get("content-type", "").startswith(
        "application/json"
    ):
        error = response.json()
        assert error.get("jsonrpc") == "2.0" and isinstance(error.get("error"), dict), response.text[:300]
        assert isinstance(error["error"].get("code"), int) and isinstance(error["error"].get("message"), str)
    assert server.proc.poll() is None, "the server died"


def test_it_still_answers_after_the_fuzzing(tools_server):
    server, session = tools_server
    with httpx.Client(timeout=30) as client:
        response = _rpc(client, server.url, {"jsonrpc": "2.0", "id": 7, "method": "tools/list"}, session)
    assert response.status_code == 200, response.text
    names = {tool["name"] for tool in _result(response)["result"]["tools"]}
    assert {"fuse", "time__get_current_time"} <= names
