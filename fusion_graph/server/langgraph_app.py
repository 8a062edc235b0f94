"""The fusion graph for LangGraph Server (``langgraph dev`` / ``langgraph up``), via ``langgraph.json``.

``make_graph`` is a graph factory: the server calls it per run with the run's config and compiles
the uncompiled graph it returns with its own checkpointer. Which fusion it builds:

- ``FUSION_LANGGRAPH_CONFIG``: a serve file (see ``docs/serve.md``) or a pool file; unset, the
  offline local pool (:func:`fusion_graph.defaults.default_config`, as ``fusion serve`` with no
  config: real answers, no key, no network; its models load on the first run).
- ``FUSION_LANGGRAPH_FUSION`` (or ``configurable.fusion`` of the run): which named fusion of the
  file; the first one by default.

A ``configurable.fusion`` that names no fusion of the file is refused before any run starts, by
:mod:`fusion_graph.server.langgraph_http` (``langgraph.json``'s ``http.app``): a 400 naming the
field and one warning log line, rather than a failed run and its traceback in the server's log.
:func:`check_request` is that check.

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
from collections.abc import Mapping
from typing import Any, cast

from langchain_core.runnables import RunnableConfig
from langgraph.graph import StateGraph

from fusion_graph.config import FusionConfig
from fusion_graph.defaults import default_config
from fusion_graph.errors import ConfigError
from fusion_graph.graph import create_fusion_graph
from fusion_graph.server._fusions import load_fusions

__all__ = ["check_request", "fusion_config", "make_graph"]

CONFIG_ENV = "FUSION_LANGGRAPH_CONFIG"
FUSION_ENV = "FUSION_LANGGRAPH_FUSION"


def fusion_config(configurable: Mapping[str, Any] | None) -> FusionConfig:
    """The fusion a run gets: the file's named one (``configurable.fusion``), its first, or the default.

    Raises:
        ConfigError: The file is invalid or has no fusion of that name (field ``configurable.fusion``).
    """
    path = os.environ.get(CONFIG_ENV)
    if not path:
        return default_config()
    fusions = load_fusions(path)
    wanted = (configurable or {}).get("fusion") or os.environ.get(FUSION_ENV)
    if wanted is None:
        return next(iter(fusions.values()))
    if wanted not in fusions:
        raise ConfigError(
            "configurable.fusion", f"no fusion is named {wanted!r}", f"use one of {list(fusions)}"
        )
    return fusions[wanted]


def check_request(body: Any) -> ConfigError | None:
    """The error of a LangGraph Server request body whose ``config.configurable.fusion`` names no fusion.

    Only a named fusion is checked (``FUSION_LANGGRAPH_CONFIG`` set, ``fusion`` given): anything else
    is left to the server and the graph. With a file that has the fusions ``a`` and ``b``,
    ``{"config": {"configurable": {"fusion": "c"}}}`` gives ``ConfigError("configurable.fusion", "no
    fusion is named 'c'", "use one of ['a', 'b']")``.
    """
    if not isinstance(body, Mapping) or not os.environ.get(CONFIG_ENV):
        return None
    config = cast(Mapping[str, Any], body).get("config")
    if not isinstance(config, Mapping):
        return None
    configurable = cast(Mapping[str, Any], config).get("configurable")
    if not isinstance(configurable, Mapping):
        return None
    configurable = cast(Mapping[str, Any], configurable)
    if configurable.get("fusion") is None:
        return None
    try:
        fusion_config(configurable)
    except ConfigError as exc:
        return exc
    return None


def make_graph(config: RunnableConfig) -> StateGraph[Any, Any, Any, Any]:
    """Build the fusion graph LangGraph Server serves (uncompiled: the server adds its checkpointer).

    Args:
        config: The run's config; ``configurable.fusion`` may name one fusion of the file.

    Returns:
        The uncompiled fusion graph; its input is ``{"messages": [...]}``.

    Raises:
        ConfigError: The file is invalid or has no fusion of that name.
    """
    return create_fusion_graph(fusion_config(config.get("configurable")))
