"""The registry against real MCP servers over real stdio subprocesses."""

import asyncio
import logging
import os

import pytest

from tool_registry import (
    MCPConnection,
    ServerConnectionError,
    StdioServerConfig,
    ToolRegistry,
    ToolTimeout,
)

from ._helpers import BASIC, PAGED, PY, TIME_SERVER, starts


def basic_registry(start_log, **kwargs) -> ToolRegistry:
    registry = ToolRegistry(timeout=10, **kwargs)
    registry.add_mcp_server(
        "basic", command=PY, args=[BASIC], env={"MCP_START_LOG": str(start_log), "SECRET_OK": "yes"}
    )
    return registry


async def test_one_persistent_session_shared_by_concurrent_calls(start_log):
    registry = basic_registry(start_log)
    async with registry:
        results = await asyncio.gather(
            *(registry.call("basic__whoami", {}, member=f"m{i % 3}") for i in range(20))
        )
        pids = {r.structured["pid"] for r in results}
        sessions = {r.structured["session"] for r in results}
        assert len(pids) == 1 and len(sessions) == 1
        assert sorted(r.structured["calls"] for r in results) == list(range(1, 21))
        assert registry.servers["basic"].connects == 1
    assert starts(start_log) == 1
    pid = int(start_log.read_text().split()[0])
    with pytest.raises(ProcessLookupError):  # the server process was stopped and reaped
        os.kill(pid, 0)


async def test_content_kinds_and_is_error(start_log):
    async with basic_registry(start_log) as registry:
        weather = await registry.call("basic__weather", {"city": "Paris"})
        assert weather.structured == {"city": "Paris", "celsius": 21.5} and not weather.is_error
        picture = await registry.call("basic__picture", {})
        assert picture.content[0]["type"] == "image" and picture.content[0]["mime_type"] == "image/png"
        failed = await registry.call("basic__fail", {"reason": "disk full"})
        assert failed.is_error and failed.error_kind == "execution" and "disk full" in failed.text
        tools = {t.name: t for t in registry.as_langchain_tools()}
        msg = await tools["basic__picture"].ainvoke(
            {"type": "tool_call", "id": "p1", "name": "basic__picture", "args": {}}
        )
        assert isinstance(msg.content, list) and msg.content[1]["type"] == "image"
        injected = await tools["basic__inject"].ainvoke(
            {"type": "tool_call", "id": "i1", "name": "basic__inject", "args": {}}
        )
        assert injected.content.count("</tool_output>") == 1
        assert injected.content.endswith("</tool_output>")


async def test_schema_validation_before_dispatch(start_log):
    async with basic_registry(start_log) as registry:
        out = await registry.call("basic__add", {"a": 1, "b": "two"})
        assert out.is_error and out.error_kind == "invalid_arguments" and "at b" in out.text
        whoami = await registry.call("basic__whoami", {})
        assert whoami.structured["calls"] == 1  # the invalid call never reached the server


async def test_env_is_only_what_is_configured_plus_path(start_log, monkeypatch):
    monkeypatch.setenv("LEAKY_API_KEY", "sk-should-not-leak")
    async with basic_registry(start_log) as registry:
        assert (await registry.call("basic__getenv", {"name": "SECRET_OK"})).text == "yes"
        assert (await registry.call("basic__getenv", {"name": "LEAKY_API_KEY"})).text == "<unset>"
        assert (await registry.call("basic__getenv", {"name": "HOME"})).text == "<unset>"
        assert (await registry.call("basic__getenv", {"name": "PATH"})).text != "<unset>"


async def test_hanging_tool_times_out_and_the_registry_keeps_serving(start_log):
    registry = basic_registry(start_log)
    registry.add_mcp_server("paged", command=PY, args=[PAGED])
    async with registry:
        hang = asyncio.create_task(registry.call("basic__hang", {}, timeout=0.5))
        assert (await registry.call("paged__t0", {"n": 1})).text == "t0:1"
        with pytest.raises(ToolTimeout, match="basic__hang"):
            await hang
        assert (await registry.call("basic__echo", {"text": "alive"})).text == "alive"
        # cancellation of the caller cancels the call, the session survives
        task = asyncio.create_task(registry.call("basic__hang", {}))
        await asyncio.sleep(0.2)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert (await registry.call("basic__echo", {"text": "still"})).text == "still"
        assert registry.servers["basic"].connects == 1


async def test_crash_mid_call_then_reconnect(start_log):
    registry = basic_registry(start_log)
    registry.add_mcp_server("paged", command=PY, args=[PAGED])
    async with registry:
        first = (await registry.call("basic__whoami", {})).structured["pid"]
        with pytest.raises(ServerConnectionError, match="connection lost during call"):
            await registry.call("basic__crash", {})
        assert (await registry.call("paged__t1", {"n": 2})).text == "t1:2"  # others unaffected
        second = (await registry.call("basic__whoami", {})).structured["pid"]  # reconnects once
        assert second != first and registry.servers["basic"].connects == 2
        assert starts(start_log) == 2
        tools = {t.name: t for t in registry.as_langchain_tools()}
        msg = await tools["basic__crash"].ainvoke(
            {"type": "tool_call", "id": "x", "name": "basic__crash", "args": {}}
        )
        assert msg.status == "error" and "connection lost" in msg.content


async def test_reconnect_failure_is_a_clear_typed_error(tmp_path):
    flag = tmp_path / "allowed"
    flag.write_text("")
    script = tmp_path / "once.py"
    script.write_text(
        "import os, runpy, sys\n"
        f"flag = {str(flag)!r}\n"
        "if not os.path.exists(flag): sys.exit(7)\n"
        "os.remove(flag)\n"
        f"sys.argv = [{BASIC!r}]\n"
        f"runpy.run_path({BASIC!r}, run_name='__main__')\n"
    )
    registry = ToolRegistry(timeout=10)
    registry.add_mcp_server("once", command=PY, args=[str(script)], connect_timeout=10)
    async with registry:
        with pytest.raises(ServerConnectionError):
            await registry.call("once__crash", {})
        with pytest.raises(ServerConnectionError, match="reconnect failed") as info:
            await registry.call("once__echo", {"text": "x"})
        assert info.value.server == "once" and info.value.__cause__ is not None
        assert registry.server_status()["once"] == "dead"


async def test_junk_on_stdout_is_survived(start_log, caplog):
    registry = ToolRegistry(timeout=10)
    registry.add_mcp_server("noisy", command=PY, args=[BASIC, "--junk"])
    with caplog.at_level(logging.WARNING, logger="tool_registry"):
        async with registry:
            assert (await registry.call("noisy__echo", {"text": "ok"})).text == "ok"
    assert any("not JSON-RPC" in r.getMessage() for r in caplog.records)


async def test_pagination_and_collisions():
    registry = ToolRegistry(timeout=10)

    @registry.tool(name="paged__t0")
    def squatter(n: int) -> int:
        """Takes the name paged__t0 first."""
        return n

    registry.add_mcp_server("paged", command=PY, args=[PAGED])
    registry.add_mcp_server("flat", command=PY, args=[PAGED], namespace=False)
    async with registry:
        names = [t.name for t in registry.list_tools()]
        # all 3 pages of each server were listed
        assert len([n for n in names if n.startswith("paged__")]) == 7
        renamed = [n for n in names if n.startswith("paged__t0_")]
        assert len(renamed) == 1 and len(renamed[0]) == len("paged__t0_") + 6
        assert registry.get(renamed[0]).origin.original_name == "t0"
        assert (await registry.call(renamed[0], {"n": 5})).text == "t0:5"
        assert (await registry.call("paged__t0", {"n": 5})).text == "5"  # the Python tool
        assert "paged__weird_name_" in names and "weird_name_" in names and "add" in names
        assert (await registry.call("paged__weird_name_", {"n": 1})).text == "weird name!:1"
        first = list(names)
    async with registry:  # deterministic: same names next time
        assert [t.name for t in registry.list_tools()] == first


async def test_list_changed_refreshes_the_tools(start_log):
    async with basic_registry(start_log) as registry:
        view = registry.view("alice")
        assert "basic__fresh" not in registry
        await registry.call("basic__grow", {"name": "fresh"})
        for _ in range(100):
            if "basic__fresh" in registry:
                break
            await asyncio.sleep(0.02)
        assert "basic__fresh" in [t.name for t in view.list_tools()]
        assert (await registry.call("basic__fresh", {})).text == "I am fresh"


async def test_remove_hides_an_mcp_tool(start_log):
    async with basic_registry(start_log) as registry:
        registry.remove("basic__crash")
        assert "basic__crash" not in registry
        await registry.servers["basic"].refresh_tools()
        assert "basic__crash" not in registry and "basic__echo" in registry


async def test_mcp_server_time_as_an_independent_server():
    registry = ToolRegistry(timeout=20)
    registry.add_mcp_server("time", command=TIME_SERVER, args=["--local-timezone", "UTC"])
    async with registry:
        assert {"time__get_current_time", "time__convert_time"} <= {t.name for t in registry.list_tools()}
        out = await registry.call("time__get_current_time", {"timezone": "Asia/Tokyo"})
        assert out.structured["timezone"] == "Asia/Tokyo" and "+09:00" in out.structured["datetime"]
        bad = await registry.call("time__get_current_time", {"timezone": "Mars/Olympus"})
        assert bad.is_error


async def test_bad_server_is_reported_and_others_keep_serving(start_log):
    registry = basic_registry(start_log)
    registry.add_mcp_server("ghost", command="definitely-not-installed-mcp")
    registry.add_mcp_server("dies", command=PY, args=["-c", "import sys; sys.exit(1)"], connect_timeout=5)
    async with registry:
        status = registry.server_status()
        assert status == {"basic": "ready", "ghost": "dead", "dies": "dead"}
        assert "not found" in (registry.servers["ghost"].last_error or "")
        assert (await registry.call("basic__echo", {"text": "fine"})).text == "fine"
    strict = ToolRegistry(strict=True)
    strict.add_mcp_server("ghost", command="definitely-not-installed-mcp")
    with pytest.raises(ServerConnectionError, match="ghost"):
        async with strict:
            pass


async def test_connection_object_directly(start_log):
    conn = MCPConnection(StdioServerConfig(name="b", command=PY, args=[BASIC]))
    await conn.connect()
    try:
        assert conn.state == "ready" and len(conn.tools) >= 10
        result = await conn.call_tool("add", {"a": 1, "b": 2}, timeout=5)
        assert result.structured_content == {"result": 3}
    finally:
        await conn.aclose()
    assert conn.state == "closed"
    with pytest.raises(ServerConnectionError, match="closed"):
        await conn.call_tool("add", {"a": 1, "b": 2}, timeout=5)
