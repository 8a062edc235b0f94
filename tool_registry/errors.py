"""Errors raised by the tool registry.

Every error derives from one base, so ``except ToolRegistryError`` catches them all. Developer
mistakes (bad configuration, duplicate names) are kept apart from run failures (a server that
cannot be reached, a call that times out)::

    ToolRegistryError
    ├── RegistryConfigError          a developer mistake: fix the code or the config file
    │   └── DuplicateToolName        two Python tools registered under one final name
    ├── RegistryStateError           a lifecycle misuse: a server added while open, more exits
    │                                than enters, a registry entered from a second event loop
    ├── ToolNotFound                 no tool of that name (or not visible to that member)
    │   └── ToolNotAllowed           the tool exists but the member's policy hides it
    ├── ServerConnectionError        an MCP server cannot be started / reached / reconnected
    └── ToolCallError                one tool call failed (the registry keeps serving)
        ├── ToolTimeout              the call ran past its timeout and was cancelled
        ├── ToolArgumentsInvalid     the arguments do not match the tool's input schema
        └── ToolExecutionError       the tool ran and reported an error (``isError``)

Tool *execution* problems (bad arguments, ``isError`` results, a Python tool that raised) are
not raised by :meth:`ToolRegistry.call`: they come back as a :class:`ToolResult` with
``is_error=True`` that the model can read; :meth:`ToolResult.raise_for_error` turns such a
result into :class:`ToolArgumentsInvalid` or :class:`ToolExecutionError` when code wants an
exception. Third-party errors (``mcp.MCPError``, ``OSError``, ``jsonschema`` errors) are
translated into these types and chained with ``from``.

Every error pickles (``__reduce__`` rebuilds it from its constructor's arguments), so errors can
cross process boundaries (LangGraph Server, worker processes).
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "DuplicateToolName",
    "RegistryConfigError",
    "RegistryStateError",
    "ServerConnectionError",
    "ToolArgumentsInvalid",
    "ToolCallError",
    "ToolExecutionError",
    "ToolNotAllowed",
    "ToolNotFound",
    "ToolRegistryError",
    "ToolTimeout",
]


def _rebuild(cls: type[BaseException], args: tuple[Any, ...]) -> BaseException:
    """Unpickle an error by calling its constructor again."""
    return cls(*args)


class ToolRegistryError(Exception):
    """Base class of every error raised by ``tool_registry``."""

    def _init_args(self) -> tuple[Any, ...]:
        """The constructor's arguments that rebuild this error (subclasses with fields override)."""
        return self.args

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickle as a constructor call, plus any attributes added later (e.g. ``__notes__``)."""
        return _rebuild, (type(self), self._init_args()), dict(self.__dict__)


class RegistryConfigError(ToolRegistryError):
    """A configuration mistake: an invalid server config, file, name or policy."""


class DuplicateToolName(RegistryConfigError):
    """A Python tool was registered under a final name that is already taken."""


class RegistryStateError(ToolRegistryError):
    """The registry's lifecycle was misused.

    Raised when an MCP server is added while the registry is open, when ``async with registry``
    exits more often than it was entered, and when the registry is entered from an event loop other
    than the one that holds it open (or is opening it). Using a registry that nobody entered is not
    this error: its Python tools work, and its MCP tools are unknown (:class:`ToolNotFound`).
    """


class ToolNotFound(ToolRegistryError, LookupError):
    """No tool with this final name is registered (or visible to the calling member)."""

    def __init__(self, name: str, message: str | None = None) -> None:
        self.name = name
        super().__init__(message or f"no tool named {name!r}")

    def _init_args(self) -> tuple[Any, ...]:
        return (self.name, str(self))


class ToolNotAllowed(ToolNotFound):
    """The tool exists, but the calling member's allow/deny policy hides it."""

    def __init__(self, name: str, member: str) -> None:
        self.member = member
        super().__init__(name, f"tool {name!r} is not allowed for member {member!r}")

    def _init_args(self) -> tuple[Any, ...]:
        return (self.name, self.member)


class ServerConnectionError(ToolRegistryError):
    """An MCP server could not be started, reached, or reconnected after it died."""

    def __init__(self, server: str, message: str) -> None:
        self.server = server
        self.detail = message
        super().__init__(f"MCP server {server!r}: {message}")

    def _init_args(self) -> tuple[Any, ...]:
        return (self.server, self.detail)


class ToolCallError(ToolRegistryError):
    """One tool call failed; the registry and the other servers keep working."""

    def __init__(self, tool: str, message: str) -> None:
        self.tool = tool
        super().__init__(message)

    def _init_args(self) -> tuple[Any, ...]:
        return (self.tool, str(self))


class ToolTimeout(ToolCallError):
    """The call took longer than its timeout and was cancelled."""

    def __init__(self, tool: str, timeout: float) -> None:
        self.timeout = timeout
        super().__init__(tool, f"tool {tool!r} timed out after {timeout:g} s")

    def _init_args(self) -> tuple[Any, ...]:
        return (self.tool, self.timeout)


class ToolArgumentsInvalid(ToolCallError):
    """The arguments do not validate against the tool's input JSON schema."""


class ToolExecutionError(ToolCallError):
    """The tool ran and reported an error."""
