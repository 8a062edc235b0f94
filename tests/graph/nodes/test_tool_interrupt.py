"""Human approval inside a tool: ``interrupt()`` pauses the parent graph, ``Command(resume=...)`` goes on.

A member calls a registry tool that asks for approval with LangGraph's ``interrupt()``. The
interrupt must pass through the tool, the member's tool loop and the fusion subgraph to the parent
graph (it is not a tool error), and resuming must finish the fusion with the approved result,
without running the members that had already answered again.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from langchain_core.messages import AIMessage, BaseMessage, ToolCall, ToolMessage
from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver
from langgraph.graph import START, MessagesState, StateGraph
from langgraph.types import Command, interrupt

from fusion_graph import FusionConfig, FusionNode, FusionResult, Judge, Member
from fusion_graph.testing import ScriptedChatModel
from tool_registry import ToolRegistry

Saver = Callable[[Path], Any]


@asynccontextmanager
async def in_memory(_: Path) -> AsyncIterator[BaseCheckpointSaver[Any]]:
    yield InMemorySaver()


@asynccontextmanager
async def sqlite(tmp_path: Path) -> AsyncIterator[BaseCheckpointSaver[Any]]:
    async with AsyncSqliteSaver.from_conn_string(str(tmp_path / "threads.sqlite")) as saver:
        yield saver


def payer() -> ScriptedChatModel:
    """Asks to pay once, then reports what the tool said."""

    def step(messages: list[BaseMessage]) -> AIMessage:
        results = [m for m in messages if isinstance(m, ToolMessage)]
        if not results:
            call = ToolCall(name="pay", args={"amount": 5}, id="pay-1", type="tool_call")
            return AIMessage(content="", tool_calls=[call])
        return AIMessage(content=f"payment: {results[-1].text} (status {results[-1].status})")

    return ScriptedChatModel(script=[step])


def approval_registry(approvals: list[Any]) -> ToolRegistry:
    registry = ToolRegistry(timeout=10)

    @registry.tool
    async def pay(amount: int) -> str:
        """Pay an amount once a human approves it."""
        answer = interrupt({"question": f"pay {amount} EUR?"})
        approvals.append(answer)
        return f"paid {amount} EUR" if answer == "yes" else "refused by the approver"

    return registry


@pytest.mark.parametrize("saver", [in_memory, sqlite], ids=["InMemorySaver", "AsyncSqliteSaver"])
@pytest.mark.timeout(60)
async def test_an_approval_interrupt_in_a_tool_pauses_and_resumes_the_parent_graph(
    tmp_path: Path, saver: Saver
):
    approvals: list[Any] = []
    registry = approval_registry(approvals)
    quiet = ScriptedChatModel(script=["no tools needed"])
    config = FusionConfig(
        pool=[Member(payer(), name="payer"), Member(quiet, name="quiet")],
        judge=Judge(ScriptedChatModel()),
        mode="merge",
    )
    builder = StateGraph(MessagesState)
    builder.add_node("fusion", FusionNode(config, tools=registry))
    builder.add_edge(START, "fusion")
    async with saver(tmp_path) as checkpointer:
        graph = builder.compile(checkpointer=checkpointer)
        thread = {"configurable": {"thread_id": "approval-1"}}

        paused = await graph.ainvoke({"messages": [("user", "Pay the invoice of 5 EUR.")]}, thread)
        (pending,) = paused["__interrupt__"]
        assert pending.value == {"question": "pay 5 EUR?"}
        snapshot = await graph.aget_state(thread)
        assert snapshot.next == ("fusion",)
        assert approvals == []  # the tool stopped at the interrupt
        assert registry.users == 0  # the paused run let go of the registry
        assert len(quiet.calls) == 1

        done = await graph.ainvoke(Command(resume="yes"), thread)

    assert approvals == ["yes"]
    fused = done["messages"][-1]
    assert isinstance(fused, AIMessage) and fused.name == "fusion"
    result = FusionResult.model_validate(fused.response_metadata["fusion"])
    payer_answer = next(c for c in result.candidates if c.member == "payer")
    assert payer_answer.ok, payer_answer.error
    (trace,) = payer_answer.tool_trace
    assert trace.name == "pay" and not trace.error and "paid 5 EUR" in trace.result
    assert "paid 5 EUR" in payer_answer.text and "status success" in payer_answer.text
    assert len(quiet.calls) == 1  # the member that had answered was not run again
    assert registry.users == 0


@pytest.mark.timeout(60)
async def test_a_refusal_resumes_into_the_members_answer():
    approvals: list[Any] = []
    registry = approval_registry(approvals)
    config = FusionConfig(pool=[Member(payer(), name="payer")], judge=Judge(ScriptedChatModel()))
    builder = StateGraph(MessagesState)
    builder.add_node("fusion", FusionNode(config, tools=registry))
    builder.add_edge(START, "fusion")
    graph = builder.compile(checkpointer=InMemorySaver())
    thread = {"configurable": {"thread_id": "approval-2"}}
    paused = await graph.ainvoke({"messages": [("user", "Pay 5 EUR.")]}, thread)
    assert paused["__interrupt__"]
    done = await graph.ainvoke(Command(resume="no"), thread)
    assert approvals == ["no"]
    assert "refused by the approver" in done["messages"][-1].text


@pytest.mark.timeout(60)
async def test_an_interrupt_in_a_plain_langchain_tool_reaches_the_graph_too():
    def pay(amount: int) -> str:
        """Pay an amount once a human approves it."""
        return "paid" if interrupt(f"pay {amount}?") == "yes" else "refused"

    config = FusionConfig(pool=[Member(payer(), name="payer")], judge=Judge(ScriptedChatModel()))
    builder = StateGraph(MessagesState)
    builder.add_node("fusion", FusionNode(config, tools=[pay]))
    builder.add_edge(START, "fusion")
    graph = builder.compile(checkpointer=InMemorySaver())
    thread = {"configurable": {"thread_id": "approval-3"}}
    paused = await graph.ainvoke({"messages": [("user", "Pay 5.")]}, thread)
    assert [i.value for i in paused["__interrupt__"]] == ["pay 5?"]
    done = await graph.ainvoke(Command(resume="yes"), thread)
    assert "payment: paid" in done["messages"][-1].text
