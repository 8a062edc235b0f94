"""Fixtures for the tool registry tests: real MCP servers over stdio and streamable HTTP."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from ._helpers import BASIC, http_mcp_server


@pytest.fixture
def start_log(tmp_path: Path) -> Path:
    """A file every mcp_basic process appends its pid to at start."""
    return tmp_path / "starts.log"


@pytest.fixture
def http_server(start_log: Path) -> Iterator[str]:
    """mcp_basic over real streamable HTTP on 127.0.0.1:<free port>, as a subprocess."""
    with http_mcp_server(BASIC, {"MCP_START_LOG": str(start_log)}) as url:
        yield url
