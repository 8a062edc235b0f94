import operator
from pathlib import Path
from typing import Annotated, Any, TypedDict

from langchain_core.messages import AIMessage, HumanMessage
from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver
from langgraph.graph import START, MessagesState, StateGraph

from fusion_graph import FusionConfig, FusionNode, Judge, Member, create_fusion_graph
from fusion_graph.testing import ScriptedChatModel
from tests._builders import config, member


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


def _pool():
    alpha = ScriptedChatModel(script=["alpha"], cycle=True)
    beta = ScriptedChatModel(script=["beta"], cycle=True)
    pool = [Member(alpha, name="a"), Member(beta, name="b")]
    cfg = FusionConfig(pool=pool, judge=Judge(ScriptedChatModel()))
    return cfg, alpha


async def test_fusion_node_answers_each_turn_of_the_parent_s_conversation_once():
    cfg, alpha = _pool()
    builder = StateGraph(MessagesState)
    builder.add_node("fusion", FusionNode(cfg))
    builder.add_edge(START, "fusion")
    graph = builder.compile(checkpointer=InMemorySaver())
    run: RunnableConfig = {"configurable": {"thread_id": "conv"}}
    for question in ["Q1", "Q2", "Q3"]:
        out = await graph.ainvoke({"messages": [HumanMessage(question)]}, run)
    assert [m.type for m in out["messages"]] == ["human", "ai"] * 3
    # the members were given the whole conversation, each message once
    assert [m.text for m in alpha.calls[-1]] == [m.text for m in out["messages"][:-1]]
    assert len(out["messages"][-1].response_metadata["fusion"]["candidates"]) == 2  # this turn's


async def test_a_fusion_with_its_own_thread_given_the_whole_history_each_turn_appends_only_the_new_tail():
    """A parent keeps plain id-less dicts and hands the fusion all of them every turn."""
    cfg, alpha = _pool()
    fusion = create_fusion_graph(cfg).compile(checkpointer=True)  # its own state, kept per thread

    class Chat(TypedDict):
        history: Annotated[list[dict[str, str]], operator.add]

    async def answer(state: Chat, config: RunnableConfig) -> dict[str, Any]:
        out = await fusion.ainvoke({"messages": state["history"]}, config)  # pyright: ignore[reportArgumentType]
        return {"history": [{"role": "assistant", "content": out["answer"]}]}

    builder = StateGraph(Chat)
    builder.add_node("answer", answer)
    builder.add_edge(START, "answer")
    graph = builder.compile(checkpointer=InMemorySaver())
    run: RunnableConfig = {"configurable": {"thread_id": "conv"}}
    for question in ["Q1", "Q2", "Q3"]:
        out = await graph.ainvoke({"history": [{"role": "user", "content": question}]}, run)
    said = [m["content"] for m in out["history"]]
    inner = await graph.aget_state({"configurable": {"thread_id": "conv", "checkpoint_ns": "answer"}})
    assert [m.text for m in inner.values["messages"]] == said  # not the history again each turn
    assert [m.text for m in alpha.calls[-1]] == said[:-1]
    assert len(inner.values["candidates"]) == 2
