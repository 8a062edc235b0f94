from pathlib import Path

import pytest

from fusion_graph import FusionConfig, create_fusion_graph

SNAPSHOTS = Path(__file__).parent / "snapshots"


@pytest.mark.parametrize("mode", ["best-of", "merge", "debate"])
def test_graph_shape_matches_the_snapshot(mode):
    graph = create_fusion_graph(FusionConfig(pool=["fake:a", "fake:b"], judge="fake:j", mode=mode))
    drawn = graph.compile().get_graph().draw_mermaid()
    assert drawn == (SNAPSHOTS / f"{mode}.mmd").read_text()


def test_factory_returns_an_uncompiled_graph():
    from langgraph.graph import StateGraph

    graph = create_fusion_graph(FusionConfig(pool=["fake:a"], judge="fake:j"))
    assert isinstance(graph, StateGraph)
