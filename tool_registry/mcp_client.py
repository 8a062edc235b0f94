"""One persistent MCP client session per server.

:class:`MCPConnection` owns the session to one server for the registry's lifetime. The
transport and the session are entered with an :class:`~contextlib.AsyncExitStack` inside one
dedicated runner task, so anyio's cancel scopes are entered and exited in the same task,
whichever task happens to call a tool. Calls from many members run concurrently on that one
session (JSON-RPC multiplexes them).

Behaviour:

* ``tools/list`` is followed through every ``nextCursor`` page.
* ``notifications/tools/list_changed`` makes the runner re-list the tools and tell the registry.
* Each call has a timeout (the server is told to cancel; :class:`ToolTimeout` is raised) and is
  cancelled with its caller.
* If the server dies, the call in flight fails with :class:`ServerConnectionError`; the next call
  reconnects once, and raises :class:`ServerConnectionError` if that fails too.
* An HTTP server that answers 404 to our session id (it restarted) gets a new session and the
  request once more (it was not processed). What the transport shows (end of stream, that 404)
  is read in :mod:`tool_registry._transport`.
* A server's ``elicitation/create`` during a call is routed to a call in flight and answered in
  that call's task by its elicitation handler (see :mod:`tool_registry.elicitation`); without a
  handler it is declined, with a log line.
* Results are not checked here against the tool's ``outputSchema`` (the SDK's own check raises,
  which would make a bad result a connection error): the registry checks them and makes a
  mismatch a tool error result (:mod:`tool_registry._dispatch`).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import sys
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from typing import Any, Literal, TextIO

import anyio
import mcp_types as types
from mcp import ClientSession, stdio_client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError

from ._transport import SessionWatch, http_client, stdio_parameters
from .config import HttpServerConfig, StdioServerConfig
from .elicitation import (
    ElicitationHandler,
    ElicitationRequest,
    ElicitationResponse,
    current_elicitation_handler,
)
from .errors import ServerConnectionError, ToolTimeout

__all__ = ["ConnectionState", "MCPConnection"]

logger = logging.getLogger(__name__)

ConnectionState = Literal["idle", "connecting", "ready", "dead", "closed"]
"""Lifecycle of an :class:`MCPConnection`."""

_CLIENT_INFO = types.Implementation(name="fusion-graph-tool-registry", version="0.1.0")
_REFRESH_TIMEOUT = 30.0
_MAX_PAGES = 1000

_Inbox = asyncio.Queue[tuple[ElicitationRequest, "asyncio.Future[types.ElicitResult]"]]


@dataclass(eq=False)
class _InFlight:
    """One call in flight on the session: where the server's elicitation requests go."""

    tool: str
    handler: ElicitationHandler | None
    inbox: _Inbox = field(default_factory=asyncio.Queue)
    answering: int = 0


class MCPConnection:
    """A persistent, self-healing client session to one MCP server.

    Args:
        config: The server's config.
        on_tools_changed: Awaited after every (re)listing of the server's tools.
        errlog: Where a stdio server's stderr goes (default: this process's stderr).
        elicitation_handler: Answers the server's elicitation requests during calls made
            outside :func:`~tool_registry.elicitation.handling_elicitation` (default: decline).

    Example:
        >>> conn = MCPConnection(StdioServerConfig(name="time", command="mcp-server-time"))
        >>> await conn.connect()  # doctest: +SKIP
        >>> result = await conn.call_tool("get_current_time", {"timezone": "UTC"})  # doctest: +SKIP
        >>> await conn.aclose()  # doctest: +SKIP
    """

    def __init__(
        self,
        config: StdioServerConfig | HttpServerConfig,
        *,
        on_tools_changed: Callable[[MCPConnection], Awaitable[None]] | None = None,
        errlog: TextIO | None = None,
        elicitation_handler: ElicitationHandler | None = None,
    ) -> None:
        self.config = config
        self._on_tools_changed = on_tools_changed
        self._errlog = errlog
        self._elicitation_handler = elicitation_handler
        self._in_flight: list[_InFlight] = []
        self._session: ClientSession | None = None
        self._watch = SessionWatch()
        self._runner: asyncio.Task[None] | None = None
        self._events: asyncio.Queue[str] | None = None
        self._lock = asyncio.Lock()
        self._state: ConnectionState = "idle"
        self._tools: list[types.Tool] = []
        self.connects = 0
        """How many sessions were opened so far (1 while no reconnect happened)."""
        self.last_error: str | None = None
        """Why the last connection attempt failed or the session died, if it did."""

    @property
    def name(self) -> str:
        """The server's name."""
        return self.config.name

    @property
    def state(self) -> ConnectionState:
        """The connection's lifecycle state."""
        if self._state == "ready" and not self._alive():
            return "dead"
        return self._state

    @property
    def protocol_version(self) -> str | None:
        """The MCP revision negotiated with the server (None before the session is open)."""
        session = self._session
        return session.protocol_version if session is not None else None

    @property
    def tools(self) -> list[types.Tool]:
        """The server's tools from the latest listing."""
        return list(self._tools)

    # -- lifecycle -------------------------------------------------------------------------

    async def connect(self) -> None:
        """Start the server / open the session, initialize, and list the tools.

        Raises:
            ServerConnectionError: The server cannot be started or reached, or the handshake
                failed or timed out.
        """
        async with self._lock:
            if self._state == "closed":
                raise ServerConnectionError(self.name, "the connection is closed")
            if self._state == "ready" and self._alive():
                return
            await self._start()

    async def aclose(self) -> None:
        """Close the session and stop the server process (idempotent)."""
        self._state = "closed"
        await self._stop_runner()

    async def _start(self) -> None:
        await self._stop_runner()
        self._state = "connecting"
        loop = asyncio.get_running_loop()
        ready: asyncio.Future[None] = loop.create_future()
        self._events = asyncio.Queue()
        self._runner = asyncio.create_task(self._run(ready, self._events), name=f"mcp:{self.name}")
        try:
            await asyncio.wait_for(asyncio.shield(ready), self.config.connect_timeout)
        except TimeoutError as exc:
            await self._stop_runner()
            self._state = "dead"
            self.last_error = f"no answer within {self.config.connect_timeout:g} s"
            raise ServerConnectionError(self.name, f"connect timed out: {self.last_error}") from exc
        except asyncio.CancelledError:
            await self._stop_runner()
            self._state = "dead"
            raise
        except Exception as exc:
            await self._stop_runner()
            self._state = "dead"
            self.last_error = _describe(exc)
            raise ServerConnectionError(self.name, f"cannot connect: {self.last_error}") from exc
        self._state = "ready"
        self.connects += 1
        self.last_error = None
        if self._on_tools_changed is not None:
            await self._on_tools_changed(self)

    async def _stop_runner(self) -> None:
        runner, self._runner = self._runner, None
        if runner is None:
            return
        if self._events is not None:
            self._events.put_nowait("stop")
        try:
            await asyncio.wait_for(asyncio.shield(runner), 10.0)
        except TimeoutError:  # pragma: no cover - a transport that will not close
            runner.cancel()
            with contextlib.suppress(BaseException):
                await runner
        except BaseException:  # noqa: BLE001 - the runner's failure was already reported
            pass
        self._session = None

    async def _run(self, ready: asyncio.Future[None], events: asyncio.Queue[str]) -> None:
        """The runner task: enters and exits the transport and the session in this one task."""
        try:
            watch = SessionWatch()
            async with AsyncExitStack() as stack:
                read, write = await stack.enter_async_context(self._transport(stack, watch))
                session = await stack.enter_async_context(
                    ClientSession(
                        watch.read_stream(read),
                        write,
                        message_handler=self._on_message,
                        elicitation_callback=self._on_elicit,
                        client_info=_CLIENT_INFO,
                    )
                )
                await session.initialize()
                self._tools = await self._list_all(session)
                self._session, self._watch = session, watch
                if not ready.done():
                    ready.set_result(None)
                while (event := await events.get()) != "stop":
                    if event == "refresh" and self._alive():
                        await self._refresh(session)
        except Exception as exc:
            if not ready.done():
                ready.set_exception(exc)
            else:
                self.last_error = _describe(exc)
                logger.warning("MCP server %r: session ended: %s", self.name, self.last_error)
        finally:
            self._session = None
            if not ready.done():
                ready.cancel()

    def _transport(
        self, stack: AsyncExitStack, watch: SessionWatch
    ) -> contextlib.AbstractAsyncContextManager[Any]:
        config = self.config
        if isinstance(config, StdioServerConfig):
            return stdio_client(stdio_parameters(config), errlog=self._errlog or sys.stderr)
        client = http_client(config, watch)
        stack.push_async_callback(client.aclose)
        return streamable_http_client(config.url, http_client=client)

    async def _list_all(self, session: ClientSession) -> list[types.Tool]:
        tools: list[types.Tool] = []
        cursor: str | None = None
        for _ in range(_MAX_PAGES):
            params = types.PaginatedRequestParams(cursor=cursor) if cursor else None
            page = await session.list_tools(params=params)
            tools.extend(page.tools)
            cursor = page.next_cursor
            if not cursor:
                return tools
        raise ServerConnectionError(self.name, f"tools/list did not end after {_MAX_PAGES} pages")

    async def _refresh(self, session: ClientSession) -> None:
        try:
            with anyio.fail_after(_REFRESH_TIMEOUT):
                self._tools = await self._list_all(session)
        except Exception as exc:  # noqa: BLE001 - keep the previous listing
            logger.warning("MCP server %r: re-listing tools failed: %s", self.name, _describe(exc))
            return
        if self._on_tools_changed is not None:
            try:
                await self._on_tools_changed(self)
            except Exception:  # pragma: no cover - a bug in the callback
                logger.exception("MCP server %r: tools-changed callback failed", self.name)

    async def _on_message(self, message: Any) -> None:
        if isinstance(message, Exception):
            logger.warning("MCP server %r sent something that is not JSON-RPC: %s", self.name, message)
        elif isinstance(message, types.ToolListChangedNotification) and self._events is not None:
            self._events.put_nowait("refresh")

    def _alive(self) -> bool:
        # The session's read stream has not ended (a stdio server that exited ends it).
        return self._session is not None and not self._watch.closed

    # -- calls -----------------------------------------------------------------------------

    async def refresh_tools(self) -> list[types.Tool]:
        """Re-list the server's tools now (all pages) and return them."""
        session = await self._ensure_session()
        await self._refresh(session)
        return self.tools

    async def _ensure_session(self) -> ClientSession:
        if self._state == "closed":
            raise ServerConnectionError(self.name, "the connection is closed")
        session = self._session
        if self._state == "ready" and session is not None and self._alive():
            return session
        if self._state == "idle":
            raise ServerConnectionError(self.name, "not connected (enter the registry first)")
        async with self._lock:
            session = self._session
            if self._state == "ready" and session is not None and self._alive():
                return session
            logger.info("MCP server %r: reconnecting (%s)", self.name, self.last_error or "session ended")
            try:
                await self._start()
            except ServerConnectionError as exc:
                raise ServerConnectionError(self.name, f"reconnect failed: {self.last_error}") from exc
            assert self._session is not None
            return self._session

    async def call_tool(
        self, name: str, arguments: dict[str, Any], *, timeout: float
    ) -> types.CallToolResult:
        """Call one tool of this server on the shared session.

        Args:
            name: The tool's name on the server (not the registry's final name).
            arguments: Arguments, already validated.
            timeout: Seconds before the call is cancelled.

        Returns:
            The raw MCP result (which may have ``is_error`` set).

        Raises:
            ToolTimeout: The call took longer than ``timeout``.
            ServerConnectionError: The server is down and could not be reconnected, or it died
                during the call.
        """
        slot = _InFlight(name, current_elicitation_handler() or self._elicitation_handler)
        self._in_flight.append(slot)
        try:
            return await self._call(slot, arguments, timeout)
        finally:
            self._in_flight.remove(slot)
            while not slot.inbox.empty():  # routed here, but this call ended: another call answers
                request, answer = slot.inbox.get_nowait()
                if not answer.done():
                    self._route(request, answer)

    async def _call(self, slot: _InFlight, arguments: dict[str, Any], timeout: float) -> types.CallToolResult:
        name = slot.tool
        session = await self._ensure_session()
        watch = self._watch
        try:
            try:
                result = await self._send(session, slot, arguments, timeout)
            except MCPError as exc:
                if not (exc.error.code == types.INVALID_REQUEST and watch.session_forgotten):
                    raise
                # The HTTP server no longer knows our session (it restarted): the request was
                # not processed, so open a new session and send it once more.
                self._mark_dead("the server forgot the session")
                session = await self._ensure_session()
                result = await self._send(session, slot, arguments, timeout)
        except MCPError as exc:
            if exc.error.code == types.REQUEST_TIMEOUT:
                raise ToolTimeout(name, timeout) from exc
            if exc.error.code == types.CONNECTION_CLOSED:
                self._mark_dead("the server closed the connection")
                raise ServerConnectionError(
                    self.name, f"connection lost during call to {name!r} (the next call reconnects)"
                ) from exc
            raise ServerConnectionError(self.name, f"protocol error from {name!r}: {exc}") from exc
        except (OSError, anyio.BrokenResourceError, anyio.ClosedResourceError) as exc:
            self._mark_dead(_describe(exc))
            raise ServerConnectionError(self.name, f"transport failed during {name!r}: {exc}") from exc
        except RuntimeError as exc:  # e.g. the server asked for input we cannot give
            raise ServerConnectionError(self.name, f"unsupported reply to {name!r}: {exc}") from exc
        if not isinstance(result, types.CallToolResult):  # pragma: no cover - claimed results
            raise ServerConnectionError(self.name, f"unexpected result type {type(result).__name__}")
        return result

    async def _send(
        self, session: ClientSession, slot: _InFlight, arguments: dict[str, Any], timeout: float
    ) -> types.CallToolResult:
        """Send ``tools/call`` and answer the elicitation requests routed to it meanwhile, in this task.

        The request goes out as a plain ``tools/call`` (``send_request``), so the SDK does not
        raise on a result that misses the tool's ``outputSchema``: the registry checks it.
        """
        params = types.CallToolRequestParams(name=slot.tool, arguments=arguments)
        request = types.CallToolRequest(params=params)
        call = asyncio.ensure_future(
            session.send_request(request, types.CallToolResult, request_read_timeout_seconds=timeout)
        )
        try:
            while True:
                asked = asyncio.ensure_future(slot.inbox.get())
                try:
                    await asyncio.wait({call, asked}, return_when=asyncio.FIRST_COMPLETED)
                finally:
                    if not asked.done():
                        asked.cancel()
                if call.done():
                    if asked.done() and not asked.cancelled():
                        slot.inbox.put_nowait(asked.result())  # answered (cancelled) in call_tool
                    return call.result()
                request_seen, answer = asked.result()
                slot.answering += 1
                try:
                    response = await self._answer(slot, request_seen)
                except BaseException:
                    if not answer.done():  # e.g. the handler paused the graph (interrupt())
                        answer.set_result(types.ElicitResult(action="cancel"))
                    raise
                finally:
                    slot.answering -= 1
                if not answer.done():
                    answer.set_result(response)
        finally:
            if not call.done():
                call.cancel()
                with contextlib.suppress(BaseException):
                    await call

    async def _answer(self, slot: _InFlight, request: ElicitationRequest) -> types.ElicitResult:
        """The handler's answer to one elicitation request, as the MCP result."""
        handler = slot.handler
        if handler is None:
            logger.warning(
                "MCP server %r asked for user input during %r (%r); no elicitation handler is set, "
                "so it was declined",
                self.name,
                slot.tool,
                request.message,
            )
            return types.ElicitResult(action="decline")
        response: ElicitationResponse = await handler(request)
        content = response.content if response.action == "accept" and request.mode == "form" else None
        return types.ElicitResult(action=response.action, content=content)

    async def _on_elicit(self, context: Any, params: types.ElicitRequestParams) -> types.ElicitResult:
        """The session's elicitation callback (in the runner task): hand the request to a call in flight."""
        if isinstance(params, types.ElicitRequestURLParams):
            request = ElicitationRequest(
                server=self.name,
                tool="",
                message=params.message,
                mode="url",
                url=params.url,
                elicitation_id=params.elicitation_id,
            )
        else:
            request = ElicitationRequest(
                server=self.name,
                tool="",
                message=params.message,
                requested_schema=dict(params.requested_schema),
            )
        answer: asyncio.Future[types.ElicitResult] = asyncio.get_running_loop().create_future()
        self._route(request, answer)
        return await answer

    def _route(self, request: ElicitationRequest, answer: asyncio.Future[types.ElicitResult]) -> None:
        """Hand a request to the least busy call in flight (the oldest among equals), or decline it."""
        if not self._in_flight:
            logger.warning(
                "MCP server %r asked for user input outside any tool call (%r); declined",
                self.name,
                request.message,
            )
            answer.set_result(types.ElicitResult(action="decline"))
            return
        slot = min(self._in_flight, key=lambda call: call.answering + call.inbox.qsize())
        slot.inbox.put_nowait((dataclasses.replace(request, tool=slot.tool), answer))

    def _mark_dead(self, why: str) -> None:
        if self._state == "ready":
            self._state = "dead"
        self.last_error = why
        if self._events is not None:
            self._events.put_nowait("stop")


def _describe(exc: BaseException) -> str:
    if isinstance(exc, BaseExceptionGroup):
        return "; ".join(_describe(e) for e in exc.exceptions)
    text = str(exc) or type(exc).__name__
    return f"{type(exc).__name__}: {text}"
