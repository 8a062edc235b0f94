"""Serve fusions over an OpenAI-compatible HTTP API (FastAPI + uvicorn): ``fusion serve``.

Needs the ``server`` extra (``pip install 'fusion-graph[server]'``); PostgreSQL as the shared
checkpointer needs the ``postgres`` extra. Names load on first use, so importing this package does
no work and ``fusion_graph.server.langgraph_app`` works without FastAPI.

Example:
    >>> from fusion_graph.server import create_app, load_fusions
    >>> app = create_app(load_fusions("fusions.toml"), api_keys=["sk-local"])
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from fusion_graph.server._fusions import default_fusions, load_fusions
    from fusion_graph.server._migrate import migrate_postgres
    from fusion_graph.server._postgres import postgres_checkpointer
    from fusion_graph.server.app import create_app

__all__ = ["create_app", "default_fusions", "load_fusions", "migrate_postgres", "postgres_checkpointer"]

_HOMES = {
    "create_app": "fusion_graph.server.app",
    "default_fusions": "fusion_graph.server._fusions",
    "load_fusions": "fusion_graph.server._fusions",
    "migrate_postgres": "fusion_graph.server._migrate",
    "postgres_checkpointer": "fusion_graph.server._postgres",
}
_INSTALL = "pip install 'fusion-graph[server]'"


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'fusion_graph.server' has no attribute {name!r}")
    try:
        module = importlib.import_module(home)
    except ModuleNotFoundError as exc:
        if exc.name in ("fastapi", "starlette", "uvicorn"):
            raise ModuleNotFoundError(
                f"fusion_graph.server needs FastAPI: {_INSTALL}", name=exc.name
            ) from exc
        raise
    return getattr(module, name)
