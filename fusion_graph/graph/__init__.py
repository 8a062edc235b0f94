"""The fusion as a LangGraph ``StateGraph``: the graph's shape, its nodes and what they share.

``build`` wires the graph; ``nodes/`` holds the member, gather and judge nodes. The private modules
are the engine's internals, used only inside this package: ``_runtime`` (resolved models, tools and
settings of one graph), ``_rounds`` (the per-round coordinator, process-local), ``_context`` (token
estimates and condensing) and ``_similarity`` (answer agreement).
"""

from fusion_graph.graph._runtime import ToolSource
from fusion_graph.graph.build import build_graph, create_fusion_graph

__all__ = ["ToolSource", "build_graph", "create_fusion_graph"]
