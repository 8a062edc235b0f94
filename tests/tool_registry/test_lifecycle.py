"""Reference-counted ``async with registry``: re-entrant, shared by concurrent users, closed by the last."""

from __future__ import annotations

import asyncio
import os
import threading
from pathlib import Path

import pytest
from mcp import Client
from mcp_types import TextContent

from tool_registry import RegistryStateError, ToolRegistry, create_mcp_server

from ._helpers import BASIC, PY, starts


def basic_registry(start_log: Path) -> ToolRegistry:
    registry = ToolRegistry(timeout=10)
    registry.add_mcp_server("basic", command=PY, args=[BASIC], env={"MCP_START_LOG": str(start_log)})
    return registry


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.mark.timeout(60)
async def test_nested_enters_share_one_opening_and_the_last_exit_closes(start_log: Path):
    registry = basic_registry(start_log)
    async with registry as outer:
        assert outer is registry and registry.users == 1
        first = await registry.call("basic__whoami", {})
        async with registry:
            assert registry.users == 2
            second = await registry.call("basic__whoami", {})
        assert registry.users == 1 and registry.is_open
        third = await registry.call("basic__whoami", {})  # the inner exit closed nothing
    assert first.structured["pid"] == second.structured["pid"] == third.structured["pid"]
    assert registry.users == 0 and not registry.is_open and registry.servers == {}
    assert starts(start_log) == 1
    assert not _alive(first.structured["pid"])


@pytest.mark.timeout(60)
async def test_concurrent_enters_connect_once_and_never_close_under_each_other(start_log: Path):
    registry = basic_registry(start_log)
    release = asyncio.Event()
    pids: list[int] = []

    async def user(i: int) -> None:
        async with registry:
            if i == 0:  # the first user leaves early: the others still call afterwards
                return
            await release.wait()
            result = await registry.call("basic__whoami", {})
            assert not result.is_error, result.text
            pids.append(result.structured["pid"])

    tasks = [asyncio.create_task(user(i)) for i in range(20)]
    while registry.users < 19:
        await asyncio.sleep(0.01)
    release.set()
    await asyncio.gather(*tasks)
    assert len(pids) == 19 and len(set(pids)) == 1
    assert starts(start_log) == 1
    assert registry.users == 0 and not registry.is_open


@pytest.mark.timeout(60)
async def test_a_cancelled_user_does_not_leak_its_count(start_log: Path):
    registry = basic_registry(start_log)

    async def hold() -> None:
        async with registry:
            await asyncio.sleep(3600)

    async with registry:
        task = asyncio.create_task(hold())
        while registry.users < 2:
            await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert registry.users == 1
    assert registry.users == 0 and not registry.is_open


@pytest.mark.timeout(60)
async def test_reopens_after_the_last_exit(start_log: Path):
    registry = basic_registry(start_log)
    for _ in range(2):
        async with registry:
            assert (await registry.call("basic__add", {"a": 1, "b": 2})).text == "3"
    assert starts(start_log) == 2  # closed in between, so started again


def test_reopens_in_a_new_event_loop(start_log: Path):
    registry = basic_registry(start_log)

    async def once() -> str:
        async with registry:
            return (await registry.call("basic__add", {"a": 2, "b": 2})).text

    assert asyncio.run(once()) == "4"
    assert asyncio.run(once()) == "4"


async def test_more_exits_than_enters_is_a_state_error():
    registry = ToolRegistry()
    with pytest.raises(RegistryStateError, match="exited more often"):
        await registry.__aexit__(None, None, None)


async def test_servers_cannot_be_added_while_open(start_log: Path):
    registry = ToolRegistry()
    async with registry:
        with pytest.raises(RegistryStateError):
            registry.add_mcp_server("late", command=PY, args=[BASIC])


@pytest.mark.timeout(60)
async def test_the_proxy_server_holds_an_unentered_registry_open_while_it_runs(start_log: Path):
    registry = basic_registry(start_log)
    server = create_mcp_server(registry)
    async with Client(server) as client:
        assert registry.is_open
        names = [t.name for t in (await client.list_tools()).tools]
        assert "basic__echo" in names
        echo = await client.call_tool("basic__echo", {"text": "through the proxy"})
        block = echo.content[0]
        assert isinstance(block, TextContent) and block.text == "through the proxy"
        async with registry:  # the caller may share the server's opening
            assert registry.users == 2
    assert not registry.is_open and registry.users == 0
    assert starts(start_log) == 1


@pytest.mark.timeout(30)
async def test_entering_from_a_second_event_loop_is_a_clear_error():
    registry = ToolRegistry()
    opened, release = threading.Event(), threading.Event()

    async def hold() -> None:
        async with registry:
            opened.set()
            await asyncio.to_thread(release.wait, 20)

    thread = threading.Thread(target=asyncio.run, args=(hold(),))
    thread.start()
    try:
        assert await asyncio.to_thread(opened.wait, 20)
        with pytest.raises(RegistryStateError, match="another event loop"):
            async with registry:
                pass
        assert registry.users == 1
    finally:
        release.set()
        await asyncio.to_thread(thread.join, 20)
    assert registry.users == 0
    async with registry:  # closed there, it opens here
        assert registry.is_open
