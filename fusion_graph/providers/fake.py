"""The ``fake:`` provider: a scripted chat model (replies, tool calls, usage, latency, failures).

It answers forced tool calls (structured output) with values from the schema.

``fake:NAME`` specs resolve to :class:`ScriptedChatModel` answering ``NAME``; the test kit
(:mod:`fusion_graph.testing`) exports the same class for unit tests of logic.
"""

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

from fusion_graph.providers.schema_examples import sample_from_schema

__all__ = ["ScriptedChatModel", "Step", "count_tokens"]

Step = str | AIMessage | BaseException | Callable[[list[BaseMessage]], "str | AIMessage"]
"""One scripted turn: a reply text, a whole message, an exception to raise, or a function."""


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
            step = (
                self.script[index % len(self.script)]
                if self.cycle
                else self.script[min(index, len(self.script) - 1)]
            )
            if isinstance(step, BaseException):
                raise step
            if callable(step):
                step = step(list(messages))
            if not isinstance(step, str | AIMessage):
                raise TypeError(f"script step {index} gave {type(step).__name__}, not str or AIMessage")
            message = step.model_copy() if isinstance(step, AIMessage) else AIMessage(content=step)
        prompt = " ".join(str(m.content) for m in messages)
        text = message.text + json.dumps([c["args"] for c in message.tool_calls])
        inp, out = self.usage or (
            count_tokens(prompt),
            count_tokens(text) if message.tool_calls else count_tokens(message.text),
        )
        message.usage_metadata = UsageMetadata(input_tokens=inp, output_tokens=out, total_tokens=inp + out)
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
            yield AIMessageChunk(content="".join(words[start : start + self.chunk_size]), id=message.id)
        chunks = [
            ToolCallChunk(
                name=c["name"], args=json.dumps(c["args"]), id=c["id"], index=i, type="tool_call_chunk"
            )
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
                await run_manager.on_llm_new_token(chunk.content, chunk=ChatGenerationChunk(message=chunk))
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
