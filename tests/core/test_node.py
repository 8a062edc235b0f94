from pathlib import Path

from langchain_core.messages import AIMessage, HumanMessage
from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver
from langgraph.graph import START, MessagesState, StateGraph

from fusion_graph import FusionNode, create_fusion_graph
from tests.core.helpers import config, member


def _cfg():
    return config(member("a", "Paris"), member("b", "Paris, France"), member("c", RuntimeError("x")))


async def test_fusion_node_in_a_parent_graph_with_a_sqlite_checkpointer(tmp_path: Path):
    builder = StateGraph(MessagesState)
    builder.add_node("fusion", FusionNode(_cfg()))
    builder.add_edge(START, "fusion")
    async with AsyncSqliteSaver.from_conn_string(str(tmp_path / "parent.sqlite")) as saver:
        graph = builder.compile(checkpointer=saver)
        run = {"configurable": {"thread_id": "conv"}}
        out = await graph.ainvoke({"messages": [HumanMessage("Capital of France?")]}, run)
        answer = out["messages"][-1]
        assert isinstance(answer, AIMessage) and answer.content in {"Paris", "Paris, France"}
        details = answer.response_metadata["fusion"]
        assert {c["member"] for c in details["candidates"]} == {"a", "b", "c"}
        assert details["decided_by"].startswith("judge:")
        # the conversation goes on in the same thread
        out = await graph.ainvoke({"messages": [HumanMessage("And of Italy?")]}, run)
        assert len(out["messages"]) == 4
        history = [s async for s in graph.aget_state_history(run)]
        assert len(history) >= 4


async def test_compiled_fusion_graph_as_a_subgraph():
    builder = StateGraph(MessagesState)
    builder.add_node("fusion", create_fusion_graph(_cfg()).compile())
    builder.add_edge(START, "fusion")
    out = await builder.compile().ainvoke({"messages": [HumanMessage("Capital of France?")]})
    assert [m.type for m in out["messages"]] == ["human", "ai"]
    assert out["messages"][-1].name == "fusion"


async def test_fusion_node_as_subgraph_accessor():
    node = FusionNode(_cfg())
    out = await node.as_subgraph().ainvoke({"messages": [("user", "hi")]})
    assert out["answer"] and out["candidates"]
