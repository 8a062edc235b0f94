"""The transports of one MCP session, built from the SDK's public API, and what they reveal.

The SDK (``mcp`` 2.x) has no public way to ask a :class:`~mcp.ClientSession` whether its
server hung up, or whether an HTTP server forgot the session (it answers 404 and the SDK turns
that into an ``INVALID_REQUEST`` error whose only distinction is its text). Both facts are read
here from the transport itself, through the documented seams: the read stream a session is
given, and the ``httpx2.AsyncClient`` the streamable HTTP transport is given.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator
from typing import Any, Self

import anyio
import httpx2
from mcp import StdioServerParameters
from mcp.client.stdio import get_default_environment

from .config import HttpServerConfig, StdioServerConfig

__all__ = ["SessionWatch", "http_client", "stdio_parameters"]

SESSION_ID_HEADER = "mcp-session-id"
"""The streamable HTTP header that carries the session id (MCP spec, "Session Management")."""

_TIMEOUT = httpx2.Timeout(30.0, read=300.0)
"""The SDK's own HTTP timeouts: 30 s to connect/write, 300 s to read a held-open stream."""


class SessionWatch:
    """What one session's transport has shown: end of stream, and a forgotten HTTP session.

    A watch belongs to one session; a reconnect makes a new one, so nothing is ever reset.
    """

    def __init__(self) -> None:
        self.closed = False
        """The read stream ended (the server exited or hung up) or was closed."""
        self.session_forgotten = False
        """The HTTP server answered 404 to a request that carried our session id."""

    def read_stream(self, stream: Any) -> Any:
        """``stream`` (a transport's read stream), marking :attr:`closed` when it ends."""
        return _WatchedReadStream(stream, self)

    async def on_response(self, response: httpx2.Response) -> None:
        """An ``httpx2`` response hook: a 404 for our session id means the server forgot it.

        The spec says the client must then start a new session; the request was not processed.
        """
        if response.status_code == 404 and SESSION_ID_HEADER in response.request.headers:
            self.session_forgotten = True


class _WatchedReadStream:
    """A read stream passed through unchanged, except that its end is noted on the watch."""

    def __init__(self, inner: Any, watch: SessionWatch) -> None:
        self._inner = inner
        self._watch = watch

    def __getattr__(self, name: str) -> Any:  # e.g. a context-carrying stream's last_context
        return getattr(self._inner, name)

    async def receive(self) -> Any:
        try:
            return await self._inner.receive()
        except (anyio.EndOfStream, anyio.ClosedResourceError):
            self._watch.closed = True
            raise

    def __aiter__(self) -> AsyncIterator[Any]:
        return self

    async def __anext__(self) -> Any:
        try:
            return await self.receive()
        except anyio.EndOfStream:
            raise StopAsyncIteration from None

    async def aclose(self) -> None:
        self._watch.closed = True
        await self._inner.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()


def http_client(config: HttpServerConfig, watch: SessionWatch) -> httpx2.AsyncClient:
    """The HTTP client of one streamable HTTP session: the server's headers, the SDK's timeouts.

    ``streamable_http_client(http_client=...)`` is the SDK's documented way to set headers.
    """
    return httpx2.AsyncClient(
        headers=dict(config.headers) or None,
        timeout=_TIMEOUT,
        event_hooks={"response": [watch.on_response]},
    )


def stdio_parameters(config: StdioServerConfig) -> StdioServerParameters:
    """SDK parameters that start the server with ONLY its configured env plus ``PATH``.

    ``PATH`` is taken from the SDK's allow-list of inheritable variables
    (:func:`mcp.client.stdio.get_default_environment`), which also skips shell functions. The
    SDK merges the rest of that list (HOME, USER, …) into every child's environment; on POSIX
    the command is therefore wrapped in ``env -i`` so nothing but the configured variables and
    ``PATH`` reach the server. (On Windows the SDK's small default set is inherited as well.)

    Raises:
        FileNotFoundError: ``command`` is not an executable on the server's ``PATH``.
    """
    env = dict(config.env)
    env.setdefault("PATH", get_default_environment().get("PATH", os.defpath))
    command = shutil.which(config.command, path=env["PATH"])
    if command is None:
        raise FileNotFoundError(f"command {config.command!r} not found on PATH={env['PATH']!r}")
    env_bin = shutil.which("env") if os.name == "posix" else None
    if env_bin is None:  # pragma: no cover - Windows
        return StdioServerParameters(command=command, args=list(config.args), env=env, cwd=config.cwd)
    assignments = [f"{key}={value}" for key, value in env.items()]
    return StdioServerParameters(
        command=env_bin,
        args=["-i", *assignments, command, *config.args],
        env={},
        cwd=config.cwd,
    )
