"""A multi-step agent task whose tools come from a real MCP server (mcp-server-time) through ToolRegistry."""

from __future__ import annotations

from typing import Any

import pytest
from langchain.agents import create_agent

from fusion_graph import FusionMiddleware
from fusion_graph.testing import ModelScript, OpenAIStubServer, Turn
from tests._agent_pool import calls, own_model, pool_config
from tests.tool_registry._helpers import TIME_SERVER
from tool_registry import ToolRegistry

NOW = {"name": "time__get_current_time", "arguments": {"timezone": "Asia/Tokyo"}}
CONVERT = {
    "name": "time__convert_time",
    "arguments": {"source_timezone": "Asia/Tokyo", "time": "09:00", "target_timezone": "Europe/London"},
}


QUESTION: Any = {"messages": [("user", "It is 09:00 in Tokyo; what time is it in London?")]}


def _planner(answer: str) -> ModelScript:
    return ModelScript(turns=[Turn(tool_calls=[NOW]), Turn(tool_calls=[CONVERT]), Turn(reply=answer)])


@pytest.mark.parametrize("when", ["always", "tools"])
async def test_a_multi_step_task_with_mcp_tools(when):
    models = {
        "agent": _planner("agent: 09:00 in Tokyo is 00:00 in London"),
        "m1": _planner("m1: 09:00 in Tokyo is 00:00 in London"),
        "m2": _planner("m2: 09:00 in Tokyo is 00:00 in London"),
        "judge": ModelScript(judge=True),
    }
    registry = ToolRegistry(timeout=20)
    registry.add_mcp_server("time", command=TIME_SERVER, args=["--local-timezone", "UTC"])
    async with OpenAIStubServer(models=models) as server, registry:
        agent = create_agent(
            own_model(server),
            registry.as_langchain_tools(),
            middleware=[FusionMiddleware(pool_config(server), when=when)],
        )
        out = await agent.ainvoke(QUESTION)
        used = calls(server)
        first = next(r for r in server.requests if r["model"] == "m1")
    offered = {t["function"]["name"] for t in first["tools"]}
    assert {"time__get_current_time", "time__convert_time"} <= offered
    assert used["m1"] == used["m2"] == used["judge"] == (3 if when == "always" else 2)
    assert used["agent"] == (0 if when == "always" else 3)
    messages: list[Any] = out["messages"]
    assert [m.type for m in messages] == ["human", "ai", "tool", "ai", "tool", "ai"]
    now, converted = messages[2], messages[4]
    assert "Asia/Tokyo" in str(now.content) and "+09:00" in str(now.content)  # the real server answered
    assert "Europe/London" in str(converted.content) and now.status != "error" != converted.status
    for step in (messages[1], messages[3]):
        assert step.response_metadata["fusion_step"]["fused"] is True and len(step.tool_calls) == 1
