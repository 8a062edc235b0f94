"""The `fuse` tool of `fusion tools serve`: its pool calls the served registry tools; one compiled Fusion."""

from __future__ import annotations

import asyncio
import json
import re
import shutil
import sys
from pathlib import Path
from typing import Any

import pytest
from langchain_core.messages import AIMessage, BaseMessage, ToolCall, ToolMessage
from mcp import Client
from mcp_types import TextContent

from fusion_graph import FusionConfig, Judge, Member
from fusion_graph.cli.tools import FuseTool, fuse_tool
from fusion_graph.testing import ScriptedChatModel
from fusion_graph.testing.openai_server import ModelScript, OpenAIStubServer, Turn
from tests.tool_registry._helpers import BASIC, PY, starts
from tool_registry import ToolRegistry, create_mcp_server

BIN = Path(sys.executable).parent
FUSION = shutil.which("fusion", path=str(BIN)) or str(BIN / "fusion")


def _pid(text: str) -> int:
    match = re.search(r'"pid": (\d+)', text)
    assert match, text
    return int(match.group(1))


def tool_user(name: str) -> ScriptedChatModel:
    def step(messages: list[BaseMessage]) -> AIMessage:
        results = [m for m in messages if isinstance(m, ToolMessage)]
        if not results:
            calls = [
                ToolCall(name="basic__whoami", args={}, id=f"{name}-1", type="tool_call"),
                ToolCall(name="basic__add", args={"a": 40, "b": 2}, id=f"{name}-2", type="tool_call"),
            ]
            return AIMessage(content="", tool_calls=calls)
        return AIMessage(content=" | ".join(m.text for m in results))

    return ScriptedChatModel(script=[step])


@pytest.mark.timeout(60)
async def test_fuse_runs_its_pool_with_the_served_registry_on_one_compiled_fusion(tmp_path: Path):
    log = tmp_path / "starts.log"
    registry = ToolRegistry(timeout=10)
    registry.add_mcp_server("basic", command=PY, args=[BASIC], env={"MCP_START_LOG": str(log)})
    config = FusionConfig(pool=[Member(tool_user("ann"), name="ann")], judge=Judge(ScriptedChatModel()))
    tool = FuseTool(config, registry)
    async with registry:  # as serve_registry holds it while serving
        served_pid = _pid((await registry.call("basic__whoami", {})).text)
        server = create_mcp_server(registry, extra_tools=[tool.fuse])
        async with Client(server) as client:
            names = [t.name for t in (await client.list_tools()).tools]
            assert "fuse" in names and "basic__whoami" in names
            answers = [await client.call_tool("fuse", {"prompt": "once"})]
            answers += await asyncio.gather(
                *(client.call_tool("fuse", {"prompt": f"p{i}", "mode": "best-of"}) for i in range(5))
            )
        for answer in answers:
            assert not answer.is_error, answer.content
            block = answer.content[0]
            assert isinstance(block, TextContent)
            text = block.text
            assert _pid(text) == served_pid  # the pool called the server the registry serves
            assert "42" in text
        assert registry.users == 1  # every fusion let go of the registry; serving still holds it
        assert list(tool.compiled) == ["best-of"]
        fusion = tool.compiled["best-of"]
        assert tool.fusion() is fusion and tool.fusion("best-of") is fusion
    assert starts(log) == 1
    assert not registry.is_open


def _stub_scripts() -> dict[str, ModelScript]:
    def echo_tool(body: dict[str, Any]) -> str:
        results = [m.get("content") for m in body["messages"] if m.get("role") == "tool"]
        return "tool said: " + json.dumps(results)

    return {
        "caller": ModelScript(
            turns=[Turn(tool_calls=[{"name": "basic__whoami", "arguments": {}}]), Turn(reply=echo_tool)]
        )
    }


@pytest.mark.timeout(120)
async def test_fusion_tools_serve_fuse_tool_calls_the_tools_it_serves(tmp_path: Path):
    log = tmp_path / "starts.log"
    async with OpenAIStubServer(_stub_scripts()) as stub:
        path = tmp_path / "fusion.toml"
        path.write_text(
            f"""
mode = "best-of"
judge = "fake:judge"

[[pool]]
model = "openai-compatible:caller"
name = "caller"
base_url = "{stub.base_url}"
params = {{ max_retries = 0 }}

[[tools.servers]]
name = "basic"
transport = "stdio"
command = "{PY}"
args = ["{BASIC}"]
env = {{ MCP_START_LOG = "{log}" }}
"""
        )
        hub = ToolRegistry(timeout=60)
        hub.add_mcp_server(
            "hub",
            command=FUSION,
            args=["tools", "serve", "--config", str(path)],
            env={"PATH": str(BIN)},
            connect_timeout=60,
        )
        async with hub:
            served = _pid((await hub.call("hub__basic__whoami", {})).text)
            first = await hub.call("hub__fuse", {"prompt": "who serves you?"})
            second = await hub.call("hub__fuse", {"prompt": "and again?"})
    for fused in (first, second):
        assert not fused.is_error, fused.text
        assert fused.text.startswith("tool said:")
        assert _pid(fused.text.replace('\\"', '"')) == served
    assert stub.calls("caller") == 4  # two fusions, each: a tool call, then the answer
    assert starts(log) == 1  # the pool's tool calls went to the server `serve` had started


def test_fuse_tool_compiles_the_file_pool_at_once(tmp_path: Path):
    path = tmp_path / "pool.toml"
    path.write_text('mode = "merge"\njudge = "fake:j"\npool = ["fake:one", "fake:two"]\n')
    tool = fuse_tool(path)
    assert list(tool.compiled) == ["merge"] and tool.registry is None
