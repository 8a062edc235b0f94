"""The name table: which tool answers to each final name, and which member may see it.

Final names and collisions (deterministic):

1. An MCP tool is named ``<server>__<tool>``; a Python tool keeps its own name (or the
   ``name=`` given). Every name is sanitised to ``[A-Za-z0-9_-]{1,64}``: other characters
   become ``_``; a name longer than 64 keeps 55 characters plus ``_`` and 8 hex digits of a
   SHA-256 of the unsanitised name.
2. Claims are made in a fixed order: Python tools in registration order, then servers in the
   order they were added, each server's tools in its listing order.
3. Registering a Python tool under a name another Python tool holds raises
   :class:`~tool_registry.errors.DuplicateToolName` (pass ``replace=True`` to replace it).
4. Any other clash (an MCP tool whose final name is taken, or two tools of one server that
   sanitise to the same name) keeps the first claimant's name; the later tool is renamed
   ``<name[:57]>_<6 hex of SHA-256("<server>:<original name>")>``: the same tool always gets
   the same name, whatever the order in which servers answer.

Member policies: glob patterns on final names; deny wins over allow.
"""

from __future__ import annotations

import fnmatch
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from jsonschema.protocols import Validator
from pydantic import BaseModel

from . import _names
from ._schema import compile_validator
from .config import HttpServerConfig, MemberPolicy, StdioServerConfig
from .mcp_client import MCPConnection
from .models import ToolInfo, ToolOrigin

__all__ = ["Entry", "PythonTool", "allows", "build_table"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class PythonTool:
    """A registered Python callable: the function, its arguments model, its description."""

    fn: Callable[..., Any]
    model: type[BaseModel]
    info: ToolInfo


@dataclass(frozen=True, slots=True)
class Entry:
    """One row of the name table: the tool, its Python callable if any, its validators."""

    info: ToolInfo
    python: PythonTool | None = None
    validator: Validator | None = None
    output_validator: Validator | None = None
    """Checks an MCP tool's structured result against its ``outputSchema`` (None: no schema)."""


def allows(policy: MemberPolicy, name: str) -> bool:
    """Whether ``policy`` lets its member see and call the tool ``name`` (deny wins)."""
    if any(fnmatch.fnmatchcase(name, pat) for pat in policy.deny):
        return False
    return any(fnmatch.fnmatchcase(name, pat) for pat in policy.allow)


def build_table(
    python: Mapping[str, PythonTool],
    servers: Mapping[str, StdioServerConfig | HttpServerConfig],
    connections: Mapping[str, MCPConnection],
    hidden: set[tuple[str, str]],
    previous: Mapping[str, Entry],
) -> dict[str, Entry]:
    """The name table (see the module docstring for the collision policy).

    Args:
        python: Python tools by final name, in registration order.
        servers: Server configs, in the order they were added.
        connections: Live connections by server name (a server without one has no tools).
        hidden: ``(server, original name)`` of removed MCP tools.
        previous: The table this one replaces: unchanged rows keep their compiled validator.
    """
    table: dict[str, Entry] = {}
    for name, tool in python.items():
        old = previous.get(name)
        if old is not None and old.python is tool:
            table[name] = old
        else:
            validator = compile_validator(tool.info.input_schema)
            table[name] = Entry(info=tool.info, python=tool, validator=validator)
    for server, cfg in servers.items():
        conn = connections.get(server)
        if conn is None:
            continue
        for tool in conn.tools:
            if (server, tool.name) in hidden:
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
                output_schema=dict(tool.output_schema) if tool.output_schema is not None else None,
            )
            old = previous.get(final)
            if old is not None and old.info == info:  # unchanged: keep the compiled validator
                table[final] = old
            else:
                output = compile_validator(info.output_schema) if info.output_schema is not None else None
                table[final] = Entry(
                    info=info, validator=compile_validator(info.input_schema), output_validator=output
                )
    return table
