"""A ``FusionNode`` inside your own LangGraph graph, persisted in SQLite."""

import asyncio
import tempfile
from pathlib import Path

from langchain_core.messages import HumanMessage
from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver
from langgraph.graph import START, MessagesState, StateGraph

from fusion_graph import FusionConfig, FusionNode, Judge, Member
from fusion_graph.testing import ModelScript, OpenAIStubServer


async def main() -> None:
    server = OpenAIStubServer(
        models={
            "a": ModelScript(replies=["Rome.", "Paris."]),
            "b": ModelScript(replies=["Rome, Italy.", "Paris, France."]),
            "judge": ModelScript(judge=True),
        }
    )
    async with server:
        config = FusionConfig(
            pool=[Member("openai:a", base_url=server.base_url), Member("openai:b", base_url=server.base_url)],
            judge=Judge("openai:judge", base_url=server.base_url),
        )
        builder = StateGraph(MessagesState)
        builder.add_node("fusion", FusionNode(config))
        builder.add_edge(START, "fusion")
        with tempfile.TemporaryDirectory() as folder:
            async with AsyncSqliteSaver.from_conn_string(str(Path(folder) / "chat.sqlite")) as saver:
                graph = builder.compile(checkpointer=saver)
                thread = {"configurable": {"thread_id": "chat-1"}}
                for question in ("Capital of Italy?", "And of France?"):
                    out = await graph.ainvoke({"messages": [HumanMessage(question)]}, thread)
                    answer = out["messages"][-1]
                    fusion = answer.response_metadata["fusion"]
                    print(f"{question} -> {answer.content} (winner: {fusion['winner']})")
                print(f"{len(out['messages'])} messages kept in the thread")


if __name__ == "__main__":
    asyncio.run(main())
