"""``FusionMiddleware`` in a LangChain v1 agent: the agent's own model runs the tool steps, the pool fuses
the final answer (``when="final"``).

The models here are stub models on 127.0.0.1 (``OpenAIStubServer``), so the example runs offline; put
your own ``FusionConfig`` and chat model in their place.
"""

import asyncio

from langchain.agents import create_agent
from langchain_core.tools import tool
from langchain_openai import ChatOpenAI

from fusion_graph import FusionConfig, FusionMiddleware, Judge, Member
from fusion_graph.testing import ModelScript, OpenAIStubServer, Turn


@tool
def multiply(a: int, b: int) -> int:
    """Multiply two integers."""
    return a * b


def caller(answer: str) -> ModelScript:
    """A model that calls multiply(6, 7) first, then answers."""
    return ModelScript(
        turns=[Turn(tool_calls=[{"name": "multiply", "arguments": {"a": 6, "b": 7}}]), Turn(reply=answer)]
    )


async def main() -> None:
    server = OpenAIStubServer(
        models={
            "agent": caller("6 x 7 is 42, I think."),
            "m1": caller("6 x 7 = 42."),
            "m2": caller("The product is 42."),
            "judge": ModelScript(judge=True),
        }
    )
    async with server:
        url = server.base_url
        config = FusionConfig(
            pool=[Member(f"openai:{name}", base_url=url, api_key="sk-x") for name in ("m1", "m2")],
            judge=Judge("openai:judge", base_url=url, api_key="sk-x"),
        )
        model = ChatOpenAI(model="agent", base_url=url, api_key="sk-x")  # type: ignore[arg-type]
        agent = create_agent(model, [multiply], middleware=[FusionMiddleware(config, when="final")])

        # The messages stream shows each step's message once; the members' tokens never appear in it.
        async for message, metadata in agent.astream(
            {"messages": [("user", "What is 6 x 7?")]}, stream_mode="messages"
        ):
            calls = getattr(message, "tool_calls", None)
            print(f"{metadata['langgraph_node']:5} {message.type:5} {calls or message.content}")
            step = message.response_metadata.get("fusion_step")
            if step:
                fusion = message.response_metadata["fusion"]
                print(f"      fused ({step['reason']}), decided by {fusion['decided_by']}")
        print("calls:", {name: server.calls(name) for name in server.models})


if __name__ == "__main__":
    asyncio.run(main())
