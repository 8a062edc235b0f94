"""The registry against a real streamable HTTP MCP server on 127.0.0.1."""

import asyncio
import subprocess

import pytest

from tool_registry import ServerConnectionError, ToolRegistry, ToolTimeout

from ._helpers import BASIC, PY, free_port, starts, wait_for_port


async def test_http_persistent_session_headers_and_calls(http_server, start_log):
    registry = ToolRegistry(timeout=10)
    registry.add_mcp_server("docs", url=http_server, headers={"Authorization": "Bearer abc"})
    async with registry:
        assert "docs__echo" in registry
        results = await asyncio.gather(*(registry.call("docs__whoami", {}) for _ in range(10)))
        sessions = {r.structured["session"] for r in results}
        assert len(sessions) == 1 and "none" not in sessions  # one MCP session id for all calls
        assert results[0].structured["auth"] == "Bearer abc"  # configured headers are sent
        assert (await registry.call("docs__add", {"a": 2, "b": 40})).structured == {"result": 42}
        failed = await registry.call("docs__fail", {"reason": "nope"})
        assert failed.is_error and "nope" in failed.text
        with pytest.raises(ToolTimeout):
            await registry.call("docs__hang", {}, timeout=0.5)
        assert (await registry.call("docs__echo", {"text": "after"})).text == "after"
        await registry.call("docs__grow", {"name": "later"})
        for _ in range(100):
            if "docs__later" in registry:
                break
            await asyncio.sleep(0.02)
        assert "docs__later" in registry
    assert starts(start_log) == 1


async def test_http_server_gone_gives_a_typed_error(http_server):
    registry = ToolRegistry(timeout=5)
    registry.add_mcp_server("docs", url=http_server, connect_timeout=3)
    registry.add_function(lambda: "local", name="local")
    async with registry:
        with pytest.raises(ServerConnectionError):
            await registry.call("docs__crash", {})
        with pytest.raises(ServerConnectionError, match="docs"):
            await registry.call("docs__echo", {"text": "x"})
        assert (await registry.call("local", {})).text == "local"


async def test_http_unreachable_at_start_is_reported():
    registry = ToolRegistry()
    registry.add_mcp_server("nobody", url="http://127.0.0.1:9/mcp", connect_timeout=3)
    async with registry:
        assert registry.server_status() == {"nobody": "dead"}
        assert registry.list_tools() == []


async def test_http_server_restart_reconnects(start_log):
    port = free_port()

    def start() -> subprocess.Popen[bytes]:
        proc = subprocess.Popen(
            [PY, BASIC, "--http", "--port", str(port)],
            env={"MCP_START_LOG": str(start_log), "PATH": "/usr/bin:/bin"},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_for_port(port, proc)
        return proc

    proc = start()
    try:
        registry = ToolRegistry(timeout=5)
        registry.add_mcp_server("docs", url=f"http://127.0.0.1:{port}/mcp", connect_timeout=5)
        async with registry:
            with pytest.raises(ServerConnectionError, match="connection lost"):
                await registry.call("docs__crash", {})
            proc.wait(timeout=10)
            proc = start()
            assert (await registry.call("docs__echo", {"text": "back"})).text == "back"  # reconnected
            assert registry.servers["docs"].connects == 2
            # restarted while idle: the server answers "session not found"; a new session is opened
            proc.kill()
            proc.wait(timeout=10)
            proc = start()
            assert (await registry.call("docs__echo", {"text": "again"})).text == "again"
            assert registry.servers["docs"].connects == 3
    finally:
        proc.kill()
        proc.wait(timeout=10)
