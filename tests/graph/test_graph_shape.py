from pathlib import Path

import pytest

from fusion_graph import FusionConfig, create_fusion_graph

SNAPSHOTS = Path(__file__).parent / "snapshots"


@pytest.mark.parametrize("mode", ["best-of", "merge", "debate", "vote"])
def test_graph_shape_matches_the_snapshot(mode):
    graph = create_fusion_graph(FusionConfig(pool=["fake:a", "fake:b"], judge="fake:j", mode=mode))
    drawn = graph.compile().get_graph().draw_mermaid()
    assert drawn == (SNAPSHOTS / f"{mode}.mmd").read_text()


def test_scouts_add_a_gather_node_that_routes_to_the_rest_of_the_pool():
    config = FusionConfig(pool=["fake:a", "fake:b", "fake:c"], judge="fake:j", scouts=["a", "b"])
    drawn = create_fusion_graph(config).compile().get_graph().draw_mermaid()
    assert drawn == (SNAPSHOTS / "scouts.mmd").read_text()


def test_factory_returns_an_uncompiled_graph():
    from langgraph.graph import StateGraph

    graph = create_fusion_graph(FusionConfig(pool=["fake:a"], judge="fake:j"))
    assert isinstance(graph, StateGraph)
