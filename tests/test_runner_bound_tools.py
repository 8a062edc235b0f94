"""Fusion(config, bound_tools=..., tool_choice=...): tool schemas the answer may call, not executed."""

from langchain_core.messages import AIMessage, ToolCall
from langchain_core.utils.function_calling import convert_to_openai_tool

from fusion_graph import Fusion
from tests._builders import config, member, model_of


def multiply(a: int, b: int) -> int:
    """Multiply two integers."""
    return a * b


def _asks_for_multiply(name: str) -> AIMessage:
    call = ToolCall(name="multiply", args={"a": 6, "b": 7}, id=f"call_{name}", type="tool_call")
    return AIMessage(content="", tool_calls=[call])


async def test_bound_tools_reach_every_member_and_the_answer_returns_the_call_unexecuted() -> None:
    cfg = config(member("a", _asks_for_multiply("a")), member("b", _asks_for_multiply("b")))
    fusion = Fusion(cfg, bound_tools=[convert_to_openai_tool(multiply)], tool_choice="auto")

    result = await fusion.run("What is 6 x 7?")

    assert [(call["name"], call["args"]) for call in result.tool_calls] == [("multiply", {"a": 6, "b": 7})]
    for name in ("a", "b"):
        sent = model_of(cfg, name).call_kwargs
        assert len(sent) == 1  # asked once: a bound tool is the caller's to run, not the fusion's
        assert [tool["function"]["name"] for tool in sent[0]["tools"]] == ["multiply"]
        assert sent[0]["tool_choice"] == "auto"


async def test_without_bound_tools_members_are_offered_none() -> None:
    cfg = config(member("a", "six times seven is 42"), member("b", "42"))

    result = await Fusion(cfg).run("What is 6 x 7?")

    assert result.tool_calls == []
    assert all("tools" not in kwargs for kwargs in model_of(cfg, "a").call_kwargs)
