"""Helpers for the tool registry tests: paths of the test servers, ports."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path

PY = sys.executable
SERVERS = Path(__file__).resolve().parents[1] / "servers"
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
