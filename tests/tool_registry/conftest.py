"""Fixtures for the tool registry tests: real MCP servers over stdio and streamable HTTP."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from ._helpers import BASIC, PY, free_port, wait_for_port


@pytest.fixture
def start_log(tmp_path: Path) -> Path:
    """A file every mcp_basic process appends its pid to at start."""
    return tmp_path / "starts.log"


@pytest.fixture
def http_server(start_log: Path) -> Iterator[str]:
    """mcp_basic over real streamable HTTP on 127.0.0.1:<free port>, as a subprocess."""
    port = free_port()
    proc = subprocess.Popen(
        [PY, BASIC, "--http", "--port", str(port)],
        env={"MCP_START_LOG": str(start_log), "PATH": "/usr/bin:/bin"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for_port(port, proc)
        yield f"http://127.0.0.1:{port}/mcp"
    finally:
        proc.kill()
        proc.wait(timeout=10)
