"""Run fusions: ``fuse()`` for one call, :class:`Fusion` to compile once and run many."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any

from langchain_core.messages import AIMessage, AnyMessage, BaseMessage, HumanMessage
from langchain_core.messages.utils import convert_to_messages
from langchain_core.runnables import RunnableConfig
from langchain_core.tools import BaseTool
from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.graph.state import CompiledStateGraph
from langgraph.types import StreamMode

from fusion_graph._runtime import FusionRuntime, ToolSource, build_runtime
from fusion_graph.config import FusionConfig
from fusion_graph.errors import ConfigError
from fusion_graph.graph import build_graph
from fusion_graph.result import FusionResult

__all__ = ["Fusion", "PromptInput", "fuse", "to_messages"]

PromptInput = str | Sequence[BaseMessage | tuple[str, str] | dict[str, Any]]


def to_messages(prompt: PromptInput) -> list[AnyMessage]:
    """A prompt string or a conversation, as LangChain messages.

    Raises:
        ConfigError: The prompt is empty or not a conversation.
    """
    if isinstance(prompt, str):
        if not prompt.strip():
            raise ConfigError("prompt", "the prompt is empty", "pass some text or messages")
        return [HumanMessage(prompt)]
    try:
        messages = convert_to_messages(list(prompt))
    except (ValueError, TypeError, NotImplementedError) as exc:
        raise ConfigError(
            "prompt", f"not a conversation: {exc}", "pass a string or a list of messages"
        ) from exc
    if not messages:
        raise ConfigError("prompt", "the conversation is empty", "pass at least one message")
    return messages  # type: ignore[return-value]


class Fusion:
    """A compiled fusion, reusable across many prompts (and many concurrent runs).

    Example:
        >>> fusion = Fusion(config)
        >>> result = await fusion.run("Is 1001 prime?")
    """

    def __init__(
        self,
        config: FusionConfig,
        *,
        tools: ToolSource | Sequence[BaseTool | Callable[..., Any]] | None = None,
        checkpointer: BaseCheckpointSaver[Any] | None = None,
        runtime: FusionRuntime | None = None,
    ) -> None:
        """Resolve the models and compile the graph.

        Raises:
            ConfigError: A model cannot be resolved.
        """
        self.config = config
        self.runtime = runtime or build_runtime(config, tools)
        self.graph: CompiledStateGraph[Any, Any, Any, Any] = build_graph(self.runtime).compile(
            checkpointer=checkpointer, name="fusion"
        )
        self._judge_member = config.judge_member()

    def _run_config(self, thread_id: str | None, config: RunnableConfig | None) -> RunnableConfig:
        run: RunnableConfig = dict(config or {})  # type: ignore[assignment]
        if thread_id is not None or self.graph.checkpointer is not None:
            configurable = dict(run.get("configurable", {}))
            configurable.setdefault("thread_id", thread_id or uuid.uuid4().hex)
            run["configurable"] = configurable
        return run

    def result(self, state: dict[str, Any]) -> FusionResult:
        """The public result of a finished state."""
        return FusionResult.from_state(state, self.config.mode, self._judge_member)

    async def run(
        self,
        prompt: PromptInput,
        *,
        thread_id: str | None = None,
        config: RunnableConfig | None = None,
    ) -> FusionResult:
        """Fuse the pool's answers to a prompt.

        With a checkpointer and a ``thread_id`` whose fusion already finished, the stored result
        comes back without calling any model; one that was interrupted resumes where it stopped.

        Raises:
            AllMembersFailed: No member answered.
            JudgeFailed: No judge decided and the judge-free fallback is off.
        """
        messages = to_messages(prompt)
        run_config = self._run_config(thread_id, config)
        inputs: dict[str, Any] | None = {"messages": messages}
        if thread_id is not None:
            thread = await self.thread_state(run_config, messages)
            if thread == "finished":
                return self.result((await self.graph.aget_state(run_config)).values)
            if thread == "interrupted":
                inputs = None
        async with self.tools_open():
            state = await self.graph.ainvoke(inputs, run_config)
        return self.result(state)

    async def thread_state(self, run_config: RunnableConfig, messages: Sequence[BaseMessage]) -> str:
        """Where a thread stands for this prompt: ``new``, ``finished`` or ``interrupted``.

        A thread whose last message is a fused answer to the same prompt is ``finished``; one whose
        last message is not a fused answer was cut short (a crash, a kill) and is ``interrupted``,
        whatever LangGraph's ``next`` says (it leaves out tasks that already wrote); a finished
        thread given a new prompt takes it as the conversation's next turn (``new``).

        Raises:
            ConfigError: A thread id was given but the fusion has no checkpointer.
        """
        if self.graph.checkpointer is None:
            raise ConfigError(
                "thread_id",
                "a thread needs a checkpointer to be saved and resumed",
                "pass checkpointer=InMemorySaver() or AsyncSqliteSaver(...), or drop thread_id",
            )
        snapshot = await self.graph.aget_state(run_config)
        stored: list[BaseMessage] = list(snapshot.values.get("messages", []))
        if not stored:
            return "new"
        last = stored[-1]
        if not (isinstance(last, AIMessage) and last.name == "fusion"):
            return "interrupted"
        asked = [m for m in stored if isinstance(m, HumanMessage)]
        wanted = [m for m in messages if isinstance(m, HumanMessage)]
        same = bool(asked and wanted) and asked[-1].content == wanted[-1].content
        return "finished" if same and snapshot.values.get("answer") is not None else "new"

    @contextlib.asynccontextmanager
    async def tools_open(self) -> AsyncIterator[None]:
        """Hold the tool registry open for a run (``async with registry``, reference-counted).

        A ``ToolRegistry`` counts its users: the first run (or the caller's own ``async with``)
        connects the servers, concurrent runs share that opening and the last one out closes
        it, so runs never close the registry under each other.
        """
        tools = self.runtime.tools
        if isinstance(tools, contextlib.AbstractAsyncContextManager):
            async with tools:
                yield
        else:
            yield

    async def stream(
        self,
        prompt: PromptInput,
        *,
        thread_id: str | None = None,
        stream_mode: Sequence[StreamMode] = ("updates", "custom"),
    ) -> AsyncIterator[tuple[str, Any]]:
        """Stream ``(mode, chunk)`` pairs; ``custom`` chunks are :mod:`fusion_graph.events`.

        With a checkpointer and the ``thread_id`` of an interrupted fusion, it resumes that fusion
        (the prompt is then not used) instead of starting a new one.
        """
        run_config = self._run_config(thread_id, None)
        messages = to_messages(prompt)
        inputs: dict[str, Any] | None = {"messages": messages}
        if thread_id is not None and await self.thread_state(run_config, messages) == "interrupted":
            inputs = None
        async with self.tools_open():
            async for mode, chunk in self.graph.astream(inputs, run_config, stream_mode=list(stream_mode)):
                yield mode, chunk


async def fuse(
    prompt: PromptInput,
    config: FusionConfig,
    *,
    tools: ToolSource | Sequence[BaseTool | Callable[..., Any]] | None = None,
    checkpointer: BaseCheckpointSaver[Any] | None = None,
    thread_id: str | None = None,
) -> FusionResult:
    """Run one fusion: the pool answers in parallel, the judge fuses.

    Args:
        prompt: A string or a conversation (LangChain messages, ``(role, text)`` pairs or dicts).
        config: The pool, the judge and the mode.
        tools: A ``ToolRegistry`` or a list of tools every member may call.
        checkpointer: Optional checkpointer (e.g. ``AsyncSqliteSaver``) to persist the run.
        thread_id: The run's thread; with a checkpointer, re-running a finished one returns the
            stored result.

    Returns:
        The fused answer with every candidate, the verdict and the usage.

    Raises:
        ConfigError: Invalid config or prompt.
        AllMembersFailed: No member answered.
        JudgeFailed: No judge decided and ``judge_free_fallback`` is off.

    Example:
        >>> result = await fuse("Is 1001 prime? Explain briefly.", config)
        >>> print(result.answer)
    """
    return await Fusion(config, tools=tools, checkpointer=checkpointer).run(prompt, thread_id=thread_id)
