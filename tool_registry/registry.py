"""The shared tool registry: MCP servers and Python callables behind one name table.

:class:`ToolRegistry` registers tools and servers, holds the member policies and the servers'
lifecycle. The jobs it delegates live beside it: the name table and its collision policy
(:mod:`tool_registry._table`), calling a tool (:mod:`tool_registry._dispatch`) and the forms a
model is handed (:mod:`tool_registry._langchain`). :class:`ToolView` is one member's view.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Callable, Mapping, Sequence
from functools import partial
from types import TracebackType
from typing import Any, Self, TextIO, TypeVar, overload

from langchain_core.tools import BaseTool
from pydantic import ValidationError

from . import _names
from ._dispatch import call_entry
from ._langchain import langchain_tool, openai_schema
from ._schema import model_for_callable, schema_of
from ._table import Entry, PythonTool, allows, build_table
from .config import HttpServerConfig, MemberPolicy, RegistryConfig, StdioServerConfig
from .elicitation import ElicitationHandler
from .errors import (
    DuplicateToolName,
    RegistryConfigError,
    RegistryStateError,
    ToolNotAllowed,
    ToolNotFound,
    ToolRegistryError,
)
from .mcp_client import MCPConnection
from .models import ToolInfo, ToolOrigin, ToolResult

__all__ = ["ToolRegistry", "ToolView"]

logger = logging.getLogger(__name__)

F = TypeVar("F", bound=Callable[..., Any])


class ToolView:
    """The registry as one member sees it: its allow/deny policy applied, nothing copied.

    A view holds a reference to the registry and filters on every access, so tools that appear
    later (a server's ``list_changed``) show up in existing views too.

    Args:
        registry: The registry to look through.
        member: The member whose policy applies (None: no policy, every tool).
    """

    def __init__(self, registry: ToolRegistry, member: str | None) -> None:
        self.registry = registry
        self.member = member

    def allows(self, name: str) -> bool:
        """Whether the member's policy lets it see and call the tool ``name``."""
        return self.member is None or allows(self.registry.policy_for(self.member), name)

    def list_tools(self) -> list[ToolInfo]:
        """The tools this member may use, in name-table order."""
        return [e.info for e in self.registry._table.values() if self.allows(e.info.name)]

    def get(self, name: str) -> ToolInfo:
        """The tool ``name``.

        Raises:
            ToolNotFound: No such tool.
            ToolNotAllowed: The member's policy hides it.
        """
        entry = self.registry._table.get(name)
        if entry is None:
            raise ToolNotFound(name, self.registry._not_found_message(name))
        if not self.allows(name):
            raise ToolNotAllowed(name, self.member or "")
        return entry.info

    async def call(
        self, name: str, args: Mapping[str, Any] | None, *, timeout: float | None = None
    ) -> ToolResult:
        """Call a tool as this member. See :meth:`ToolRegistry.call`."""
        return await self.registry.call(name, args, member=self.member, timeout=timeout)

    def as_langchain_tools(self, *, provider: str | None = None) -> list[BaseTool]:
        """LangChain tools for this member. See :meth:`ToolRegistry.as_langchain_tools`."""
        call = partial(self.registry.call, member=self.member)
        fenced = self.registry.fence_results
        return [langchain_tool(info, call, fenced=fenced, provider=provider) for info in self.list_tools()]

    def openai_schemas(self, *, provider: str | None = None) -> list[dict[str, Any]]:
        """OpenAI function-tool schemas for this member (schemas adapted to ``provider``)."""
        return [openai_schema(info, provider) for info in self.list_tools()]


class ToolRegistry:
    """MCP servers and Python functions, shared by every member of a pool.

    Args:
        config: Servers, defaults and member policies (e.g. from
            :func:`~tool_registry.config.load_registry_config`).
        timeout: Default per-call timeout in seconds (overrides ``config.timeout``).
        strict: Raise at ``__aenter__`` when a server cannot connect (default: log it, serve
            the others).
        fence_results: Wrap tool output given to models in untrusted-data markers.
        errlog: Where stdio servers' stderr goes (default: this process's stderr).
        elicitation_handler: Answers servers' requests for user input (MCP elicitation) during
            tool calls made outside :func:`~tool_registry.elicitation.handling_elicitation`
            (default: they are declined, with a log line). A fusion sets its own handler around
            its members' tool calls.

    Example:
        >>> registry = ToolRegistry()
        >>> _ = registry.add_mcp_server("time", command="mcp-server-time")
        >>> @registry.tool
        ... def add(a: int, b: int) -> int:
        ...     '''Add two integers.'''
        ...     return a + b
        >>> async with registry:  # doctest: +SKIP
        ...     out = await registry.call("time__get_current_time", {"timezone": "Asia/Tokyo"})
    """

    def __init__(
        self,
        config: RegistryConfig | None = None,
        *,
        timeout: float | None = None,
        strict: bool | None = None,
        fence_results: bool | None = None,
        errlog: TextIO | None = None,
        elicitation_handler: ElicitationHandler | None = None,
    ) -> None:
        cfg = config or RegistryConfig()
        self.elicitation_handler = elicitation_handler
        self.timeout = timeout if timeout is not None else cfg.timeout
        self.strict = strict if strict is not None else cfg.strict
        self.fence_results = fence_results if fence_results is not None else cfg.fence_results
        self._errlog = errlog
        self._servers: dict[str, StdioServerConfig | HttpServerConfig] = {}
        self._connections: dict[str, MCPConnection] = {}
        self._python: dict[str, PythonTool] = {}
        self._hidden: set[tuple[str, str]] = set()
        self._policies: dict[str, MemberPolicy] = dict(cfg.members)
        self._default_policy = MemberPolicy()
        self._table: dict[str, Entry] = {}
        self._entered = False
        self._users = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._lock = asyncio.Lock()
        self._lock_loop: asyncio.AbstractEventLoop | None = None
        for server in cfg.servers:
            self.add_server(server)

    @classmethod
    def from_config(cls, config: RegistryConfig | str | os.PathLike[str], **kwargs: Any) -> ToolRegistry:
        """Build a registry from a :class:`RegistryConfig` or a TOML/YAML file path."""
        if not isinstance(config, RegistryConfig):
            config = RegistryConfig.from_file(config)
        return cls(config, **kwargs)

    # -- registration ----------------------------------------------------------------------

    def add_mcp_server(
        self,
        name: str,
        *,
        command: str | None = None,
        args: Sequence[str] = (),
        env: Mapping[str, str] | None = None,
        cwd: str | None = None,
        url: str | None = None,
        headers: Mapping[str, str] | None = None,
        timeout: float | None = None,
        connect_timeout: float = 30.0,
        namespace: bool = True,
    ) -> StdioServerConfig | HttpServerConfig:
        """Register an MCP server: ``command=`` (stdio) or ``url=`` (streamable HTTP).

        Args:
            name: Server name, the tools' namespace (``name__tool``).
            command: Executable of a stdio server.
            args: Its arguments.
            env: Its whole environment (plus ``PATH``); nothing else is inherited.
            cwd: Its working directory.
            url: Endpoint of a streamable HTTP server.
            headers: HTTP headers for every request (e.g. ``Authorization``).
            timeout: Default per-call timeout for this server's tools.
            connect_timeout: Seconds allowed to connect and initialize.
            namespace: Prefix tool names with ``name__``.

        Returns:
            The validated server config.

        Raises:
            RegistryConfigError: Both or neither of ``command`` and ``url``, an invalid field,
                a duplicate server name.
            RegistryStateError: Called inside ``async with registry:``.
        """
        if (command is None) == (url is None):
            raise RegistryConfigError(f"server {name!r}: give exactly one of command= (stdio) or url= (HTTP)")
        common: dict[str, Any] = {
            "name": name,
            "timeout": timeout,
            "connect_timeout": connect_timeout,
            "namespace": namespace,
        }
        try:
            if command is not None:
                config: StdioServerConfig | HttpServerConfig = StdioServerConfig(
                    command=command, args=list(args), env=dict(env or {}), cwd=cwd, **common
                )
            else:
                config = HttpServerConfig(url=url or "", headers=dict(headers or {}), **common)
        except ValidationError as exc:
            raise RegistryConfigError(f"server {name!r}: invalid config:\n{exc}") from exc
        return self.add_server(config)

    def add_server(
        self, config: StdioServerConfig | HttpServerConfig
    ) -> StdioServerConfig | HttpServerConfig:
        """Register an MCP server from its typed config. See :meth:`add_mcp_server`."""
        if self._entered:
            raise RegistryStateError("add servers before `async with registry:`")
        if config.name in self._servers:
            raise RegistryConfigError(f"an MCP server named {config.name!r} is already registered")
        self._servers[config.name] = config
        return config

    @overload
    def tool(self, fn: F, /, *, name: str | None = None, description: str | None = None) -> F: ...

    @overload
    def tool(
        self, fn: None = None, /, *, name: str | None = None, description: str | None = None
    ) -> Callable[[F], F]: ...

    def tool(
        self, fn: F | None = None, /, *, name: str | None = None, description: str | None = None
    ) -> F | Callable[[F], F]:
        """Decorator registering a Python function (sync or async) as a tool.

        Usable bare (``@registry.tool``) or with options (``@registry.tool(name="sum")``).
        The function is returned unchanged.
        """

        def decorate(f: F) -> F:
            self.add_function(f, name=name, description=description)
            return f

        return decorate(fn) if fn is not None else decorate

    def add_function(
        self,
        fn: Callable[..., Any],
        name: str | None = None,
        *,
        description: str | None = None,
        replace: bool = False,
    ) -> ToolInfo:
        """Register a Python callable (sync or async) as a tool.

        The input schema comes from the signature's type hints (via pydantic), the
        description and per-argument descriptions from its Google-style docstring. Sync
        functions run in a worker thread.

        Args:
            fn: The callable.
            name: Tool name (default: ``fn.__name__``), sanitised.
            description: Overrides the docstring's summary.
            replace: Replace a Python tool that already has this name.

        Returns:
            The registered tool.

        Raises:
            DuplicateToolName: Another Python tool has this final name and ``replace`` is False.
            RegistryConfigError: The signature cannot be turned into a schema.
        """
        raw_name = name or getattr(fn, "__name__", "") or "tool"
        final = _names.sanitize(raw_name)
        if final in self._python and not replace:
            raise DuplicateToolName(
                f"a Python tool named {final!r} is already registered; pass replace=True or another name="
            )
        try:
            model, doc = model_for_callable(fn, final)
            schema = schema_of(model)
        except Exception as exc:
            raise RegistryConfigError(f"tool {raw_name!r}: cannot build an input schema: {exc}") from exc
        info = ToolInfo(
            name=final,
            description=(description or doc or f"Tool {final}.").strip(),
            input_schema=schema,
            origin=ToolOrigin(kind="python", server=None, original_name=raw_name),
        )
        self._python[final] = PythonTool(fn=fn, model=model, info=info)
        self._rebuild()
        return info

    def remove(self, name: str) -> None:
        """Remove the tool ``name``.

        A Python tool is unregistered; an MCP tool is hidden (its server keeps it), also after
        the server re-lists its tools.

        Raises:
            ToolNotFound: No tool has this name.
        """
        entry = self._table.get(name)
        if entry is None:
            raise ToolNotFound(name)
        origin = entry.info.origin
        if origin.kind == "python":
            self._python.pop(name, None)
        else:
            self._hidden.add((origin.server or "", origin.original_name))
        self._rebuild()

    # -- member policies and views ---------------------------------------------------------

    def set_member_policy(
        self, member: str, *, allow: Sequence[str] = ("*",), deny: Sequence[str] = ()
    ) -> MemberPolicy:
        """Set which tools ``member`` sees: glob patterns on final names; deny wins over allow."""
        policy = MemberPolicy(allow=tuple(allow), deny=tuple(deny))
        self._policies[member] = policy
        return policy

    def set_default_policy(self, *, allow: Sequence[str] = ("*",), deny: Sequence[str] = ()) -> MemberPolicy:
        """The policy of members that have none of their own (default: allow everything)."""
        self._default_policy = MemberPolicy(allow=tuple(allow), deny=tuple(deny))
        return self._default_policy

    def policy_for(self, member: str) -> MemberPolicy:
        """The policy that applies to ``member``."""
        return self._policies.get(member, self._default_policy)

    def view(self, member: str | None = None) -> ToolView:
        """A live, filtered view of the registry for one member (None: every tool)."""
        return ToolView(self, member)

    # -- lookup ----------------------------------------------------------------------------

    def list_tools(self, member: str | None = None) -> list[ToolInfo]:
        """The tools ``member`` may use (all tools when ``member`` is None)."""
        return self.view(member).list_tools()

    def get(self, name: str, member: str | None = None) -> ToolInfo:
        """The tool named ``name``.

        Raises:
            ToolNotFound: No such tool.
            ToolNotAllowed: ``member``'s policy hides it.
        """
        return self.view(member).get(name)

    def __contains__(self, name: object) -> bool:
        return name in self._table

    def __len__(self) -> int:
        return len(self._table)

    @property
    def is_open(self) -> bool:
        """Whether some ``async with registry`` block holds the registry open (servers connected)."""
        return self._users > 0

    @property
    def servers(self) -> dict[str, MCPConnection]:
        """The live connections, by server name (empty outside ``async with``)."""
        return dict(self._connections)

    def server_status(self) -> dict[str, str]:
        """State of each registered server: idle, connecting, ready, dead or closed."""
        return {
            name: (conn.state if (conn := self._connections.get(name)) else "idle") for name in self._servers
        }

    def _not_found_message(self, name: str) -> str:
        if self._servers and not self._entered:
            return f"no tool named {name!r} (MCP tools are known only inside `async with registry:`)"
        return f"no tool named {name!r}"

    # -- calls -----------------------------------------------------------------------------

    async def call(
        self,
        name: str,
        args: Mapping[str, Any] | None = None,
        *,
        member: str | None = None,
        timeout: float | None = None,
    ) -> ToolResult:
        """Validate the arguments and call a tool.

        Execution problems come back as an error :class:`ToolResult` the model can read:
        arguments that do not match the input schema (``error_kind="invalid_arguments"``), an
        MCP result with ``isError``, a Python tool that raised.

        Args:
            name: Final tool name.
            args: The arguments (a JSON object).
            member: Calling member; its allow/deny policy applies.
            timeout: Seconds before the call is cancelled (default: the server's, else the
                registry's).

        Returns:
            The result.

        Raises:
            ToolNotFound: No such tool (:class:`ToolNotAllowed` if the policy hides it).
            ToolTimeout: The call took longer than the timeout.
            ServerConnectionError: The tool's server is down and could not be reconnected, or
                died during the call.
        """
        server = self.get(name, member).origin.server
        limit = timeout or (self._servers[server].timeout if server is not None else None) or self.timeout
        connection = self._connections.get(server) if server is not None else None
        return await call_entry(self._table[name], args, connection=connection, timeout=limit)

    # -- LangChain / OpenAI ----------------------------------------------------------------

    def as_langchain_tools(self, member: str | None = None, *, provider: str | None = None) -> list[BaseTool]:
        """LangChain ``StructuredTool`` objects for ``member``'s tools.

        Each tool's ``args_schema`` is the tool's JSON schema (downgraded with
        :func:`~tool_registry.adapt.adapt_tool_schema` when ``provider`` is given); its coroutine calls this
        registry. Invoked with a tool call it returns a ``ToolMessage`` whose content is the
        fenced output (plus image blocks) and whose ``artifact`` is the :class:`ToolResult`.
        Execution errors, timeouts, dead servers, protocol errors and unknown tools come back as
        a ``ToolMessage`` with ``status="error"`` instead of raising into the graph; their text
        is fenced like any output (it may quote the server).
        """
        return self.view(member).as_langchain_tools(provider=provider)

    def openai_schemas(
        self, member: str | None = None, *, provider: str | None = None
    ) -> list[dict[str, Any]]:
        """OpenAI-style ``{"type": "function", "function": {...}}`` tool schemas for ``member``.

        With ``provider``, each schema goes through :func:`~tool_registry.adapt.adapt_tool_schema`.
        """
        return self.view(member).openai_schemas(provider=provider)

    # -- lifecycle -------------------------------------------------------------------------

    @property
    def users(self) -> int:
        """How many ``async with registry`` blocks hold the registry open right now."""
        return self._users

    async def __aenter__(self) -> Self:
        """Open the registry, or join the opening another caller already made.

        Entering is reference-counted (as pydantic-ai's MCP servers do): the first enter
        connects every server (concurrently, one persistent session each), later and
        concurrent enters share that opening, and the last exit closes it. Nested
        ``async with registry:`` blocks and concurrent fusions that each enter the registry
        are therefore safe.

        Raises:
            RegistryStateError: The registry is open in another event loop.
            ServerConnectionError: A server failed to connect and ``strict`` is set.
        """
        loop = asyncio.get_running_loop()
        if self._loop is not None and self._loop is not loop:
            raise RegistryStateError(
                "the registry is open in another event loop; its sessions belong to that loop: "
                "enter it from the loop that opened it, or close it there first"
            )
        if self._lock_loop is not loop:
            # An asyncio.Lock binds to the loop that first waits on it; a registry closed in one
            # loop (one asyncio.run) may be opened again in the next.
            if self._lock.locked():
                raise RegistryStateError("the registry is being opened in another event loop")
            self._lock, self._lock_loop = asyncio.Lock(), loop
        async with self._lock:
            if not self._entered:
                await self._open()
                self._loop = loop
            self._users += 1
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Leave the registry; the last user to leave closes every session and stdio server.

        Raises:
            RegistryStateError: More exits than enters.
        """
        if self._users <= 0:
            raise RegistryStateError("`async with registry` exited more often than it was entered")
        # Counted down before any await, so a cancelled exit never leaves the count high.
        self._users -= 1
        if self._users > 0:
            return
        async with self._lock:
            if self._users == 0 and self._entered:
                await self._close()

    async def _open(self) -> None:
        """Connect every server (concurrently); on failure close what was started."""
        self._entered = True
        self._connections = {
            name: MCPConnection(
                cfg,
                on_tools_changed=self._tools_changed,
                errlog=self._errlog,
                elicitation_handler=self.elicitation_handler,
            )
            for name, cfg in self._servers.items()
        }
        try:
            outcomes = await asyncio.gather(
                *(conn.connect() for conn in self._connections.values()), return_exceptions=True
            )
        except BaseException:  # cancelled while connecting: stop what was started
            await self._close()
            raise
        failures = [o for o in outcomes if isinstance(o, BaseException)]
        for failure in failures:
            if not isinstance(failure, ToolRegistryError):
                await self._close()
                raise failure
            logger.warning("%s", failure)
        if failures and self.strict:
            await self._close()
            raise failures[0]
        self._rebuild()

    async def _close(self) -> None:
        connections, self._connections = self._connections, {}
        try:
            await asyncio.gather(*(c.aclose() for c in connections.values()), return_exceptions=True)
        finally:
            self._entered = False
            self._loop = None
            self._rebuild()

    async def _tools_changed(self, conn: MCPConnection) -> None:
        if self._connections.get(conn.name) is conn:
            self._rebuild()

    def _rebuild(self) -> None:
        """Recompute the name table (collision policy: :mod:`tool_registry._table`)."""
        self._table = build_table(self._python, self._servers, self._connections, self._hidden, self._table)
