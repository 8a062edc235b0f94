"""The samples of one member in one round, announced to the providers that can decode them together.

A member with ``samples=k`` is k candidates (``name#1`` … ``name#k``), each run by its own graph node
on the same model object. While a node makes its first model call it sets :data:`SAMPLE_GROUP` to the
round's :class:`SampleGroup` of that member, so a provider that can decode several sequences at once
(the ``local:`` provider: one llama.cpp batch) meets the other samples there instead of running
after them. Providers that cannot simply never read it. Nothing here waits on its own: the provider
decides how long to wait for the others (a sample may never call, e.g. when the budget skips it).
"""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

__all__ = ["SAMPLE_GROUP", "SampleGroup"]


@dataclass(eq=False)
class SampleGroup:
    """The ``size`` samples of one member in one round.

    Attributes:
        size: How many samples the member draws (``Member.samples``).
        state: The providers' own meeting state, keyed as each provider chooses (e.g. by loaded model).
    """

    size: int
    state: dict[Any, Any] = field(default_factory=dict)


SAMPLE_GROUP: ContextVar[SampleGroup | None] = ContextVar("fusion_graph_sample_group", default=None)
"""The group of the sample whose model call runs in this context (``None``: not a sample)."""
