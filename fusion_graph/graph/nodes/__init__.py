"""The nodes of the fusion graph: members, gather and judge."""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Any, Protocol, TypeVar

__all__ = ["AsyncNode"]

InputT = TypeVar("InputT", contravariant=True)


class AsyncNode(Protocol[InputT]):
    """A node as ``StateGraph.add_node`` types it: one ``state`` argument (its input schema).

    The factories return this rather than ``Callable[[...], ...]``, which loses the parameter's
    name, so that LangGraph's node protocols match without a ``pyright: ignore``.
    """

    def __call__(self, state: InputT) -> Awaitable[dict[str, Any]]:
        """Run the node on its input; return the state update."""
        ...
