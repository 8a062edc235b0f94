"""A member answers: one model, its own tool loop, one candidate (or a failed one)."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, ToolMessage
from langchain_core.runnables import Runnable, RunnableConfig
from langchain_core.runnables.config import ensure_config, merge_configs
from langchain_core.tools import BaseTool
from langchain_core.utils.function_calling import convert_to_openai_tool
from langgraph.config import get_stream_writer

from fusion_graph import prompts
from fusion_graph._runtime import FusionRuntime
from fusion_graph.config import Member
from fusion_graph.state import CandidateRecord, MemberTask
from fusion_graph.usage import price, tokens_of
from tool_registry.adapt import (
    ToolCallIdMap,
    adapt_messages,
    adapt_tool_schema,
    map_tool_choice,
    restore_message,
)

__all__ = ["make_member_node"]

_TRACE_LIMIT = 2000


def make_member_node(runtime: FusionRuntime) -> Callable[[MemberTask], Awaitable[dict[str, Any]]]:
    """The node that runs one member for one round (the ``Send`` payload says which)."""

    async def member(task: MemberTask) -> dict[str, Any]:
        spec, model = runtime.members[task["member"]]
        write = get_stream_writer()
        write({"type": "member_started", "member": task["member"], "round": task["round"]})
        started = time.perf_counter()
        usage = [0, 0]
        trace: list[dict[str, Any]] = []
        kind: str | None = None
        error: str | None = None
        message: AIMessage | None = None
        try:
            async with asyncio.timeout(spec.timeout):
                message = await _answer(runtime, spec, model, task, usage, trace)
            if not message.text.strip() and not message.tool_calls:
                kind, error = "empty", "the model returned an empty answer"
        except TimeoutError:
            kind, error = "timeout", f"no answer within {spec.timeout} s"
        except Exception as exc:  # a member's failure is a value, not a crash of the fusion
            kind, error = "error", f"{type(exc).__name__}: {exc}"
        latency = time.perf_counter() - started
        record = CandidateRecord(
            member=task["member"],
            round=task["round"],
            text=message.text if (message is not None and error is None) else "",
            error=error,
            error_kind=kind,
            latency_s=round(latency, 4),
            input_tokens=usage[0],
            output_tokens=usage[1],
            cost_usd=price(spec, usage[0], usage[1]),
            tool_calls=[dict(call) for call in message.tool_calls] if message and not error else [],
            tool_trace=trace,
        )
        if error is None:
            write({
                "type": "member_finished", "member": record["member"], "round": record["round"],
                "latency_s": record["latency_s"], "input_tokens": usage[0],
                "output_tokens": usage[1], "cost_usd": record["cost_usd"],
                "preview": record["text"][:120],
            })
        else:
            write({
                "type": "member_failed", "member": record["member"], "round": record["round"],
                "kind": kind or "error", "error": error,
            })
        return {"candidates": [record]}

    return member


def member_messages(task: MemberTask) -> list[BaseMessage]:
    """The conversation a member sees: the original, plus the peers' answers when revising."""
    messages: list[BaseMessage] = list(task["messages"])
    if task["round"] > 0:
        peers = "\n\n".join(
            prompts.PEER_BLOCK.format(index=i + 1, text=text) for i, text in enumerate(task["peers"])
        )
        messages.append(HumanMessage(prompts.DEBATE_REVISE.format(own=task["own"], peers=peers)))
    return messages


async def _answer(
    runtime: FusionRuntime,
    spec: Member,
    model: BaseChatModel,
    task: MemberTask,
    usage: list[int],
    trace: list[dict[str, Any]],
) -> AIMessage:
    """Run the model, and its tool loop when the fusion has tools."""
    config = merge_configs(
        ensure_config(),
        RunnableConfig(
            tags=[f"fusion:member:{task['member']}"],
            metadata={"fusion_member": task["member"], "fusion_round": task["round"]},
        ),
    )
    messages = member_messages(task)
    tools = runtime.tools.as_langchain_tools(member=task["member"]) if runtime.tools else []
    provider = provider_of(spec, model)
    id_map = ToolCallIdMap()
    runnable: Runnable[Any, Any] = model
    schemas = runtime.bound_tools or [convert_to_openai_tool(tool) for tool in tools]
    if schemas:
        schemas = [_adapt_schema(schema, provider) for schema in schemas]
        choice = map_tool_choice(runtime.tool_choice, provider) if runtime.bound_tools else None
        runnable = model.bind_tools(schemas, tool_choice=choice) if choice else model.bind_tools(schemas)
    by_name = {tool.name: tool for tool in tools}
    forced: Runnable[Any, Any] | None = None
    if tools and spec.tool_choice:
        forced = model.bind_tools(schemas, tool_choice=map_tool_choice(spec.tool_choice, provider))
    for step in range(runtime.config.max_tool_steps + 1):
        last_step = step == runtime.config.max_tool_steps or (forced is not None and step > 0)
        current = forced if forced is not None and step == 0 else runnable
        outgoing = adapt_messages(messages, provider, id_map)
        message = await (model if last_step and tools else current).ainvoke(outgoing, config)
        if not isinstance(message, AIMessage):
            raise TypeError(f"the model returned {type(message).__name__}, not an AIMessage")
        message = restore_message(message, provider, id_map)
        spent = tokens_of(message)
        usage[0] += spent[0]
        usage[1] += spent[1]
        if not message.tool_calls or not tools or runtime.bound_tools:
            return message
        messages.append(message)
        results = await asyncio.gather(*(_run_tool(by_name, call) for call in message.tool_calls))
        for call, result in zip(message.tool_calls, results, strict=True):
            messages.append(result)
            trace.append({
                "name": call["name"],
                "args": call["args"],
                "result": result.text[:_TRACE_LIMIT],
                "error": result.status == "error",
            })
    raise AssertionError("unreachable: the last step calls the model without tools")


def provider_of(spec: Member, model: BaseChatModel) -> str:
    """The provider whose rules a member's requests follow (``openai`` when unknown)."""
    if spec.provider and spec.provider not in ("fake", "local"):
        return spec.provider
    name = type(model).__name__.lower()
    for provider in ("mistral", "anthropic", "ollama", "openai"):
        if provider in name:
            return provider
    return "openai"


def _adapt_schema(schema: dict[str, Any], provider: str) -> dict[str, Any]:
    function = dict(schema.get("function", {}))
    if "parameters" in function:
        function["parameters"] = adapt_tool_schema(function["parameters"], provider)
    return {**schema, "function": function}


async def _run_tool(by_name: dict[str, BaseTool], call: Any) -> ToolMessage:
    """Run one tool call; execution errors go back to the model as error tool messages."""
    tool = by_name.get(call["name"])
    if tool is None:
        return ToolMessage(
            content=f"unknown tool {call['name']!r}; available: {sorted(by_name)}",
            tool_call_id=call["id"] or "",
            name=call["name"],
            status="error",
        )
    try:
        result = await tool.ainvoke(call)
    except Exception as exc:
        return ToolMessage(
            content=f"tool {call['name']!r} failed: {type(exc).__name__}: {exc}",
            tool_call_id=call["id"] or "",
            name=call["name"],
            status="error",
        )
    if isinstance(result, ToolMessage):
        return result
    content = result if isinstance(result, str) else json.dumps(result, default=str)
    return ToolMessage(content=content, tool_call_id=call["id"] or "", name=call["name"])
