"""What a model is handed: a registry tool as a LangChain ``BaseTool`` or an OpenAI function schema."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from langchain_core.tools import BaseTool, StructuredTool, ToolException

from .adapt import adapt_tool_schema
from .convert import fence, to_model_content
from .errors import ServerConnectionError, ToolCallError, ToolNotFound
from .models import ToolInfo, ToolResult

__all__ = ["langchain_tool", "openai_schema"]

Call = Callable[[str, dict[str, Any]], Awaitable[ToolResult]]
"""Calls a tool by final name with its arguments (the registry's ``call``, for one member)."""


def _schema_for(info: ToolInfo, provider: str | None) -> dict[str, Any]:
    return info.input_schema if provider is None else adapt_tool_schema(info.input_schema, provider)


def openai_schema(info: ToolInfo, provider: str | None) -> dict[str, Any]:
    """The OpenAI ``{"type": "function", ...}`` schema of a tool (adapted to ``provider``)."""
    parameters = _schema_for(info, provider)
    return {
        "type": "function",
        "function": {"name": info.name, "description": info.description, "parameters": parameters},
    }


def langchain_tool(info: ToolInfo, call: Call, *, fenced: bool, provider: str | None) -> BaseTool:
    """A LangChain ``StructuredTool`` whose coroutine runs ``call`` (see ``ToolRegistry.as_langchain_tools``).

    Args:
        info: The tool.
        call: Runs the tool by name (the registry's ``call`` with the member bound).
        fenced: Wrap output (and error text) in untrusted-data markers.
        provider: Adapt the ``args_schema`` to this provider (None: the tool's own schema).
    """
    name = info.name

    def failure(text: str) -> ToolException:
        # Connection and protocol errors carry the server's own words: fenced like its output.
        return ToolException(fence(text, name, is_error=True) if fenced else text)

    async def run(**kwargs: Any) -> tuple[str | list[dict[str, Any]], ToolResult]:
        try:
            result = await call(name, kwargs)
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
