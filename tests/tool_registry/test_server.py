"""The registry served back as one MCP server (aggregating proxy)."""

import asyncio
import contextlib

import httpx2
import pytest
import uvicorn
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from tool_registry import RegistryConfigError, ToolRegistry, create_mcp_server
from tool_registry.server import create_http_app

from ._helpers import BASIC, PY, free_port


def make_registry() -> ToolRegistry:
    registry = ToolRegistry(timeout=10)
    registry.add_mcp_server("basic", command=PY, args=[BASIC])

    @registry.tool
    def add(a: int, b: int) -> int:
        """Add two integers."""
        return a + b

    return registry


async def fuse(prompt: str) -> str:
    """Stand-in for the core's fuse tool."""
    return f"fused: {prompt}"


async def test_proxy_in_memory():
    registry = make_registry()
    registry.set_member_policy("guest", allow=["add", "basic__echo", "basic__picture", "basic__fail"])
    async with registry:
        server = create_mcp_server(registry, member="guest", extra_tools=[fuse])
        async with Client(server) as client:
            names = [t.name for t in (await client.list_tools()).tools]
            assert names == ["add", "basic__echo", "basic__picture", "basic__fail", "fuse"]
            assert (await client.call_tool("add", {"a": 1, "b": 2})).structured_content == {"result": 3}
            echo = await client.call_tool("basic__echo", {"text": "via proxy"})
            assert echo.content[0].text == "via proxy"
            picture = await client.call_tool("basic__picture", {})
            assert picture.content[0].type == "image"
            failed = await client.call_tool("basic__fail", {"reason": "x"})
            assert failed.is_error
            hidden = await client.call_tool("basic__crash", {})
            assert hidden.is_error and "not allowed" in hidden.content[0].text
            assert (await client.call_tool("fuse", {"prompt": "p"})).content[0].text == "fused: p"
            bad = await client.call_tool("add", {"a": "x", "b": 1})
            assert bad.is_error and "integer" in bad.content[0].text


@contextlib.asynccontextmanager
async def running(app, port: int):
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    task = asyncio.create_task(server.serve())
    try:
        for _ in range(200):
            if server.started:
                break
            await asyncio.sleep(0.02)
        yield f"http://127.0.0.1:{port}/mcp"
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 10)


async def test_proxy_over_http_requires_the_bearer_token():
    registry = make_registry()
    async with registry:
        server = create_mcp_server(registry)
        port = free_port()
        async with running(create_http_app(server, token="s3cret"), port) as url:
            async with httpx2.AsyncClient() as raw:
                denied = await raw.post(url, json={"jsonrpc": "2.0", "id": 1, "method": "ping"})
                assert denied.status_code == 401
            # the registry itself, as a client of the proxy, with the token
            outer = ToolRegistry(timeout=10)
            outer.add_mcp_server("proxy", url=url, headers={"Authorization": "Bearer s3cret"})
            async with outer:
                assert "proxy__basic__echo" in outer and "proxy__add" in outer
                out = await outer.call("proxy__basic__echo", {"text": "two hops"})
                assert out.text == "two hops"
            # a wrong token: the SDK reports the 401 as an error response
            http = httpx2.AsyncClient(headers={"Authorization": "Bearer wrong"})
            with pytest.raises(Exception) as info:  # noqa: B017 - the SDK surfaces 401 its own way
                async with http, streamable_http_client(url, http_client=http) as (read, write):
                    from mcp import ClientSession

                    async with ClientSession(read, write) as session:
                        await asyncio.wait_for(session.initialize(), 5)
            assert "error response" in repr(info.value)


def test_non_loopback_needs_a_token():
    server = create_mcp_server(ToolRegistry())
    with pytest.raises(RegistryConfigError, match="bearer token"):
        create_http_app(server, host="0.0.0.0")
    create_http_app(server, host="0.0.0.0", token="t")
    create_http_app(server, host="127.0.0.1")
    create_http_app(server, host="::1")


async def test_serve_registry_over_stdio():
    from ._helpers import SERVERS

    outer = ToolRegistry(timeout=15)
    outer.add_mcp_server("hub", command=PY, args=[str(SERVERS / "mcp_proxy.py")], connect_timeout=30)
    async with outer:
        names = {t.name for t in outer.list_tools()}
        assert {"hub__add", "hub__basic__echo", "hub__fuse"} <= names
        assert (await outer.call("hub__basic__echo", {"text": "nested"})).text == "nested"
        assert (await outer.call("hub__add", {"a": 1, "b": 1})).text == "2"
        assert (await outer.call("hub__fuse", {"prompt": "q"})).text == "fused: q"
