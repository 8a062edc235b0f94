from langchain_core.messages import AIMessage, ToolCall
from langchain_core.tools import tool

from fusion_graph import FusionChatModel
from fusion_graph.testing import ScriptedChatModel
from tests._builders import config, member


@tool
def multiply(a: int, b: int) -> int:
    """Multiply two integers."""
    return a * b


def _model():
    return FusionChatModel(config(member("a", "alpha says hi"), member("b", "beta says hi")))


def test_invoke_and_stream_sync():
    model = _model()
    message = model.invoke("hi")
    assert message.content in {"alpha says hi", "beta says hi"}
    assert message.response_metadata["fusion"]["mode"] == "best-of"
    assert message.usage_metadata and message.usage_metadata["input_tokens"] > 0
    chunks = list(model.stream("hi"))
    assert "".join(str(c.content) for c in chunks) in {"alpha says hi", "beta says hi"}


async def test_ainvoke_and_astream():
    model = _model()
    message = await model.ainvoke([("system", "be brief"), ("user", "hi")])
    assert message.content
    chunks = [c async for c in model.astream("hi")]
    assert chunks and "".join(str(c.content) for c in chunks)


async def test_as_the_model_of_a_langchain_agent():
    from langchain.agents import create_agent

    def calls_tool(name: str):
        call = ToolCall(name="multiply", args={"a": 6, "b": 7}, id=f"call_{name}", type="tool_call")
        return ScriptedChatModel(script=[AIMessage(content="", tool_calls=[call]), f"{name}: 6 x 7 = 42"])

    cfg = config(member("a"), member("b"))
    cfg = cfg.model_copy(
        update={
            "pool": [
                cfg.pool[0].model_copy(update={"model": calls_tool("a")}),
                cfg.pool[1].model_copy(update={"model": calls_tool("b")}),
            ]
        }
    )
    agent = create_agent(FusionChatModel(cfg), [multiply])
    out = await agent.ainvoke({"messages": [("user", "What is 6 x 7?")]})
    kinds = [m.type for m in out["messages"]]
    assert kinds == ["human", "ai", "tool", "ai"]
    assert out["messages"][2].content == "42"
    assert out["messages"][-1].content.endswith("6 x 7 = 42")
    # every member saw the agent's tool schema
    bound = cfg.pool[0].model.call_kwargs[0]["tools"]  # type: ignore[union-attr]
    assert bound[0]["function"]["name"] == "multiply"
