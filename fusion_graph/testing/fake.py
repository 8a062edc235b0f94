"""A scripted chat model for tests: replies, tool calls, usage, latency, failures, structured output."""

from __future__ import annotations

import asyncio
import json
import re
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from typing import Any, cast

from langchain_core.callbacks import (
    AsyncCallbackManagerForLLMRun,
    CallbackManagerForLLMRun,
)
from langchain_core.language_models import BaseChatModel, LanguageModelInput
from langchain_core.messages import (
    AIMessage,
    AIMessageChunk,
    BaseMessage,
    ToolCall,
    ToolCallChunk,
)
from langchain_core.messages.ai import UsageMetadata
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from langchain_core.runnables import Runnable
from langchain_core.tools import BaseTool
from langchain_core.utils.function_calling import convert_to_openai_tool
from pydantic import Field, PrivateAttr

__all__ = ["ScriptedChatModel", "Step", "count_tokens", "sample_from_schema"]

Step = str | AIMessage | BaseException | Callable[[list[BaseMessage]], "str | AIMessage"]
"""One scripted turn: a reply text, a whole message, an exception to raise, or a function."""

_LABEL_RE = re.compile(r"\[(answer_\d+)\]")


def count_tokens(text: str) -> int:
    """A deterministic token count for fakes: one token per whitespace-separated word."""
    return len(text.split())


class ScriptedChatModel(BaseChatModel):
    """A chat model that follows a script: the public fake of ``fusion_graph.testing``.

    Each call takes the next step of ``script`` (cycling when ``cycle`` is set, else repeating the
    last step). A step is a reply text, an ``AIMessage`` (tool calls included), an exception to raise,
    or a function of the messages. Usage metadata counts one token per word unless ``usage`` fixes
    it. ``bind_tools`` works; when a tool is forced (as ``with_structured_output`` does), the call is
    answered with ``structured`` (a dict or a function of the schema and messages) or, by default, a
    value generated from the tool's JSON schema.

    Example:
        >>> model = ScriptedChatModel(script=["Paris", RuntimeError("down")], latency=0.01)
        >>> model.invoke("Capital of France?").content
        'Paris'
    """

    script: list[Any] = Field(default_factory=lambda: ["ok"])
    """The steps, in order (see :data:`Step`)."""
    cycle: bool = False
    """Cycle through the script instead of repeating its last step."""
    latency: float = 0.0
    """Seconds each call takes."""
    usage: tuple[int, int] | None = None
    """Fixed (input, output) tokens per call; else counted per word."""
    structured: Any = None
    """Arguments for a forced tool call: a dict, or ``f(tool_schema, messages) -> dict``."""
    model_name: str = "scripted"
    """The name reported in response metadata."""
    chunk_size: int = 1
    """Words per streamed chunk."""

    _calls: list[list[BaseMessage]] = PrivateAttr(default_factory=list)
    _kwargs: list[dict[str, Any]] = PrivateAttr(default_factory=list)

    @property
    def _llm_type(self) -> str:
        return "scripted-fake"

    @property
    def calls(self) -> list[list[BaseMessage]]:
        """The messages of every call received so far."""
        return self._calls

    @property
    def call_kwargs(self) -> list[dict[str, Any]]:
        """The keyword arguments (tools, tool_choice, …) of every call received so far."""
        return self._kwargs

    def bind_tools(
        self,
        tools: Sequence[dict[str, Any] | type | Callable[..., Any] | BaseTool],
        *,
        tool_choice: str | dict[str, Any] | bool | None = None,
        **kwargs: Any,
    ) -> Runnable[LanguageModelInput, AIMessage]:
        """Bind tools (in OpenAI format) and an optional forced choice."""
        formatted = [convert_to_openai_tool(tool) for tool in tools]
        if tool_choice is not None:
            kwargs["tool_choice"] = tool_choice
        return self.bind(tools=formatted, **kwargs)

    def _next_message(self, messages: list[BaseMessage], kwargs: dict[str, Any]) -> AIMessage:
        index = len(self._calls)
        self._calls.append(list(messages))
        self._kwargs.append(dict(kwargs))
        forced = _forced_tool(kwargs)
        if forced is not None:
            args: Any = self.structured
            if callable(args):
                args = args(forced, messages)
            if args is None:
                args = sample_from_schema(forced["function"].get("parameters", {}), messages)
            call = ToolCall(name=forced["function"]["name"], args=args, id=_call_id(), type="tool_call")
            message = AIMessage(content="", tool_calls=[call])
        else:
            if not self.script:
                raise ValueError("ScriptedChatModel.script is empty; give it at least one step")
            step = self.script[index % len(self.script)] if self.cycle else self.script[
                min(index, len(self.script) - 1)
            ]
            if isinstance(step, BaseException):
                raise step
            if callable(step):
                step = step(list(messages))
            if not isinstance(step, str | AIMessage):
                raise TypeError(f"script step {index} gave {type(step).__name__}, not str or AIMessage")
            message = step.model_copy() if isinstance(step, AIMessage) else AIMessage(content=step)
        prompt = " ".join(str(m.content) for m in messages)
        text = message.text + json.dumps([c["args"] for c in message.tool_calls])
        inp, out = self.usage or (count_tokens(prompt), count_tokens(text) if message.tool_calls
                                  else count_tokens(message.text))
        message.usage_metadata = UsageMetadata(input_tokens=inp, output_tokens=out,
                                               total_tokens=inp + out)
        message.response_metadata = {"model_name": self.model_name, "finish_reason": "stop"}
        return message

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        if self.latency:
            time.sleep(self.latency)
        return ChatResult(generations=[ChatGeneration(message=self._next_message(messages, kwargs))])

    async def _agenerate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        if self.latency:
            await asyncio.sleep(self.latency)
        return ChatResult(generations=[ChatGeneration(message=self._next_message(messages, kwargs))])

    def _chunks(self, message: AIMessage) -> Iterator[AIMessageChunk]:
        words = re.split(r"(?<=\s)", message.text) if message.text else []
        for start in range(0, len(words), max(1, self.chunk_size)):
            yield AIMessageChunk(content="".join(words[start : start + self.chunk_size]),
                                 id=message.id)
        chunks = [
            ToolCallChunk(name=c["name"], args=json.dumps(c["args"]), id=c["id"], index=i,
                          type="tool_call_chunk")
            for i, c in enumerate(message.tool_calls)
        ]
        yield AIMessageChunk(
            content="",
            tool_call_chunks=chunks,
            usage_metadata=message.usage_metadata,
            response_metadata=message.response_metadata,
            chunk_position="last",
            id=message.id,
        )

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        if self.latency:
            time.sleep(self.latency)
        for chunk in self._chunks(self._next_message(messages, kwargs)):
            if run_manager and isinstance(chunk.content, str):
                run_manager.on_llm_new_token(chunk.content, chunk=ChatGenerationChunk(message=chunk))
            yield ChatGenerationChunk(message=chunk)

    async def _astream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> AsyncIterator[ChatGenerationChunk]:
        if self.latency:
            await asyncio.sleep(self.latency)
        for chunk in self._chunks(self._next_message(messages, kwargs)):
            if run_manager and isinstance(chunk.content, str):
                await run_manager.on_llm_new_token(
                    chunk.content, chunk=ChatGenerationChunk(message=chunk)
                )
            yield ChatGenerationChunk(message=chunk)


def _call_id() -> str:
    return f"call_{uuid.uuid4().hex[:12]}"


def _forced_tool(kwargs: dict[str, Any]) -> dict[str, Any] | None:
    """The tool a call is forced to use, if any."""
    tools: list[dict[str, Any]] = kwargs.get("tools") or []
    choice = kwargs.get("tool_choice")
    if not tools or choice in (None, False, "auto", "none"):
        return None
    if isinstance(choice, dict):
        choice = cast(dict[str, Any], choice).get("function", {}).get("name")
    if isinstance(choice, str):
        for tool in tools:
            if tool["function"]["name"] == choice:
                return tool
    return tools[0]


def sample_from_schema(schema: dict[str, Any], messages: Sequence[BaseMessage] = ()) -> Any:
    """A value valid against a JSON schema, picking candidate labels seen in the messages.

    Strings named like a label (``winner``, ``label``) take the first ``[answer_N]`` label in the
    messages; lists get one item per label for objects that have a label field.
    """
    labels = _LABEL_RE.findall(" ".join(str(m.content) for m in messages)) or ["answer_1"]
    defs = schema.get("$defs", {})

    def build(node: dict[str, Any], key: str = "") -> Any:
        if "$ref" in node:
            return build(defs[node["$ref"].rsplit("/", 1)[-1]], key)
        for combo in ("anyOf", "oneOf", "allOf"):
            if combo in node:
                options = [o for o in node[combo] if o.get("type") != "null"] or node[combo]
                return build(options[0], key)
        if "enum" in node:
            return node["enum"][0]
        if "const" in node:
            return node["const"]
        kind = node.get("type", "object")
        if kind == "object":
            props: dict[str, Any] = node.get("properties", {})
            return {name: build(sub, name) for name, sub in props.items()}
        if kind == "array":
            item = node.get("items", {})
            resolved = defs.get(item.get("$ref", "#/").rsplit("/", 1)[-1], item)
            if "label" in resolved.get("properties", {}):
                return [dict(build(item), label=label) for label in labels]
            return [build(item, key)]
        if kind == "integer":
            return max(node.get("minimum", 0), min(node.get("maximum", 7), 7))
        if kind == "number":
            return float(max(node.get("minimum", 0), min(node.get("maximum", 7), 7)))
        if kind == "boolean":
            return True
        if key in ("winner", "label"):
            return labels[0]
        return f"scripted {key or 'text'}"

    return consistent_verdict(build(schema))


def consistent_verdict(value: Any) -> Any:
    """Give a generated best-of verdict's winner the top score (9, the others 5), as a judge would.

    Anything that is not a verdict with a winner and per-label scores is returned unchanged.
    """
    if not isinstance(value, dict) or "winner" not in value or not isinstance(value.get("scores"), list):
        return value
    scores = [
        {**score, "score": 9 if score.get("label") == value["winner"] else 5}
        if isinstance(score, dict) and "label" in score
        else score
        for score in value["scores"]
    ]
    return {**value, "scores": scores}
