"""What the nodes of one fusion graph share: resolved models, tools and settings (never state)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from langchain_core.language_models import BaseChatModel
from langchain_core.tools import BaseTool, StructuredTool

from fusion_graph.config import FusionConfig, Judge, Member
from fusion_graph.errors import ConfigError
from fusion_graph.graph._rounds import RoundRegistry
from fusion_graph.providers import resolve_model
from fusion_graph.providers.profiles import ModelProfile, profile_for

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
    """Every candidate name (``name``, or ``name#1`` … for sampled members) → its member and model."""
    judges: list[tuple[str, Judge, BaseChatModel]]
    tools: ToolSource | None = None
    bound_tools: list[dict[str, Any]] = field(default_factory=list)
    """Tool schemas bound by a caller (``FusionChatModel.bind_tools``): asked for, not executed."""
    tool_choice: Any = None
    rounds: RoundRegistry = field(default_factory=RoundRegistry)
    """Rounds in flight (quorum, deadline, spare budget), shared by their members."""
    profiles: dict[str, ModelProfile] = field(default_factory=dict)
    """Every candidate name → its provider profile (filled from the models when not given)."""
    judge_profiles: list[ModelProfile] = field(default_factory=list)
    """The provider profile of each of :attr:`judges`, in order (filled when not given)."""

    def __post_init__(self) -> None:
        """Look up each member's and judge's provider profile once, beside its model."""
        for name, (spec, model) in self.members.items():
            if name not in self.profiles:
                self.profiles[name] = profile_for(spec, model)
        if not self.judge_profiles:
            self.judge_profiles = [profile_for(spec, model) for _, spec, model in self.judges]

    def base_name(self, candidate: str) -> str:
        """The member a candidate name belongs to (``qwen#2`` → ``qwen``)."""
        spec = self.members[candidate][0]
        return spec.name or candidate

    def sample_index(self, candidate: str) -> int:
        """0 for a member's only or first sample, ``k - 1`` for ``name#k``."""
        _, mark, index = candidate.rpartition("#")
        return int(index) - 1 if mark and index.isdigit() else 0

    def scout_names(self) -> list[str]:
        """The candidate names of the scouts (empty without scouts)."""
        scouts = set(self.config.scouts or [])
        return [name for name in self.members if self.base_name(name) in scouts]


def build_runtime(
    config: FusionConfig,
    tools: ToolSource | Sequence[BaseTool | Callable[..., Any]] | None = None,
    *,
    bound_tools: list[dict[str, Any]] | None = None,
    tool_choice: Any = None,
) -> FusionRuntime:
    """Resolve every model of the config (raising ConfigError early) and normalise the tools."""
    members: dict[str, tuple[Member, BaseChatModel]] = {}
    for i, member in enumerate(config.pool):
        model = resolve_model(member, f"pool[{i}]")
        for name in member.sample_names():  # samples share one model object
            members[name] = (member, model)
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
            "tools",
            f"cannot use {type(tools).__name__} as tools",
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
