"""``FusionNode``: a fusion as one node of any graph whose state has ``messages``."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from langchain_core.messages import AIMessage
from langchain_core.messages.utils import convert_to_messages
from langchain_core.runnables import RunnableConfig
from langchain_core.tools import BaseTool
from langgraph.cache.base import BaseCache
from langgraph.graph.state import CompiledStateGraph
from langgraph.types import CachePolicy

from fusion_graph.config import FusionConfig
from fusion_graph.errors import ConfigError
from fusion_graph.graph import ToolSource
from fusion_graph.result import FusionResult
from fusion_graph.runner import CACHED, Fusion

__all__ = ["FusionNode", "fusion_message"]


def fusion_message(result: FusionResult) -> AIMessage:
    """The fused answer as an ``AIMessage``; the fusion's details are in its metadata."""
    return AIMessage(
        content=result.answer,
        name="fusion",
        tool_calls=result.tool_calls,  # type: ignore[arg-type]
        usage_metadata={
            "input_tokens": result.usage.total.input_tokens,
            "output_tokens": result.usage.total.output_tokens,
            "total_tokens": result.usage.total.total_tokens,
        },
        response_metadata={"fusion": result.model_dump(mode="json")},
    )


class FusionNode:
    """A node that fuses the pool's answers to the conversation and appends one ``AIMessage``.

    It runs the fusion graph as a subgraph, so a parent's checkpointer and streaming reach it,
    and an ``interrupt()`` inside a member's tool pauses the parent graph (resume it with
    ``Command(resume=...)``). A ``ToolRegistry`` given as ``tools`` is held open for each call
    (reference-counted: concurrent calls share one opening).

    Example:
        >>> builder = StateGraph(MessagesState)
        >>> builder.add_node("fusion", FusionNode(config))
        >>> builder.add_edge(START, "fusion")
    """

    def __init__(
        self,
        config: FusionConfig,
        *,
        tools: ToolSource | Sequence[BaseTool | Callable[..., Any]] | None = None,
        cache: BaseCache[Any] | None = None,
        cache_policy: CachePolicy[Any] | None = None,
    ) -> None:
        """Resolve the models and compile the fusion graph (no checkpointer: the parent's is used).

        Args:
            config: The pool, the judge and the mode.
            tools: A ``ToolRegistry`` or a list of tools the members call.
            cache: A LangGraph cache of fused results: the same conversation (the state's
                ``messages``), config and tools returns the stored answer without calling a model;
                the message's ``usage_metadata`` counts 0 tokens and its
                ``response_metadata["fusion"]["cached"]`` is true. In a checkpointed parent graph
                the hit is this node's write, saved like any other.
            cache_policy: The cache's ``CachePolicy`` (``ttl`` in seconds).

        Raises:
            ConfigError: A model cannot be resolved, or ``cache`` is not a LangGraph cache.
        """
        self.fusion = Fusion(config, tools=tools, cache=cache, cache_policy=cache_policy)

    def as_subgraph(self) -> CompiledStateGraph[Any, Any, Any, Any]:
        """The compiled fusion graph, to add as a node: it reads and appends to ``messages``.

        Added this way, the graph runs without this node's ``__call__``, so nothing opens a
        ``ToolRegistry`` for it and the ``cache`` is not consulted: hold the registry open yourself
        (``async with registry:``) around the parent graph's runs, or add the ``FusionNode`` itself,
        which does both.
        """
        return self.fusion.graph

    async def __call__(self, state: Any, config: RunnableConfig) -> dict[str, Any]:
        """Fuse on ``state["messages"]`` and return ``{"messages": [AIMessage]}``."""
        messages = state.get("messages") if isinstance(state, dict) else getattr(state, "messages", None)
        if not messages:
            raise ConfigError(
                "state.messages",
                "the state has no messages to answer",
                "use FusionNode in a graph whose state has a non-empty 'messages' list",
            )
        fusion = self.fusion
        async with fusion.tools_open():
            key = fusion.cache_key(convert_to_messages(messages))
            hit = await fusion.cache.get(key) if fusion.cache is not None and key is not None else None
            if hit is not None:
                result = fusion.result({**hit["values"], "messages": [hit["message"]], CACHED: True})
                return {"messages": [fusion_message(result)]}
            out = await fusion.graph.ainvoke({"messages": messages}, config)
            if fusion.cache is not None and key is not None:
                await fusion.cache.put(key, out)
        return {"messages": [fusion_message(fusion.result(out))]}
