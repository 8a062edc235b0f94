"""The shared tool registry: MCP servers and Python callables behind one name table.

Final names and collisions (deterministic):

1. An MCP tool is named ``<server>__<tool>``; a Python tool keeps its own name (or the
   ``name=`` given). Every name is sanitised to ``[A-Za-z0-9_-]{1,64}``: other characters
   become ``_``; a name longer than 64 keeps 55 characters plus ``_`` and 8 hex digits of a
   SHA-256 of the unsanitised name.
2. Claims are made in a fixed order: Python tools in registration order, then servers in the
   order they were added, each server's tools in its listing order.
3. Registering a Python tool under a name another Python tool holds raises
   :class:`DuplicateToolName` (pass ``replace=True`` to replace it).
4. Any other clash (an MCP tool whose final name is taken, or two tools of one server that
   sanitise to the same name) keeps the first claimant's name; the later tool is renamed
   ``<name[:57]>_<6 hex of SHA-256("<server>:<original name>")>``: the same tool always gets
   the same name, whatever the order in which servers answer.
"""

from __future__ import annotations

import asyncio
import fnmatch
import inspect
import logging
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Self, TextIO, TypeVar, overload

from jsonschema.protocols import Validator
from langchain_core.tools import BaseTool, StructuredTool, ToolException
from pydantic import BaseModel, ValidationError

from . import _names
from ._schema import compile_validator, model_for_callable, schema_of, validate_arguments
from .adapt import adapt_tool_schema
from .config import HttpServerConfig, MemberPolicy, RegistryConfig, StdioServerConfig
from .convert import error_result, fence, from_mcp_result, from_python_value, to_model_content
from .errors import (
    DuplicateToolName,
    RegistryConfigError,
    RegistryStateError,
    ServerConnectionError,
    ToolCallError,
    ToolNotAllowed,
    ToolNotFound,
    ToolRegistryError,
    ToolTimeout,
)
from .mcp_client import MCPConnection
from .models import ToolInfo, ToolOrigin, ToolResult

__all__ = ["ToolRegistry", "ToolView"]

logger = logging.getLogger(__name__)

F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True, slots=True)
class _PythonTool:
    fn: Callable[..., Any]
    model: type[BaseModel]
    info: ToolInfo


@dataclass(frozen=True, slots=True)
class _Entry:
    info: ToolInfo
    python: _PythonTool | None = None
    validator: Validator | None = None


def _bubbles_up(exc: BaseException) -> bool:
    """Whether ``exc`` is LangGraph's ``GraphBubbleUp`` (an ``interrupt()``), which must reach the graph.

    Looked up only when LangGraph is already imported: without it, nothing can raise one.
    """
    errors = sys.modules.get("langgraph.errors")
    bubble = getattr(errors, "GraphBubbleUp", None)
    return isinstance(bubble, type) and isinstance(exc, bubble)


def _schema_for(info: ToolInfo, provider: str | None) -> dict[str, Any]:
    return info.input_schema if provider is None else adapt_tool_schema(info.input_schema, provider)


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
        if self.member is None:
            return True
        policy = self.registry.policy_for(self.member)
        if any(fnmatch.fnmatchcase(name, pat) for pat in policy.deny):
            return False
        return any(fnmatch.fnmatchcase(name, pat) for pat in policy.allow)

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
        return [self.registry._langchain_tool(info, self.member, provider) for info in self.list_tools()]

    def openai_schemas(self, *, provider: str | None = None) -> list[dict[str, Any]]:
        """OpenAI function-tool schemas for this member (schemas adapted to ``provider``)."""
        return [
            {
                "type": "function",
                "function": {
                    "name": t.name,
                    "description": t.description,
                    "parameters": _schema_for(t, provider),
                },
            }
            for t in self.list_tools()
        ]


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
    ) -> None:
        cfg = config or RegistryConfig()
        self.timeout = timeout if timeout is not None else cfg.timeout
        self.strict = strict if strict is not None else cfg.strict
        self.fence_results = fence_results if fence_results is not None else cfg.fence_results
        self._errlog = errlog
        self._servers: dict[str, StdioServerConfig | HttpServerConfig] = {}
        self._connections: dict[str, MCPConnection] = {}
        self._python: dict[str, _PythonTool] = {}
        self._hidden: set[tuple[str, str]] = set()
        self._policies: dict[str, MemberPolicy] = dict(cfg.members)
        self._default_policy = MemberPolicy()
        self._table: dict[str, _Entry] = {}
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
        self._python[final] = _PythonTool(fn=fn, model=model, info=info)
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
        info = self.get(name, member)
        entry = self._table[name]
        arguments = dict(args or {})
        problem = validate_arguments(entry.validator, arguments)
        if problem is not None:
            return error_result(name, problem, kind="invalid_arguments")
        if entry.python is not None:
            return await self._call_python(entry.python, arguments, timeout or self.timeout)
        server = info.origin.server or ""
        conn = self._connections.get(server)
        if conn is None:
            raise ServerConnectionError(server, "not connected (enter `async with registry:` first)")
        limit = timeout or self._servers[server].timeout or self.timeout
        try:
            result = await conn.call_tool(info.origin.original_name, arguments, timeout=limit)
        except ToolTimeout as exc:
            raise ToolTimeout(name, limit) from exc
        return from_mcp_result(name, result)

    async def _call_python(self, tool: _PythonTool, arguments: dict[str, Any], timeout: float) -> ToolResult:
        name = tool.info.name
        try:
            parsed = tool.model.model_validate(arguments)
        except ValidationError as exc:
            return error_result(
                name, f"arguments do not match the input schema:\n{exc}", kind="invalid_arguments"
            )
        kwargs = {field: getattr(parsed, field) for field in type(parsed).model_fields}
        try:
            async with asyncio.timeout(timeout):
                if inspect.iscoroutinefunction(tool.fn):
                    value = await tool.fn(**kwargs)
                else:
                    # Note: a sync function that runs past the timeout keeps its thread.
                    value = await asyncio.to_thread(tool.fn, **kwargs)
                    if inspect.isawaitable(value):
                        value = await value
        except TimeoutError as exc:
            raise ToolTimeout(name, timeout) from exc
        except Exception as exc:  # noqa: BLE001 - any failure of the tool goes back to the model
            if _bubbles_up(exc):
                raise
            logger.info("Python tool %r raised %s", name, type(exc).__name__, exc_info=True)
            return error_result(name, f"{type(exc).__name__}: {exc}")
        return from_python_value(name, value)

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

    def _langchain_tool(self, info: ToolInfo, member: str | None, provider: str | None = None) -> BaseTool:
        name = info.name
        fenced = self.fence_results

        def failure(text: str) -> ToolException:
            # Connection and protocol errors carry the server's own words: fenced like its output.
            return ToolException(fence(text, name, is_error=True) if fenced else text)

        async def run(**kwargs: Any) -> tuple[str | list[dict[str, Any]], ToolResult]:
            try:
                result = await self.call(name, kwargs, member=member)
            except (ToolCallError, ToolNotFound, ServerConnectionError) as exc:
                raise failure(f"Error: {exc}") from exc
            if result.is_error:
                raise failure(result.text)
            return to_model_content(result, fenced=fenced), result

        return StructuredTool(
            name=name,
            description=info.description,
            args_schema=_schema_for(info, provider),
            coroutine=run,
            response_format="content_and_artifact",
            handle_tool_error=True,
            metadata={"origin": info.origin.kind, "server": info.origin.server},
        )

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
            name: MCPConnection(cfg, on_tools_changed=self._tools_changed, errlog=self._errlog)
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
        """Recompute the name table (see the module docstring for the collision policy)."""
        table: dict[str, _Entry] = {}
        previous = self._table
        for name, tool in self._python.items():
            old = previous.get(name)
            if old is not None and old.python is tool:
                table[name] = old
            else:
                table[name] = _Entry(
                    info=tool.info, python=tool, validator=compile_validator(tool.info.input_schema)
                )
        for server, cfg in self._servers.items():
            conn = self._connections.get(server)
            if conn is None:
                continue
            for tool in conn.tools:
                if (server, tool.name) in self._hidden:
                    continue
                preferred = _names.final_name(tool.name, server if cfg.namespace else None)
                final = preferred
                if final in table:
                    final = _names.disambiguate(preferred, f"{server}:{tool.name}")
                    logger.info("tool %r of %r renamed %r: %r is taken", tool.name, server, final, preferred)
                if final in table:  # pragma: no cover - a SHA-256 prefix clash
                    continue
                info = ToolInfo(
                    name=final,
                    description=(tool.description or tool.title or f"Tool {tool.name} of {server}.").strip(),
                    input_schema=dict(tool.input_schema),
                    origin=ToolOrigin(kind="mcp", server=server, original_name=tool.name),
                )
                old = previous.get(final)
                if old is not None and old.info == info:  # unchanged: keep the compiled validator
                    table[final] = old
                else:
                    table[final] = _Entry(info=info, validator=compile_validator(info.input_schema))
        self._table = table
