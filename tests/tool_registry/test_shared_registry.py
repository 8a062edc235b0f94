"""A hundred concurrent fusions share one registry that nobody entered: every entry point opens it.

The registry holds two real MCP servers (``mcp_basic`` over stdio, and over streamable HTTP in
its own process). The fusions run through every entry point that may be handed a registry:
``Fusion.run``, ``Fusion.stream``, ``fuse()``, ``FusionNode`` in a parent graph and
``FusionChatModel``. Reference counting means the first of them connects the servers, the others
share that opening, and the last one out closes it.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from langchain_core.messages import AIMessage, BaseMessage, ToolCall, ToolMessage
from langgraph.graph import START, MessagesState, StateGraph

from fusion_graph import Fusion, FusionChatModel, FusionConfig, FusionNode, FusionResult, Judge, Member, fuse
from fusion_graph.testing import ScriptedChatModel
from tests.tool_registry._helpers import BASIC, PY, http_mcp_server, starts
from tool_registry import ToolRegistry

PER_ENTRY_POINT = 20
ENTRY_POINTS = ("run", "stream", "fuse", "node", "chat_model")


@pytest.fixture
def http_basic(tmp_path: Path) -> Iterator[str]:
    with http_mcp_server(BASIC, {"MCP_START_LOG": str(tmp_path / "http.log")}) as url:
        yield url


def tool_user(name: str) -> ScriptedChatModel:
    """Calls three tools of the two servers, then answers with what they returned."""

    def step(messages: list[BaseMessage]) -> AIMessage:
        results = [m for m in messages if isinstance(m, ToolMessage)]
        if not results:
            calls = [
                ToolCall(name="local__whoami", args={}, id=f"{name}-1", type="tool_call"),
                ToolCall(name="web__whoami", args={}, id=f"{name}-2", type="tool_call"),
                ToolCall(name="local__add", args={"a": 20, "b": 22}, id=f"{name}-3", type="tool_call"),
            ]
            return AIMessage(content="", tool_calls=calls)
        return AIMessage(content=f"{name} used {len(results)} tools")

    return ScriptedChatModel(script=[step])


def _fields(text: str) -> dict[str, Any]:
    """The JSON object inside a fenced tool result."""
    match = re.search(r"\{.*\}", text, re.S)
    assert match, text
    return json.loads(match.group(0))


@pytest.mark.timeout(180)
async def test_a_hundred_concurrent_fusions_share_one_unentered_registry(tmp_path: Path, http_basic: str):
    stdio_log = tmp_path / "stdio.log"
    registry = ToolRegistry(timeout=30)
    registry.add_mcp_server("local", command=PY, args=[BASIC], env={"MCP_START_LOG": str(stdio_log)})
    registry.add_mcp_server("web", url=http_basic)
    config = FusionConfig(
        pool=[Member(tool_user("ann"), name="ann"), Member(tool_user("bob"), name="bob")],
        judge=Judge(ScriptedChatModel()),
    )
    fusion = Fusion(config, tools=registry)
    node = FusionNode(config, tools=registry)
    parent = StateGraph(MessagesState)
    parent.add_node("fusion", node)
    parent.add_edge(START, "fusion")
    parent_graph = parent.compile()
    chat_model = FusionChatModel(config, tools=registry)

    async def run(entry: str, i: int) -> FusionResult:
        prompt = f"question {entry} {i}"
        if entry == "run":
            return await fusion.run(prompt)
        if entry == "stream":
            last: dict[str, Any] = {}
            async for mode, chunk in fusion.stream(prompt, stream_mode=("values",)):
                assert mode == "values"
                last = chunk
            return fusion.result(last)
        if entry == "fuse":
            return await fuse(prompt, config, tools=registry)
        if entry == "node":
            out = await parent_graph.ainvoke({"messages": [("user", prompt)]})
            return FusionResult.model_validate(out["messages"][-1].response_metadata["fusion"])
        message = await chat_model.ainvoke(prompt)
        return FusionResult.model_validate(message.response_metadata["fusion"])

    assert not registry.is_open
    started = time.perf_counter()
    async with asyncio.timeout(150):
        results = await asyncio.gather(
            *(run(entry, i) for i in range(PER_ENTRY_POINT) for entry in ENTRY_POINTS)
        )
    elapsed = time.perf_counter() - started

    assert len(results) == 100
    pids: set[int] = set()
    sessions: set[str] = set()
    for result in results:
        assert result.answer
        for candidate in result.candidates:
            assert candidate.ok, candidate.error
            names = [t.name for t in candidate.tool_trace]
            assert names == ["local__whoami", "web__whoami", "local__add"], names
            assert not any(t.error for t in candidate.tool_trace), candidate.tool_trace
            assert "42" in candidate.tool_trace[2].result
            pids.add(_fields(candidate.tool_trace[0].result)["pid"])
            web = _fields(candidate.tool_trace[1].result)
            assert web["session"] != "stdio"
            sessions.add(web["session"])
    # one stdio process and one HTTP session served all 600 tool calls
    assert len(pids) == 1 and starts(stdio_log) == 1
    assert len(sessions) == 1
    # the last fusion out closed the registry and stopped the stdio server
    assert registry.users == 0 and not registry.is_open and registry.servers == {}
    with pytest.raises(ProcessLookupError):
        os.kill(pids.pop(), 0)
    print(f"\n100 concurrent fusions (600 MCP calls) on one un-entered registry: {elapsed:.2f} s")
