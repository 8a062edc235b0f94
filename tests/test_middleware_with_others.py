"""FusionMiddleware next to LangChain's own middleware, in either order (the first listed is outermost)."""

from __future__ import annotations

from typing import Any

import pytest
from langchain.agents import create_agent
from langchain.agents.middleware import (
    HumanInTheLoopMiddleware,
    ModelCallLimitMiddleware,
    ModelFallbackMiddleware,
    SummarizationMiddleware,
)
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.types import Command

from fusion_graph import FusionMiddleware
from fusion_graph.testing import Fault, ModelScript, OpenAIStubServer
from tests._agent_pool import Multiply, calls, own_model, pool_config, stub_models

QUESTION: Any = {"messages": [("user", "What is 6 x 7?")]}
MEMBER_ANSWERS = {"Member one says 42", "Member two says 42"}
ORDERS = ["fusion-first", "fusion-last"]


def _ordered(order: str, fusion: FusionMiddleware, other: Any) -> list[Any]:
    return [fusion, other] if order == "fusion-first" else [other, fusion]


@pytest.mark.parametrize("order", ORDERS)
async def test_model_fallback_covers_the_agents_own_model(order):
    broken = ModelScript(reply="never", faults=[Fault.HTTP_500] * 50)
    tool = Multiply()
    async with OpenAIStubServer(models=stub_models(broken=broken)) as server:
        fusion = FusionMiddleware(pool_config(server), when="final")
        fallback = ModelFallbackMiddleware(own_model(server, "agent"))
        agent = create_agent(
            own_model(server, "broken"), [tool.tool()], middleware=_ordered(order, fusion, fallback)
        )
        out = await agent.ainvoke(QUESTION)
        used = calls(server)
    assert used["broken"] == 2 and used["agent"] == 2  # each step: the primary fails, the fallback answers
    assert used["m1"] == used["m2"] == used["judge"] == 1  # only the final answer was fused
    assert tool.runs == [{"a": 6, "b": 7}]
    assert out["messages"][-1].content in MEMBER_ANSWERS


@pytest.mark.parametrize("order", ORDERS)
async def test_model_call_limit_counts_a_fused_step_as_one_call(order):
    tool = Multiply()
    async with OpenAIStubServer(models=stub_models()) as server:
        fusion = FusionMiddleware(pool_config(server), when="always")
        limit = ModelCallLimitMiddleware(run_limit=1, exit_behavior="end")
        agent = create_agent(own_model(server), [tool.tool()], middleware=_ordered(order, fusion, limit))
        out = await agent.ainvoke(QUESTION)
        used = calls(server)
    assert used == {"agent": 0, "m1": 1, "m2": 1, "judge": 1}  # one fused step, then the limit
    assert tool.runs == [{"a": 6, "b": 7}]
    assert "limit" in str(out["messages"][-1].content).lower()


@pytest.mark.parametrize("order", ORDERS)
async def test_summarization_shortens_what_the_members_see(order):
    summary = "SUMMARY: the user asked for 6 x 7 and multiply returned 42."
    async with OpenAIStubServer(models=stub_models(summarizer=ModelScript(reply=summary))) as server:
        fusion = FusionMiddleware(pool_config(server), when="final")
        summarize = SummarizationMiddleware(
            own_model(server, "summarizer"), trigger=("messages", 3), keep=("messages", 1)
        )
        middleware = _ordered(order, fusion, summarize)
        agent = create_agent(own_model(server), [Multiply().tool()], middleware=middleware)
        out = await agent.ainvoke(QUESTION)
        assert server.calls("summarizer") == 1
        asked = [r for r in server.requests if r["model"] == "m1"]
    assert len(asked) == 1 and summary in str(asked[0]["messages"])
    assert out["messages"][-1].content in MEMBER_ANSWERS


@pytest.mark.parametrize("order", ORDERS)
async def test_human_in_the_loop_reviews_the_fused_tool_call_once(order):
    tool = Multiply()
    async with OpenAIStubServer(models=stub_models()) as server:
        fusion = FusionMiddleware(pool_config(server), when="always")
        review = HumanInTheLoopMiddleware(interrupt_on={"multiply": True})
        agent = create_agent(
            own_model(server),
            [tool.tool()],
            middleware=_ordered(order, fusion, review),
            checkpointer=InMemorySaver(),
        )
        thread: Any = {"configurable": {"thread_id": f"hitl-{order}"}}
        paused = await agent.ainvoke(QUESTION, thread)
        requests = paused["__interrupt__"][0].value["action_requests"]
        assert [(r["name"], r["args"]) for r in requests] == [("multiply", {"a": 6, "b": 7})]
        assert tool.runs == []
        out = await agent.ainvoke(Command(resume={"decisions": [{"type": "approve"}]}), thread)
        assert calls(server) == {"agent": 0, "m1": 2, "m2": 2, "judge": 2}
    assert tool.runs == [{"a": 6, "b": 7}]
    assert out["messages"][-1].content in MEMBER_ANSWERS
