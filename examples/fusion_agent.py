"""``FusionChatModel`` as the model of a LangChain v1 agent (``create_agent``): the answer may call tools."""

import asyncio

from langchain.agents import create_agent
from langchain_core.tools import tool

from fusion_graph import FusionChatModel, FusionConfig, Judge, Member
from fusion_graph.testing import ModelScript, OpenAIStubServer, Turn


@tool
def multiply(a: int, b: int) -> int:
    """Multiply two integers."""
    return a * b


async def main() -> None:
    def caller(answer: str) -> ModelScript:
        return ModelScript(
            turns=[
                Turn(tool_calls=[{"name": "multiply", "arguments": {"a": 6, "b": 7}}]),
                Turn(reply=answer),
            ]
        )

    server = OpenAIStubServer(
        models={
            "m1": caller("6 x 7 = 42."),
            "m2": caller("The product is 42."),
            "judge": ModelScript(judge=True),
        }
    )
    async with server:
        config = FusionConfig(
            pool=[Member(f"openai:{name}", base_url=server.base_url) for name in ("m1", "m2")],
            judge=Judge("openai:judge", base_url=server.base_url),
        )
        agent = create_agent(FusionChatModel(config), [multiply])
        out = await agent.ainvoke({"messages": [("user", "What is 6 x 7?")]})
        for message in out["messages"]:
            calls = getattr(message, "tool_calls", None)
            print(f"{message.type:5} {calls or message.content}")


if __name__ == "__main__":
    asyncio.run(main())
