"""Calling one tool: the argument check, the call, its timeout, and what a failure becomes.

Execution problems come back as an error :class:`~tool_registry.models.ToolResult` the model can
read (arguments that do not match the input schema, an MCP result with ``isError``, a structured
result that does not match the tool's ``outputSchema``, a Python tool that raised); a timeout
raises :class:`~tool_registry.errors.ToolTimeout` and a missing or dead server
:class:`~tool_registry.errors.ServerConnectionError`.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import sys
from collections.abc import Mapping
from typing import Any

from ._schema import bind_arguments, validate_arguments, validate_output
from ._table import Entry, PythonTool
from .convert import error_result, from_mcp_result, from_python_value
from .errors import ServerConnectionError, ToolTimeout
from .mcp_client import MCPConnection
from .models import ToolResult

__all__ = ["call_entry"]

logger = logging.getLogger(__name__)


def _bubbles_up(exc: BaseException) -> bool:
    """Whether ``exc`` is LangGraph's ``GraphBubbleUp`` (an ``interrupt()``), which must reach the graph.

    Looked up only when LangGraph is already imported: without it, nothing can raise one.
    """
    errors = sys.modules.get("langgraph.errors")
    bubble = getattr(errors, "GraphBubbleUp", None)
    return isinstance(bubble, type) and isinstance(exc, bubble)


async def call_entry(
    entry: Entry, args: Mapping[str, Any] | None, *, connection: MCPConnection | None, timeout: float
) -> ToolResult:
    """Check the arguments against the tool's input schema, then call it.

    The schema check is the one validation, for every tool; a Python tool's arguments are then
    bound to its parameters' types (nested models, dates, …) by its pydantic model.

    Args:
        entry: The tool's row in the name table.
        args: The arguments (a JSON object).
        connection: The tool's server connection (None for a Python tool, or a server that is not
            connected).
        timeout: Seconds before the call is cancelled.

    Raises:
        ToolTimeout: The call took longer than ``timeout``.
        ServerConnectionError: The tool's server is not connected, could not be reconnected, or
            died during the call.
    """
    name = entry.info.name
    arguments = dict(args or {})
    problem = validate_arguments(entry.validator, arguments)
    if problem is not None:
        return error_result(name, problem, kind="invalid_arguments")
    if entry.python is not None:
        return await _call_python(entry.python, arguments, timeout)
    origin = entry.info.origin
    if connection is None:
        raise ServerConnectionError(origin.server or "", "not connected (enter `async with registry:` first)")
    try:
        result = await connection.call_tool(origin.original_name, arguments, timeout=timeout)
    except ToolTimeout as exc:
        raise ToolTimeout(name, timeout) from exc
    converted = from_mcp_result(name, result)
    if entry.output_validator is not None and not converted.is_error:
        problem = validate_output(entry.output_validator, result.structured_content)
        if problem is not None:
            logger.info("MCP tool %r: %s", name, problem)
            return error_result(name, problem, kind="invalid_output")
    return converted


async def _call_python(tool: PythonTool, arguments: dict[str, Any], timeout: float) -> ToolResult:
    name = tool.info.name
    kwargs = bind_arguments(tool.model, arguments)
    if isinstance(kwargs, str):  # a check of the model's own that the schema does not carry
        return error_result(name, kwargs, kind="invalid_arguments")
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
