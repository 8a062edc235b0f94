"""Serve a whole registry as ONE MCP server (an aggregating proxy), over stdio or HTTP.

Every registry tool (all servers' tools and the Python tools, under their final names) is
listed and callable; extra tools (the core adds a ``fuse`` tool) are plain Python callables
added with :meth:`RegistryMCPServer.add_extra_tool`. Streamable HTTP binds ``127.0.0.1`` by
default; binding any other address requires a bearer token, which every request must then
carry as ``Authorization: Bearer <token>``.
"""

from __future__ import annotations

import contextlib
import hmac
import ipaddress
import json
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from typing import Any, Literal

import mcp_types as types
from mcp.server.mcpserver import Context, MCPServer
from starlette.types import ASGIApp, Receive, Scope, Send

from .errors import RegistryConfigError, ServerConnectionError, ToolCallError, ToolNotFound
from .models import ToolResult
from .registry import ToolRegistry

__all__ = ["RegistryMCPServer", "create_http_app", "create_mcp_server", "is_loopback", "serve_registry"]


@contextlib.asynccontextmanager
async def _hold_registry(server: MCPServer[Any]) -> AsyncIterator[dict[str, Any]]:
    """The server's lifespan: the registry is held open while the server runs (reference-counted)."""
    assert isinstance(server, RegistryMCPServer)
    async with server.registry:
        yield {}


class RegistryMCPServer(MCPServer):
    """An ``MCPServer`` whose tools are a registry's tools plus extra Python tools.

    While it runs (its lifespan: a stdio or in-memory session, the HTTP app's lifetime) it holds
    the registry open; entering is reference-counted, so a registry the caller already entered
    is shared, not connected again.

    Args:
        registry: The registry to expose (entered for as long as the server runs).
        name: Server name announced to clients.
        member: Expose only what this member's policy allows (None: every tool).
        extra_tools: Python callables served next to the registry's tools.
    """

    def __init__(
        self,
        registry: ToolRegistry,
        *,
        name: str = "fusion-tools",
        member: str | None = None,
        extra_tools: Iterable[Callable[..., Any]] = (),
    ) -> None:
        super().__init__(name, instructions="Tools of a fusion-graph tool registry.", lifespan=_hold_registry)
        self.registry = registry
        self.member = member
        self._extra: set[str] = set()
        for fn in extra_tools:
            self.add_extra_tool(fn)

    def add_extra_tool(
        self, fn: Callable[..., Any], *, name: str | None = None, description: str | None = None
    ) -> None:
        """Serve a Python callable (sync or async) as an extra tool, e.g. the core's ``fuse``."""
        tool_name = name or fn.__name__
        self.add_tool(fn, name=tool_name, description=description)
        self._extra.add(tool_name)

    async def list_tools(self) -> list[types.Tool]:
        """The registry's tools, then the extra tools."""
        extra = await super().list_tools()
        own = [
            types.Tool(name=t.name, description=t.description, input_schema=t.input_schema)
            for t in self.registry.list_tools(self.member)
            if t.name not in self._extra
        ]
        return own + extra

    async def call_tool(
        self, name: str, arguments: dict[str, Any], context: Context[Any, Any] | None = None
    ) -> Any:
        """Call an extra tool, or forward the call to the registry."""
        if name in self._extra:
            return await super().call_tool(name, arguments, context)
        try:
            result = await self.registry.call(name, arguments, member=self.member)
        except (ToolNotFound, ToolCallError, ServerConnectionError) as exc:
            return types.CallToolResult(
                content=[types.TextContent(type="text", text=str(exc))], is_error=True
            )
        return _to_mcp(result)


def _to_mcp(result: ToolResult) -> types.CallToolResult:
    content: list[Any] = []
    for block in result.content:
        kind = block.get("type")
        if kind == "image":
            content.append(
                types.ImageContent(type="image", data=block["base64"], mime_type=block["mime_type"])
            )
        elif kind == "audio":
            content.append(
                types.AudioContent(type="audio", data=block["base64"], mime_type=block["mime_type"])
            )
        else:
            text = block.get("text")
            content.append(
                types.TextContent(type="text", text=text if isinstance(text, str) else json.dumps(block))
            )
    return types.CallToolResult(
        content=content, structured_content=result.structured, is_error=result.is_error
    )


def create_mcp_server(
    registry: ToolRegistry,
    *,
    name: str = "fusion-tools",
    member: str | None = None,
    extra_tools: Sequence[Callable[..., Any]] = (),
) -> RegistryMCPServer:
    """Build the aggregating MCP server for ``registry``. See :class:`RegistryMCPServer`."""
    return RegistryMCPServer(registry, name=name, member=member, extra_tools=extra_tools)


def is_loopback(host: str) -> bool:
    """Whether ``host`` only accepts connections from this machine.

    ``localhost``, any 127.0.0.0/8 address and ``::1`` (bracketed too, ``[::1]``, as URLs write
    it) are loopback; names other than ``localhost`` are not resolved, so they count as remote.

    Example:
        >>> is_loopback("127.0.0.2"), is_loopback("[::1]"), is_loopback("0.0.0.0")
        (True, True, False)
    """
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


class _BearerAuth:
    """ASGI middleware: reject HTTP requests without ``Authorization: Bearer <token>``."""

    def __init__(self, app: ASGIApp, token: str) -> None:
        self.app = app
        self.expected = f"Bearer {token}".encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            given = dict(scope.get("headers") or []).get(b"authorization", b"")
            if not hmac.compare_digest(given, self.expected):
                body = b'{"error": "missing or invalid bearer token"}'
                await send(
                    {
                        "type": "http.response.start",
                        "status": 401,
                        "headers": [
                            (b"content-type", b"application/json"),
                            (b"www-authenticate", b"Bearer"),
                            (b"content-length", str(len(body)).encode()),
                        ],
                    }
                )
                await send({"type": "http.response.body", "body": body})
                return
        await self.app(scope, receive, send)


def create_http_app(
    server: RegistryMCPServer, *, host: str = "127.0.0.1", path: str = "/mcp", token: str | None = None
) -> ASGIApp:
    """The streamable HTTP ASGI app of ``server``, behind a bearer-token check when given.

    Raises:
        RegistryConfigError: ``host`` is not a loopback address and no ``token`` is given.
    """
    if not is_loopback(host) and not token:
        raise RegistryConfigError(f"serving on {host!r} (not loopback) requires a bearer token")
    app: ASGIApp = server.streamable_http_app(streamable_http_path=path, host=host)
    return _BearerAuth(app, token) if token else app


async def serve_registry(
    registry: ToolRegistry,
    *,
    transport: Literal["stdio", "streamable_http"] = "stdio",
    host: str = "127.0.0.1",
    port: int = 8765,
    path: str = "/mcp",
    token: str | None = None,
    member: str | None = None,
    extra_tools: Sequence[Callable[..., Any]] = (),
) -> None:
    """Enter ``registry`` and serve it as one MCP server until cancelled (or stdin closes).

    Args:
        registry: The registry (not yet entered).
        transport: ``"stdio"`` or ``"streamable_http"``.
        host: HTTP bind address (default loopback only).
        port: HTTP port.
        path: HTTP endpoint path.
        token: Bearer token required by HTTP requests (mandatory off loopback).
        member: Expose only this member's tools.
        extra_tools: Extra Python tools (e.g. the core's ``fuse``).

    Raises:
        RegistryConfigError: Non-loopback HTTP without a token.
    """
    server = create_mcp_server(registry, member=member, extra_tools=extra_tools)
    if transport == "streamable_http":
        app = create_http_app(server, host=host, path=path, token=token)
        import uvicorn

        async with registry:
            config = uvicorn.Config(app, host=host, port=port, log_level="warning")
            await uvicorn.Server(config).serve()
        return
    async with registry:
        await server.run_stdio_async()
