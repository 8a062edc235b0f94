"""What the nodes of one fusion graph share: resolved models, tools and settings (never state)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from langchain_core.language_models import BaseChatModel
from langchain_core.tools import BaseTool, StructuredTool

from fusion_graph._rounds import RoundRegistry
from fusion_graph.config import FusionConfig, Judge, Member
from fusion_graph.errors import ConfigError
from fusion_graph.providers import resolve_model

__all__ = ["FusionRuntime", "ToolSource", "build_runtime"]


@runtime_checkable
class ToolSource(Protocol):
    """Anything that gives each member its tools, e.g. a ``tool_registry.ToolRegistry``."""

    def as_langchain_tools(self, member: str | None = None) -> list[BaseTool]:
        """The tools this member may call."""
        ...


@dataclass
class _StaticTools:
    tools: list[BaseTool]

    def as_langchain_tools(self, member: str | None = None) -> list[BaseTool]:
        return self.tools


@dataclass
class FusionRuntime:
    """Resolved models and settings of one fusion graph."""

    config: FusionConfig
    members: dict[str, tuple[Member, BaseChatModel]]
    judges: list[tuple[str, Judge, BaseChatModel]]
    tools: ToolSource | None = None
    bound_tools: list[dict[str, Any]] = field(default_factory=list)
    """Tool schemas bound by a caller (``FusionChatModel.bind_tools``): asked for, not executed."""
    tool_choice: Any = None
    rounds: RoundRegistry = field(default_factory=RoundRegistry)
    """Rounds in flight (quorum, deadline, spare budget), shared by their members."""


def build_runtime(
    config: FusionConfig,
    tools: ToolSource | Sequence[BaseTool | Callable[..., Any]] | None = None,
    *,
    bound_tools: list[dict[str, Any]] | None = None,
    tool_choice: Any = None,
) -> FusionRuntime:
    """Resolve every model of the config (raising ConfigError early) and normalise the tools."""
    members = {
        member.name or "": (member, resolve_model(member, f"pool[{i}]"))
        for i, member in enumerate(config.pool)
    }
    judges: list[tuple[str, Judge, BaseChatModel]] = []
    judge = config.effective_judge
    where = "judge" if config.judge is not None else "pool[0] (acting as judge)"
    judges.append((judge.name or judge.label, judge, resolve_model(judge, where)))
    for i, fallback in enumerate(judge.fallbacks):
        model = resolve_model(fallback, f"judge.fallbacks[{i}]")
        judges.append((fallback.name or fallback.label, fallback, model))
    return FusionRuntime(
        config=config,
        members=members,
        judges=judges,
        tools=_tool_source(tools),
        bound_tools=list(bound_tools or []),
        tool_choice=tool_choice,
    )


def _tool_source(
    tools: ToolSource | Sequence[BaseTool | Callable[..., Any]] | None,
) -> ToolSource | None:
    if tools is None:
        return None
    if isinstance(tools, ToolSource):
        return tools
    if isinstance(tools, str | bytes) or not isinstance(tools, Sequence):
        raise ConfigError(
            "tools", f"cannot use {type(tools).__name__} as tools",
            "pass a ToolRegistry or a list of LangChain tools / functions",
        )
    converted: list[BaseTool] = []
    for item in tools:
        if isinstance(item, BaseTool):
            converted.append(item)
        elif callable(item):
            converted.append(StructuredTool.from_function(item))
        else:
            raise ConfigError("tools", f"{item!r} is not a tool", "pass BaseTool objects or functions")
    return _StaticTools(converted)
