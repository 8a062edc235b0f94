"""Value types shared by the registry: what a tool is, and what a call returns."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Literal

from .errors import ToolArgumentsInvalid, ToolExecutionError

__all__ = ["ErrorKind", "ToolInfo", "ToolOrigin", "ToolResult"]

ErrorKind = Literal["execution", "invalid_arguments", "invalid_output"]
"""Why a :class:`ToolResult` is an error: the tool failed, the arguments were rejected, or its
structured result did not match the tool's ``outputSchema``."""


@dataclass(frozen=True, slots=True)
class ToolOrigin:
    """Where a tool comes from.

    Attributes:
        kind: ``"mcp"`` for a tool of an MCP server, ``"python"`` for a Python callable.
        server: The MCP server's name (None for Python tools).
        original_name: The tool's name at its origin, before namespacing and sanitising.
    """

    kind: Literal["mcp", "python"]
    server: str | None
    original_name: str


@dataclass(frozen=True, slots=True)
class ToolInfo:
    """A registered tool as the models see it.

    Attributes:
        name: Final name: namespaced, sanitised to ``[A-Za-z0-9_-]{1,64}``, unique.
        description: What the tool does (shown to the model).
        input_schema: JSON schema (an ``object``) of the arguments.
        origin: Where the tool comes from.
        output_schema: JSON schema of the structured result an MCP tool declares
            (``outputSchema``); results are checked against it.
    """

    name: str
    description: str
    input_schema: dict[str, Any]
    origin: ToolOrigin
    output_schema: dict[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class ToolResult:
    """The outcome of one tool call, in a form a model can read.

    Attributes:
        name: Final name of the tool that was called.
        content: Content blocks in LangChain's standard shape: ``{"type": "text", "text": …}``
            and ``{"type": "image", "base64": …, "mime_type": …}`` (others kept as ``text``).
        structured: The tool's structured output (MCP ``structuredContent``), if any.
        is_error: True when the tool reported an error or the arguments were rejected.
        error_kind: Why it is an error (None when it is not).
    """

    name: str
    content: list[dict[str, Any]] = field(default_factory=list)
    structured: dict[str, Any] | None = None
    is_error: bool = False
    error_kind: ErrorKind | None = None

    @property
    def text(self) -> str:
        """All text blocks joined by newlines (the structured output as JSON if no text)."""
        texts = [str(b.get("text", "")) for b in self.content if b.get("type") == "text"]
        if not texts and self.structured is not None:
            return json.dumps(self.structured, ensure_ascii=False)
        return "\n".join(texts)

    def raise_for_error(self) -> ToolResult:
        """Return self, or raise when this result is an error.

        Returns:
            This result, unchanged, when it is not an error.

        Raises:
            ToolArgumentsInvalid: The arguments were rejected by the input schema.
            ToolExecutionError: The tool ran and reported an error.
        """
        if not self.is_error:
            return self
        if self.error_kind == "invalid_arguments":
            raise ToolArgumentsInvalid(self.name, self.text)
        raise ToolExecutionError(self.name, self.text)
