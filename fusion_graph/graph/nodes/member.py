"""A member answers: one model, its own tool loop, one candidate (or a failed one)."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import (
    AIMessage,
    AIMessageChunk,
    BaseMessage,
    HumanMessage,
    ToolMessage,
    message_chunk_to_message,
)
from langchain_core.runnables import Runnable, RunnableConfig
from langchain_core.runnables.config import ensure_config, merge_configs
from langchain_core.tools import BaseTool
from langchain_core.utils.function_calling import convert_to_openai_tool
from langgraph.config import get_stream_writer
from langgraph.errors import GraphBubbleUp

from fusion_graph import prompts
from fusion_graph.config import Member
from fusion_graph.events import EventWriter, MemberFailedEvent, MemberFinished, MemberStarted
from fusion_graph.graph._context import condense, fit_messages
from fusion_graph.graph._rounds import RoundCoordinator
from fusion_graph.graph._runtime import FusionRuntime
from fusion_graph.graph.nodes import AsyncNode
from fusion_graph.graph.nodes._elicitation import member_elicitation
from fusion_graph.graph.nodes._structured import bind_structured, structured_reply
from fusion_graph.providers.profiles import ModelProfile, ToolCallIdMap
from fusion_graph.providers.samples import SAMPLE_GROUP
from fusion_graph.state import CandidateRecord, MemberTask
from fusion_graph.structured import run_format
from fusion_graph.usage import (
    CHARS_PER_TOKEN,
    messages_tokens,
    price,
    reported_cost,
    tokens_of,
    worst_case_cost,
)
from tool_registry.convert import clip, fence
from tool_registry.elicitation import handling_elicitation

__all__ = ["make_member_node", "stopped_for_length"]

_TRACE_LIMIT = 2000


class _Spend:
    """What a member has spent so far in a round, including a call cut short."""

    def __init__(self) -> None:
        self.input_tokens = 0
        self.output_tokens = 0
        self.partial_input = 0
        self.partial_output = 0
        self.reported_usd = 0.0
        """Cost the provider reported itself (e.g. OpenRouter's ``usage.cost``), for calls that did."""
        self.reported_tokens: tuple[int, int] = (0, 0)
        self.cuts: list[str] = []

    def cost(self, spec: Member) -> float:
        """Reported costs where the provider gave them; the config's prices for the rest."""
        priced_in = self.input_tokens + self.partial_input - self.reported_tokens[0]
        priced_out = self.output_tokens + self.partial_output - self.reported_tokens[1]
        return self.reported_usd + price(spec, priced_in, priced_out)


def make_member_node(runtime: FusionRuntime) -> AsyncNode[MemberTask]:
    """The node that runs one member for one round (the ``Send`` payload says which)."""
    config = runtime.config

    async def member(state: MemberTask) -> dict[str, Any]:
        coordinator = runtime.rounds.get(
            state["round_key"],
            size=state["round_size"],
            quorum=config.min_answers or 1,
            deadline=config.deadline,
            spare_usd=state["spare_usd"],
        )
        coordinator.join()
        try:
            return await run(state, coordinator)
        finally:
            coordinator.leave()

    async def run(task: MemberTask, coordinator: RoundCoordinator) -> dict[str, Any]:
        """One member's round (``task`` is the Send payload: which member, which round)."""
        spec, model = runtime.members[task["member"]]
        write: EventWriter = get_stream_writer()
        started = time.perf_counter()
        spend = _Spend()
        trace: list[dict[str, Any]] = []
        kind: str | None = None
        error: str | None = None
        message: AIMessage | None = None
        if task["skip"]:
            kind, error = "budget", task["skip"]
        else:
            write(MemberStarted(type="member_started", member=task["member"], round=task["round"]))
            answer = _answer(runtime, spec, model, task, spend, trace, coordinator)
            # Without a deadline nobody is cancelled as a straggler: await the call in this task
            # (two fewer tasks per member than watching for the deadline).
            call = asyncio.ensure_future(answer) if config.deadline is not None else None
            stop = asyncio.ensure_future(coordinator.stragglers_may_stop()) if call is not None else None
            try:
                async with asyncio.timeout(spec.timeout):
                    if call is None or stop is None:
                        message = await answer
                    else:
                        await asyncio.wait({call, stop}, return_when=asyncio.FIRST_COMPLETED)
                        if not call.done():
                            kind, error = (
                                "cancelled",
                                "cancelled as a straggler: the quorum was in at the deadline",
                            )
                            call.cancel()
                        message = await call
                if not message.text.strip() and not message.tool_calls:
                    kind, error = _empty_reason(message)
            except asyncio.CancelledError:
                if kind != "cancelled":
                    raise
            except TimeoutError:
                kind, error = "timeout", f"no answer within {spec.timeout} s"
            except _BudgetStop as exc:
                kind, error = "budget", str(exc)
            except GraphBubbleUp:  # an interrupt() in a tool pauses the graph: not a failure
                raise
            except Exception as exc:  # a member's failure is a value, not a crash of the fusion
                kind, error = "error", f"{type(exc).__name__}: {exc}"
            finally:
                if stop is not None:
                    stop.cancel()
                if call is not None and not call.done():
                    call.cancel()
        coordinator.finished(error is None)
        input_tokens = spend.input_tokens + spend.partial_input
        output_tokens = spend.output_tokens + spend.partial_output
        record = CandidateRecord(
            member=task["member"],
            round=task["round"],
            text=message.text if (message is not None and error is None) else "",
            error=error,
            error_kind=kind,
            latency_s=round(time.perf_counter() - started, 4),
            input_tokens=input_tokens,
            output_tokens=output_tokens,
            cost_usd=spend.cost(spec),
            tool_calls=[dict(call) for call in message.tool_calls] if message and not error else [],
            tool_trace=trace,
            partial=bool(spend.partial_input or spend.partial_output),
            cuts=spend.cuts,
            truncated=bool(message is not None and error is None and stopped_for_length(message)),
        )
        if error is None:
            write(
                MemberFinished(
                    type="member_finished",
                    member=record["member"],
                    round=record["round"],
                    latency_s=record["latency_s"],
                    input_tokens=input_tokens,
                    output_tokens=output_tokens,
                    cost_usd=record["cost_usd"],
                    preview=record["text"][:120],
                )
            )
        else:
            write(
                MemberFailedEvent(
                    type="member_failed",
                    member=record["member"],
                    round=record["round"],
                    kind=kind or "error",
                    error=error,
                )
            )
        return {"candidates": [record]}

    return member


class _BudgetStop(Exception):
    """The next step of a member's tool loop would cross the budget."""


def member_messages(task: MemberTask, spec: Member) -> tuple[list[BaseMessage], list[str]]:
    """The conversation a member sees (fitted to its context window) and what was cut to fit it."""
    messages: list[BaseMessage] = list(task["messages"])
    cuts: list[str] = []
    window = spec.context_window
    reserve = int(spec.params.get("max_tokens") or 512)
    if window is not None:
        messages, notes = fit_messages(
            messages, max(64, (window - reserve) // 2 if task["round"] else window - reserve)
        )
        cuts += [f"conversation: {note}" for note in notes]
    if task["round"] > 0:
        own, peers = task["own"] or "", list(task["peers"])
        if window is not None:
            room = (window - reserve - messages_tokens(messages) - 300) * CHARS_PER_TOKEN
            share = max(200, room // (len(peers) + 1))
            if len(own) > share or any(len(peer) > share for peer in peers):
                cuts.append(
                    f"debate: condensed answers longer than {share} characters to fit {window} tokens"
                )
                own, peers = condense(own, share), [condense(peer, share) for peer in peers]
        block = "\n\n".join(prompts.PEER_BLOCK.format(index=i + 1, text=text) for i, text in enumerate(peers))
        messages.append(HumanMessage(prompts.DEBATE_REVISE.format(own=own, peers=block)))
    return messages, cuts


async def _answer(
    runtime: FusionRuntime,
    spec: Member,
    model: BaseChatModel,
    task: MemberTask,
    spend: _Spend,
    trace: list[dict[str, Any]],
    coordinator: RoundCoordinator,
) -> AIMessage:
    """Run the model, and its tool loop when the fusion has tools."""
    config = merge_configs(
        ensure_config(),
        RunnableConfig(
            tags=[f"fusion:member:{task['member']}"],
            metadata={"fusion_member": task["member"], "fusion_round": task["round"]},
        ),
    )
    messages, spend.cuts = member_messages(task, spec)
    base = runtime.base_name(task["member"])
    tools = runtime.tools.as_langchain_tools(member=base) if runtime.tools else []
    profile = runtime.profiles[task["member"]]
    id_map = ToolCallIdMap()
    structured = run_format(config)  # a response_format: answer in the schema (no tools, Fusion checks)
    runnable: Runnable[Any, Any] = model
    if structured is not None:
        runnable = bind_structured(model, profile, structured)
    schemas = runtime.bound_tools or [convert_to_openai_tool(tool) for tool in tools]
    if schemas:
        schemas = [profile.adapt_tool(schema) for schema in schemas]
        choice = profile.tool_choice(runtime.tool_choice) if runtime.bound_tools else None
        runnable = model.bind_tools(schemas, tool_choice=choice) if choice else model.bind_tools(schemas)
    by_name = {tool.name: tool for tool in tools}
    forced: Runnable[Any, Any] | None = None
    if tools and spec.tool_choice:
        forced = model.bind_tools(schemas, tool_choice=profile.tool_choice(spec.tool_choice))
    offset = _sample_offset(spec, runtime.sample_index(task["member"]))
    if offset:
        runnable = runnable.bind(**offset)
        forced = forced.bind(**offset) if forced is not None else None
        model_now: Runnable[Any, Any] = model.bind(**offset)
    else:
        model_now = model
    for step in range(runtime.config.max_tool_steps + 1):
        last_step = step == runtime.config.max_tool_steps or (forced is not None and step > 0)
        current = forced if forced is not None and step == 0 else runnable
        outgoing = profile.adapt_messages(messages, id_map)
        if step > 0 and not coordinator.take(worst_case_cost(spec, messages_tokens(outgoing))):
            raise _BudgetStop(f"step {step + 1} of the tool loop would cross the budget")
        runnable_now = model_now if last_step and tools else current
        # The first call of each sample starts together: a provider may decode them as one batch.
        group = coordinator.sample_group(base, spec.samples) if step == 0 and spec.samples > 1 else None
        token = SAMPLE_GROUP.set(group) if group is not None else None
        try:
            message = await _call(
                runnable_now, outgoing, config, spend, profile, stream=runtime.config.deadline is not None
            )
        finally:
            if token is not None:
                SAMPLE_GROUP.reset(token)
        message = profile.restore_message(message, id_map)
        if structured is not None:
            return structured_reply(message, structured)
        invalid = message.invalid_tool_calls
        if not (message.tool_calls or invalid) or not tools or runtime.bound_tools:
            return message
        messages.append(message)
        # A server that asks the user during a call gets its answer through an interrupt (the
        # handler is a context variable: the tools' tasks inherit it).
        with handling_elicitation(member_elicitation(task["member"], coordinator)):
            results = await asyncio.gather(*(_run_tool(by_name, call) for call in message.tool_calls))
        calls: list[tuple[str, dict[str, Any], ToolMessage]] = [
            (call["name"], call["args"], result)
            for call, result in zip(message.tool_calls, results, strict=True)
        ]
        for bad in invalid:  # arguments that are not JSON: say so, and let the model try again
            name, raw = bad.get("name") or "?", str(bad.get("args") or "")
            reply = ToolMessage(
                content=f"the arguments of {name} are not valid JSON ({bad.get('error') or 'parse error'}): "
                f"{raw[:200]!r}; call it again with JSON arguments",
                tool_call_id=bad.get("id") or "",
                name=name,
                status="error",
            )
            calls.append((name, {"_raw_arguments": raw[:_TRACE_LIMIT]}, reply))
        for name, args, result in calls:
            messages.append(result)
            trace.append(
                {
                    "name": name,
                    "args": args,
                    "result": clip(result.text, _TRACE_LIMIT),
                    "error": result.status == "error",
                }
            )
    raise AssertionError("unreachable: the last step calls the model without tools")


async def _call(
    runnable: Runnable[Any, Any],
    messages: list[BaseMessage],
    config: RunnableConfig,
    spend: _Spend,
    profile: ModelProfile,
    *,
    stream: bool,
) -> AIMessage:
    """One model call. Streamed when a deadline may cut it short, so that it still counts its spend.

    Until the call returns, its prompt (estimated) and the chunks streamed so far count as partial
    spend; the usage metadata replaces them when it completes.
    """
    spend.partial_input = messages_tokens(messages)
    spend.partial_output = 0
    if stream:
        merged: AIMessageChunk | None = None
        async for chunk in runnable.astream(messages, config):
            if not isinstance(chunk, AIMessageChunk):
                raise TypeError(f"the model streamed {type(chunk).__name__}, not AIMessageChunk")
            merged = chunk if merged is None else merged + chunk
            if chunk.content:
                spend.partial_output += 1
        if merged is None:
            raise ValueError("the model streamed nothing")
        message: Any = message_chunk_to_message(merged)
    else:
        message = await runnable.ainvoke(messages, config)
    if not isinstance(message, AIMessage):
        raise TypeError(f"the model returned {type(message).__name__}, not an AIMessage")
    spent = tokens_of(message)
    spend.input_tokens += spent[0]
    spend.output_tokens += spent[1]
    spend.partial_input = spend.partial_output = 0
    reported = reported_cost(message, profile)
    if reported is not None:
        spend.reported_usd += reported
        spend.reported_tokens = (spend.reported_tokens[0] + spent[0], spend.reported_tokens[1] + spent[1])
    return message


_LENGTH_STOPS = {"length", "max_tokens", "model_length"}


def stopped_for_length(message: AIMessage) -> bool:
    """Whether the provider says the answer stopped at its token limit (it may be cut short)."""
    meta = message.response_metadata or {}
    reason = meta.get("finish_reason") or meta.get("stop_reason") or meta.get("done_reason")
    return isinstance(reason, str) and reason.lower() in _LENGTH_STOPS


def _empty_reason(message: AIMessage) -> tuple[str, str]:
    """Why an answer with no text and no tool call is a failure."""
    if message.invalid_tool_calls:
        bad = message.invalid_tool_calls[0]
        raw = str(bad.get("args") or "")[:200]
        return "error", f"invalid tool call {bad.get('name')!r}: arguments are not valid JSON: {raw!r}"
    return "empty", "the model returned an empty answer"


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
    except GraphBubbleUp:  # interrupt() inside a tool (human approval) must reach the graph
        raise
    except Exception as exc:
        return ToolMessage(
            # The exception's text comes from the tool: fenced like any untrusted tool output.
            content=fence(f"{type(exc).__name__}: {exc}", call["name"], is_error=True),
            tool_call_id=call["id"] or "",
            name=call["name"],
            status="error",
        )
    if isinstance(result, ToolMessage):
        return result
    content = result if isinstance(result, str) else json.dumps(result, default=str)
    return ToolMessage(content=content, tool_call_id=call["id"] or "", name=call["name"])


def _sample_offset(spec: Member, index: int) -> dict[str, Any]:
    """What sample ``index`` of a sampled member changes in its calls: its own seed; greedy if first.

    A fixed seed would make every sample the same answer, so each sample gets ``seed + index``.
    With ``greedy_first`` the first sample decodes at temperature 0.
    """
    if spec.samples < 2:
        return {}
    offset: dict[str, Any] = {}
    seed = spec.params.get("seed")
    if isinstance(seed, int) and not isinstance(seed, bool):
        offset["seed"] = seed + index
    if spec.greedy_first and index == 0:
        offset["temperature"] = 0.0
    return offset
