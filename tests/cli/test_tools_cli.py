"""`fusion tools list` and `fusion tools serve` against real MCP servers."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tool_registry import ToolRegistry

BIN = Path(sys.executable).parent
FUSION = shutil.which("fusion", path=str(BIN)) or str(BIN / "fusion")


def _config(tmp_path: Path) -> Path:
    path = tmp_path / "fusion.toml"
    path.write_text(
        f"""
mode = "merge"
judge = "fake:judge"
pool = ["fake:one", "fake:two"]

[[tools.servers]]
name = "time"
transport = "stdio"
command = "{BIN / "mcp-server-time"}"
args = ["--local-timezone", "UTC"]
"""
    )
    return path


def test_tools_list_names_each_tool_and_origin(tmp_path: Path):
    done = subprocess.run(
        [FUSION, "tools", "list", "--config", str(_config(tmp_path))],
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": str(BIN), "COLUMNS": "120"},
    )
    assert done.returncode == 0, done.stderr
    assert "time__get_current_time" in done.stdout and "mcp:time" in done.stdout


def test_tools_list_without_a_tools_section_is_a_clear_error(tmp_path: Path):
    path = tmp_path / "pool.toml"
    path.write_text('pool = ["fake:a"]\n')
    done = subprocess.run(
        [FUSION, "tools", "list", "--config", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": str(BIN), "COLUMNS": "120"},
    )
    assert done.returncode == 2
    assert "[tools]" in done.stderr


@pytest.mark.timeout(90)
async def test_tools_serve_is_one_mcp_server_with_a_fuse_tool(tmp_path: Path):
    outer = ToolRegistry(timeout=30)
    outer.add_mcp_server(
        "hub",
        command=FUSION,
        args=["tools", "serve", "--config", str(_config(tmp_path))],
        env={"PATH": str(BIN)},
        connect_timeout=60,
    )
    async with outer:
        names = {t.name for t in outer.list_tools()}
        assert {"hub__time__get_current_time", "hub__time__convert_time", "hub__fuse"} <= names
        now = await outer.call("hub__time__get_current_time", {"timezone": "Asia/Tokyo"})
        assert "Asia/Tokyo" in now.text
        fused = await outer.call("hub__fuse", {"prompt": "Say something", "mode": "best-of"})
        assert fused.text in {"one", "two"}
