"""A fusion whose members call tools from two real MCP servers and a Python function."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from langchain_core.messages import AIMessage, BaseMessage, ToolCall, ToolMessage

from fusion_graph import FusionConfig, Judge, Member, fuse
from fusion_graph.testing import ScriptedChatModel
from tests.tool_registry._helpers import BASIC, PY, TIME_SERVER, free_port, starts, wait_for_port
from tool_registry import ToolRegistry


def multiply(a: int, b: int) -> int:
    """Multiply two integers."""
    return a * b


@pytest.fixture
def http_basic(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    log = tmp_path / "http-starts.log"
    port = free_port()
    proc = subprocess.Popen(
        [PY, BASIC, "--http", "--port", str(port)],
        env={"MCP_START_LOG": str(log), "PATH": "/usr/bin:/bin"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for_port(port, proc)
        yield f"http://127.0.0.1:{port}/mcp", log
    finally:
        proc.kill()
        proc.wait(timeout=10)


def registry(stdio_log: Path, http_url: str) -> ToolRegistry:
    reg = ToolRegistry()
    reg.add_mcp_server("basic", command=PY, args=[BASIC], env={"MCP_START_LOG": str(stdio_log)})
    reg.add_mcp_server("web", url=http_url)
    reg.add_mcp_server("time", command=TIME_SERVER, args=["--local-timezone", "UTC"])
    reg.add_function(multiply)
    return reg


def tool_user(name: str) -> ScriptedChatModel:
    calls = [
        ToolCall(name="basic__add", args={"a": 2, "b": 3}, id=f"{name}-1", type="tool_call"),
        ToolCall(name="web__echo", args={"text": f"hello from {name}"}, id=f"{name}-2", type="tool_call"),
        ToolCall(name="time__get_current_time", args={"timezone": "UTC"}, id=f"{name}-3", type="tool_call"),
        ToolCall(name="multiply", args={"a": 6, "b": 7}, id=f"{name}-4", type="tool_call"),
    ]

    def answer(messages: list[BaseMessage]) -> str:
        results = [m for m in messages if isinstance(m, ToolMessage)]
        return f"{name}: " + " | ".join(m.text[-60:] for m in results)

    return ScriptedChatModel(script=[AIMessage(content="", tool_calls=calls), answer, "revised " + name])


async def test_every_member_calls_two_mcp_servers_and_a_function(tmp_path: Path, http_basic):
    http_url, http_log = http_basic
    stdio_log = tmp_path / "stdio-starts.log"
    judge = ScriptedChatModel()
    config = FusionConfig(
        pool=[Member(tool_user(n), name=n) for n in ("ann", "bob", "cyd")],
        judge=Judge(judge),
        mode="debate",
        rounds=1,
        consensus=None,
    )
    reg = registry(stdio_log, http_url)
    async with reg:
        result = await fuse("Use every tool, then answer.", config, tools=reg)
        best_of = FusionConfig(
            pool=[Member(tool_user(n), name=n) for n in ("ann", "bob")], judge=Judge(judge)
        )
        result_again = await fuse("Once more.", best_of, tools=reg)
    assert result_again.answer
    for name in ("ann", "bob", "cyd"):
        first = next(c for c in result.candidates if c.member == name and c.round == 0)
        assert [t.name for t in first.tool_trace] == [
            "basic__add",
            "web__echo",
            "time__get_current_time",
            "multiply",
        ]
        assert not any(t.error for t in first.tool_trace)
        assert "5" in first.tool_trace[0].result and "42" in first.tool_trace[3].result
        assert f"hello from {name}" in first.tool_trace[1].result
        assert "UTC" in first.tool_trace[2].result
    # one persistent session per server: three members, two fusions, each server started once
    assert starts(stdio_log) == 1 and starts(http_log) == 1
    # the revising members see their peers' tool traces; a best-of judge sees the traces
    bob = config.member("bob").model
    assert isinstance(bob, ScriptedChatModel)
    revise_prompt = bob.calls[2][-1].text
    assert "(tool call) web__echo" in revise_prompt and "hello from ann" in revise_prompt
    assert "(tool call) multiply" in judge.calls[1][-1].text


async def test_fuse_opens_and_closes_the_registry_itself(tmp_path: Path, http_basic):
    http_url, _ = http_basic
    reg = registry(tmp_path / "log", http_url)
    config = FusionConfig(pool=[Member(tool_user("ann"), name="ann")], judge=Judge(ScriptedChatModel()))
    result = await fuse("go", config, tools=reg)
    assert len(result.candidates[0].tool_trace) == 4
    assert not reg.is_open


async def test_tool_errors_go_back_to_the_member_not_into_the_answer(tmp_path: Path, http_basic):
    http_url, _ = http_basic
    call = ToolCall(name="basic__add", args={"a": "two"}, id="x1", type="tool_call")
    member = ScriptedChatModel(script=[AIMessage(content="", tool_calls=[call]), "I could not add."])
    config = FusionConfig(pool=[Member(member, name="m")], judge=Judge(ScriptedChatModel()))
    async with registry(tmp_path / "log", http_url) as reg:
        result = await fuse("add", config, tools=reg)
    (trace,) = result.candidates[0].tool_trace
    assert trace.error
    assert result.answer == "I could not add."
    tool_message = member.calls[1][-1]
    assert isinstance(tool_message, ToolMessage) and tool_message.status == "error"


@pytest.mark.local
async def test_local_models_call_tools_when_forced(tmp_path: Path, http_basic):
    http_url, _ = http_basic
    common = {"n_threads": 1, "max_tokens": 48, "temperature": 0.0, "seed": 1}
    config = FusionConfig(
        pool=[
            Member("local:qwen2.5-coder-0.5b", name="qwen", tool_choice="basic__add", params=common),
            Member("local:smollm2-135m", name="smol", tool_choice="multiply", params=common),
        ],
        judge=Judge(ScriptedChatModel()),
    )
    async with registry(tmp_path / "log", http_url) as reg:
        result = await fuse("What is 2 + 3, and what is 6 times 7? Use the tools.", config, tools=reg)
    by_member = {c.member: c for c in result.candidates}
    assert [t.name for t in by_member["qwen"].tool_trace] == ["basic__add"]
    assert [t.name for t in by_member["smol"].tool_trace] == ["multiply"]
    for candidate in by_member.values():
        assert candidate.ok, candidate.error
        assert not candidate.tool_trace[0].error, candidate.tool_trace[0].result
