"""The fusion graph for LangGraph Server (``langgraph dev`` / ``langgraph up``), via ``langgraph.json``.

``make_graph`` is a graph factory: the server calls it per run with the run's config and compiles
the uncompiled graph it returns with its own checkpointer. Which fusion it builds:

- ``FUSION_LANGGRAPH_CONFIG``: a serve file (see ``docs/serve.md``) or a pool file; unset, an
  offline ``fake:`` pool, so that the server runs anywhere with no key and no network.
- ``FUSION_LANGGRAPH_FUSION`` (or ``configurable.fusion`` of the run): which named fusion of the
  file; the first one by default.

Threads. LangGraph Server applies a run's input to the thread before any node runs, so the
thread rule of ``Fusion.plan`` (``fusion run --thread-id``, ``fusion serve``) cannot sit in front
of it; the graph applies it itself (its ``messages`` reducer, :func:`fusion_graph.state.add_turn`,
and its ``start`` node), comparing messages by role, text and tool calls:

- the same prompt on a finished thread (its last turn, or the conversation up to its answer):
  the stored state, no model called, nothing appended;
- new messages on a finished thread, alone or after the thread's conversation (with the ids the
  thread gave them or with none): the next turn, only the new messages appended;
- an interrupted or failed run resumes from its checkpoint with ``input=None`` (no member is
  asked again); sent its own prompt again, its turn runs again (LangGraph drops an unfinished
  run's tasks once a run has input), the prompt not appended twice;
- a different prompt on an interrupted or failed thread: the run fails with
  :class:`~fusion_graph.ThreadConflict` and the thread keeps its messages (it still resumes with
  ``input=None``, asking the members again: that run's pending tasks were dropped).

Importing this module does no work and needs neither FastAPI nor the ``server`` extra.
"""

from __future__ import annotations

import os
from typing import Any

from langchain_core.runnables import RunnableConfig
from langgraph.graph import StateGraph

from fusion_graph.config import FusionConfig, Judge, Member
from fusion_graph.errors import ConfigError
from fusion_graph.graph import create_fusion_graph
from fusion_graph.server._fusions import load_fusions

__all__ = ["make_graph", "offline_config"]

CONFIG_ENV = "FUSION_LANGGRAPH_CONFIG"
FUSION_ENV = "FUSION_LANGGRAPH_FUSION"


def offline_config() -> FusionConfig:
    """The default pool: scripted ``fake:`` members and judge, no network, deterministic."""
    return FusionConfig(
        pool=[
            Member("fake:1001 = 7 x 11 x 13, so it is not prime.", name="alpha"),
            Member("fake:1001 is not prime: it is 7 x 143.", name="beta"),
        ],
        judge=Judge("fake:judge", name="judge"),
        mode="best-of",
    )


def make_graph(config: RunnableConfig) -> StateGraph[Any, Any, Any, Any]:
    """Build the fusion graph LangGraph Server serves (uncompiled: the server adds its checkpointer).

    Args:
        config: The run's config; ``configurable.fusion`` may name one fusion of the file.

    Returns:
        The uncompiled fusion graph; its input is ``{"messages": [...]}``.

    Raises:
        ConfigError: The file is invalid or has no fusion of that name.
    """
    path = os.environ.get(CONFIG_ENV)
    if not path:
        return create_fusion_graph(offline_config())
    fusions = load_fusions(path)
    wanted = (config.get("configurable") or {}).get("fusion") or os.environ.get(FUSION_ENV)
    if wanted is None:
        return create_fusion_graph(next(iter(fusions.values())))
    if wanted not in fusions:
        raise ConfigError("fusion", f"no fusion is named {wanted!r}", f"use one of {list(fusions)}")
    return create_fusion_graph(fusions[wanted])
