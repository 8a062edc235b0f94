"""MCP elicitation end to end: a real MCP server asks the user during a member's tool call.

The fusion surfaces the request as a LangGraph interrupt (the server's message and schema), a
real checkpointer keeps the paused run, and ``Command(resume=...)`` sends the answer back to the
server. Two members meeting the same request ask the user once; without a checkpointer the
request is declined with a log line.
"""

from __future__ import annotations

import logging
import sys
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
from langgraph.types import Command

from fusion_graph import Fusion, FusionConfig, FusionNode, FusionResult, FusionRunError, Judge, Member
from fusion_graph.testing import ScriptedChatModel
from tests.tool_registry._helpers import http_mcp_server
from tool_registry import ToolRegistry

ELICIT = str(Path(__file__).resolve().parents[2] / "tool_registry" / "mcp_servers" / "mcp_elicit.py")
Saver = Callable[[Path], Any]


@asynccontextmanager
async def in_memory(_: Path) -> AsyncIterator[BaseCheckpointSaver[Any]]:
    yield InMemorySaver()


@asynccontextmanager
async def sqlite(tmp_path: Path) -> AsyncIterator[BaseCheckpointSaver[Any]]:
    async with AsyncSqliteSaver.from_conn_string(str(tmp_path / "threads.sqlite")) as saver:
        yield saver


def transferrer(amount: int = 5) -> ScriptedChatModel:
    """Calls the bank's transfer tool once, then reports what it said."""

    def step(messages: list[BaseMessage]) -> AIMessage:
        results = [m for m in messages if isinstance(m, ToolMessage)]
        if not results:
            call = ToolCall(name="bank__transfer", args={"amount": amount}, id="t-1", type="tool_call")
            return AIMessage(content="", tool_calls=[call])
        return AIMessage(content=f"bank said: {results[-1].text}")

    return ScriptedChatModel(script=[step])


def bank(log: Path) -> ToolRegistry:
    registry = ToolRegistry(timeout=20)
    registry.add_mcp_server("bank", command=sys.executable, args=[ELICIT], env={"MCP_ELICIT_LOG": str(log)})
    return registry


def asked(log: Path) -> int:
    """How many elicitation requests the server sent."""
    return len(log.read_text().splitlines()) if log.exists() else 0


def parent_graph(config: FusionConfig, registry: ToolRegistry, checkpointer: Any) -> Any:
    builder = StateGraph(MessagesState)
    builder.add_node("fusion", FusionNode(config, tools=registry))
    builder.add_edge(START, "fusion")
    return builder.compile(checkpointer=checkpointer)


def trace_of(message: AIMessage | FusionResult, member: str) -> str:
    if isinstance(message, AIMessage):
        message = FusionResult.model_validate(message.response_metadata["fusion"])
    candidate = next(c for c in message.candidates if c.member == member)
    assert candidate.ok, candidate.error
    (entry,) = candidate.tool_trace
    assert entry.name == "bank__transfer"
    return entry.result


@pytest.mark.parametrize("saver", [in_memory, sqlite], ids=["InMemorySaver", "AsyncSqliteSaver"])
@pytest.mark.timeout(90)
async def test_an_elicitation_pauses_the_graph_and_the_answer_reaches_the_server(
    tmp_path: Path, saver: Saver
):
    log = tmp_path / "asked.log"
    registry = bank(log)
    config = FusionConfig(
        pool=[
            Member(transferrer(), name="payer"),
            Member(ScriptedChatModel(script=["no tools"]), name="quiet"),
        ],
        judge=Judge(ScriptedChatModel()),
        mode="merge",
    )
    async with saver(tmp_path) as checkpointer:
        graph = parent_graph(config, registry, checkpointer)
        thread = {"configurable": {"thread_id": "elicit-1"}}

        paused = await graph.ainvoke({"messages": [("user", "Pay the rent: 5 EUR.")]}, thread)
        (pending,) = paused["__interrupt__"]
        assert pending.value["type"] == "mcp_elicitation"
        assert (pending.value["member"], pending.value["server"], pending.value["tool"]) == (
            "payer",
            "bank",
            "transfer",
        )
        assert pending.value["message"] == "Transfer 5 EUR?"
        assert set(pending.value["requested_schema"]["properties"]) == {"confirm", "note"}
        assert (await graph.aget_state(thread)).next == ("fusion",)
        assert registry.users == 0

        done = await graph.ainvoke(Command(resume={"confirm": True, "note": "rent"}), thread)

    assert asked(log) == 2  # asked on the first run, and again when the member ran on resume
    assert "transferred 5 EUR (rent)" in trace_of(done["messages"][-1], "payer")


@pytest.mark.timeout(90)
async def test_two_members_meeting_the_same_request_ask_the_user_once(tmp_path: Path):
    log = tmp_path / "asked.log"
    registry = bank(log)
    config = FusionConfig(
        pool=[Member(transferrer(), name="alpha"), Member(transferrer(), name="beta")],
        judge=Judge(ScriptedChatModel()),
        mode="merge",
    )
    graph = parent_graph(config, registry, InMemorySaver())
    thread = {"configurable": {"thread_id": "elicit-2"}}

    paused = await graph.ainvoke({"messages": [("user", "Pay 5 EUR.")]}, thread)
    assert len(paused["__interrupt__"]) == 1  # one question, though both members' calls asked
    assert asked(log) == 2
    # A plain resume works only while exactly one interrupt is pending.
    answer = {"action": "accept", "content": {"confirm": True, "note": "x"}}
    done = await graph.ainvoke(Command(resume=answer), thread)

    assert "transferred 5 EUR (x)" in trace_of(done["messages"][-1], "alpha")
    assert "transferred 5 EUR (x)" in trace_of(done["messages"][-1], "beta")


@pytest.mark.timeout(90)
async def test_a_declined_answer_reaches_a_streamable_http_server_as_a_decline():
    with http_mcp_server(ELICIT) as url:
        registry = ToolRegistry(timeout=20)
        registry.add_mcp_server("bank", url=url)
        config = FusionConfig(pool=[Member(transferrer(3), name="payer")], judge=Judge(ScriptedChatModel()))
        graph = parent_graph(config, registry, InMemorySaver())
        thread = {"configurable": {"thread_id": "elicit-3"}}
        paused = await graph.ainvoke({"messages": [("user", "Pay 3 EUR.")]}, thread)
        assert paused["__interrupt__"][0].value["message"] == "Transfer 3 EUR?"
        done = await graph.ainvoke(Command(resume={"action": "decline"}), thread)
    assert "transfer declined by the user" in trace_of(done["messages"][-1], "payer")


@pytest.mark.timeout(90)
async def test_a_fusion_with_its_own_checkpointer_pauses_too(tmp_path: Path):
    registry = bank(tmp_path / "asked.log")
    config = FusionConfig(pool=[Member(transferrer(4), name="payer")], judge=Judge(ScriptedChatModel()))
    fusion = Fusion(config, tools=registry, checkpointer=InMemorySaver())
    thread = {"configurable": {"thread_id": "elicit-4"}}
    async with fusion.tools_open():
        paused = await fusion.graph.ainvoke({"messages": [("user", "Pay 4 EUR.")]}, thread)
        (pending,) = paused["__interrupt__"]
        assert pending.value["message"] == "Transfer 4 EUR?"
        done = await fusion.graph.ainvoke(Command(resume={"confirm": True, "note": "own"}), thread)
    assert "transferred 4 EUR (own)" in trace_of(fusion.result(done), "payer")


@pytest.mark.timeout(90)
async def test_fusion_run_says_how_to_resume_a_paused_run_and_reads_it_back_after(tmp_path: Path):
    registry = bank(tmp_path / "asked.log")
    config = FusionConfig(pool=[Member(transferrer(6), name="payer")], judge=Judge(ScriptedChatModel()))
    fusion = Fusion(config, tools=registry, checkpointer=InMemorySaver())
    with pytest.raises(FusionRunError) as paused:
        await fusion.run("Pay 6 EUR.", thread_id="elicit-5")
    assert "paused for input on thread 'elicit-5'" in str(paused.value)
    assert "Transfer 6 EUR?" in str(paused.value) and "Command(resume=" in str(paused.value)
    thread = {"configurable": {"thread_id": "elicit-5"}}
    async with fusion.tools_open():
        await fusion.graph.ainvoke(Command(resume={"confirm": True}), thread)
    result = await fusion.run(thread_id="elicit-5")
    assert "transferred 6 EUR" in trace_of(result, "payer")


@pytest.mark.timeout(90)
async def test_without_a_checkpointer_the_request_is_declined_with_a_log_line(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
):
    caplog.set_level(logging.WARNING, logger="fusion_graph.graph.nodes._elicitation")
    registry = bank(tmp_path / "asked.log")
    config = FusionConfig(pool=[Member(transferrer(), name="payer")], judge=Judge(ScriptedChatModel()))
    result = await Fusion(config, tools=registry).run("Pay 5 EUR.")
    (candidate,) = result.candidates
    (entry,) = candidate.tool_trace
    assert "transfer declined by the user" in entry.result
    (line,) = [r.getMessage() for r in caplog.records if "no checkpointer" in r.getMessage()]
    assert "'payer'" in line and "Transfer 5 EUR?" in line
