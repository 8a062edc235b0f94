"""Helpers for the tool registry tests: paths of the test servers, ports."""

from __future__ import annotations

import contextlib
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

PY = sys.executable
SERVERS = Path(__file__).resolve().parent / "mcp_servers"
BASIC = str(SERVERS / "mcp_basic.py")
PAGED = str(SERVERS / "mcp_paged.py")
TIME_SERVER = str(Path(sys.executable).parent / "mcp-server-time")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_port(port: int, proc: subprocess.Popen[bytes] | None = None, deadline: float = 15.0) -> None:
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        with socket.socket() as sock:
            sock.settimeout(0.2)
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port}")


def starts(log: Path) -> int:
    """How many mcp_basic processes started with this log."""
    return len(log.read_text().splitlines()) if log.exists() else 0


@contextlib.contextmanager
def http_mcp_server(script: str, env: dict[str, str] | None = None) -> Iterator[str]:
    """A test MCP server script over real streamable HTTP on 127.0.0.1:<free port>, as a subprocess.

    Yields its MCP URL; the process is killed on exit.
    """
    port = free_port()
    proc = subprocess.Popen(
        [PY, script, "--http", "--port", str(port)],
        env={"PATH": "/usr/bin:/bin", **(env or {})},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for_port(port, proc)
        yield f"http://127.0.0.1:{port}/mcp"
    finally:
        proc.kill()
        proc.wait(timeout=10)
