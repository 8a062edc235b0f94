"""Run fusions: ``fuse()`` for one call, :class:`Fusion` to compile once and run many."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any

from langchain_core.messages import AIMessageChunk, AnyMessage, BaseMessage, HumanMessage, ToolCallChunk
from langchain_core.messages.utils import convert_to_messages
from langchain_core.runnables import RunnableConfig
from langchain_core.tools import BaseTool
from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.graph.state import CompiledStateGraph
from langgraph.types import StreamMode

from fusion_graph._compiled import FUSE_CACHE_SIZE, FusionCache
from fusion_graph._threads import ThreadPlan, plan_thread
from fusion_graph.config import FusionConfig
from fusion_graph.errors import ConfigError
from fusion_graph.graph import ToolSource, create_fusion_graph
from fusion_graph.graph.nodes.judge import STREAM_ANSWER
from fusion_graph.result import FusionResult

__all__ = [
    "Fusion",
    "PromptInput",
    "ThreadPlan",
    "fuse",
    "stream_answer_config",
    "to_messages",
    "tool_call_chunks",
]

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
        bound_tools: Sequence[dict[str, Any]] | None = None,
        tool_choice: Any = None,
        checkpointer: BaseCheckpointSaver[Any] | None = None,
    ) -> None:
        """Resolve the models and compile the graph.

        Args:
            config: The pool, the judge and the mode.
            tools: Tools the members call and the fusion executes: a ``ToolRegistry`` (each
                member gets the tools it is allowed) or LangChain tools / plain functions.
            bound_tools: OpenAI-format tool schemas the fused answer may call, asked for and not
                executed: the answer's tool calls come back in the result, as a chat model's do
                (what ``FusionChatModel.bind_tools`` and ``fusion serve``'s ``tools`` build).
            tool_choice: The ``tool_choice`` that goes with ``bound_tools``.
            checkpointer: Where threads are kept; without one every run starts from empty state.

        Raises:
            ConfigError: A model cannot be resolved, or ``tools`` are not tools.

        Example:
            >>> fusion = Fusion(config, bound_tools=[convert_to_openai_tool(get_weather)])
        """
        self.config = config
        self.tools = tools
        graph = create_fusion_graph(
            config,
            tools=tools,
            bound_tools=bound_tools,
            tool_choice=tool_choice,
            keeps_state=checkpointer is not None,
        )
        self.graph: CompiledStateGraph[Any, Any, Any, Any] = graph.compile(
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

    async def plan(
        self,
        prompt: PromptInput | None = None,
        *,
        thread_id: str | None = None,
        config: RunnableConfig | None = None,
        history: bool = False,
    ) -> ThreadPlan:
        """Decide what a run does on its thread, without running anything.

        The one rule every entry point follows (``fusion run --thread-id``, ``fusion serve``):
        on a finished thread the same prompt (or none) is its stored result and a new prompt is
        the next turn; an interrupted or failed thread resumes with the same prompt (or none),
        and a different prompt is a :class:`ThreadConflict`. See :mod:`fusion_graph._threads`.

        Args:
            prompt: The new turn (or the whole conversation); ``None`` to resume or read back.
            thread_id: The run's thread (or ``config["configurable"]["thread_id"]``).
            config: A run config to pass on (callbacks, ``configurable``).
            history: The prompt is the whole conversation so far, as OpenAI clients send it:
                only the messages beyond the thread's are appended, and a conversation that does
                not continue the thread's is a :class:`ThreadConflict`.

        Returns:
            The plan: pass it to :meth:`run` or :meth:`stream` to carry it out.

        Raises:
            ConfigError: An empty prompt, or a thread id without a checkpointer.
            ThreadConflict: The prompt does not fit the thread.

        Example:
            >>> plan = await fusion.plan("Is 1001 prime?", thread_id="t")
            >>> plan.action  # "new", "stored", "next" or "resume"
            >>> result = await fusion.run(plan)
        """
        field = "messages" if history else "prompt"
        messages = None if prompt is None else to_messages(prompt)
        run_config = self._run_config(thread_id, config)
        in_config = config is not None and config.get("configurable", {}).get("thread_id") is not None
        named: str | None = None
        if thread_id is not None or (in_config and self.graph.checkpointer is not None):
            named = str(run_config.get("configurable", {})["thread_id"])
        if named is None:
            if messages is None:
                raise ConfigError(field, "the prompt is empty", "pass some text or messages")
            return ThreadPlan("new", messages, config=run_config)
        if self.graph.checkpointer is None:
            raise ConfigError(
                "thread_id",
                "a thread needs a checkpointer to be saved and resumed",
                "pass checkpointer=InMemorySaver() or AsyncSqliteSaver(...), or drop thread_id",
            )
        snapshot = await self.graph.aget_state(run_config)
        plan = plan_thread(snapshot.values, messages, thread_id=named, history=history, field=field)
        return dataclasses.replace(plan, config=run_config, pending=tuple(snapshot.next))

    async def run(
        self,
        prompt: PromptInput | ThreadPlan | None = None,
        *,
        thread_id: str | None = None,
        config: RunnableConfig | None = None,
        history: bool = False,
    ) -> FusionResult:
        """Fuse the pool's answers to a prompt.

        With a checkpointer and a ``thread_id``, the thread decides (see :meth:`plan`): a finished
        thread returns its stored result for the same prompt without calling any model and takes
        a new prompt as the next turn; an interrupted one resumes where it stopped.

        Args:
            prompt: A string, a conversation, ``None`` (resume or read back ``thread_id``), or a
                plan from :meth:`plan` (then the other arguments are not used).
            thread_id: The run's thread (needs a checkpointer).
            config: A run config to pass on.
            history: The prompt is the whole conversation so far (see :meth:`plan`).

        Raises:
            ConfigError: Invalid prompt, or a thread id without a checkpointer.
            ThreadConflict: The prompt does not fit the thread.
            AllMembersFailed: No member answered.
            JudgeFailed: No judge decided and the judge-free fallback is off.
        """
        plan = (
            prompt
            if isinstance(prompt, ThreadPlan)
            else await self.plan(prompt, thread_id=thread_id, config=config, history=history)
        )
        if plan.action == "stored":
            return self.result(plan.values)
        async with self.tools_open():
            state = await self.graph.ainvoke(plan.inputs, plan.config)
        return self.result(state)

    @contextlib.asynccontextmanager
    async def tools_open(self) -> AsyncIterator[None]:
        """Hold the tool registry open for a run (``async with registry``, reference-counted).

        A ``ToolRegistry`` counts its users: the first run (or the caller's own ``async with``)
        connects the servers, concurrent runs share that opening and the last one out closes
        it, so runs never close the registry under each other.
        """
        tools = self.tools
        if isinstance(tools, contextlib.AbstractAsyncContextManager):
            async with tools:
                yield
        else:
            yield

    async def stream(
        self,
        prompt: PromptInput | ThreadPlan | None = None,
        *,
        thread_id: str | None = None,
        stream_mode: Sequence[StreamMode] = ("updates", "custom"),
        config: RunnableConfig | None = None,
        history: bool = False,
    ) -> AsyncIterator[tuple[str, Any]]:
        """Stream ``(mode, chunk)`` pairs; ``custom`` chunks are :mod:`fusion_graph.events`.

        ``messages`` streams the fused answer token by token, as LangGraph's messages mode does
        for a model: ``(AIMessageChunk, metadata)`` pairs, one message id per answer, metadata
        ``{"langgraph_node": "judge", "fusion": "answer", …}``; the last chunk has
        ``chunk_position="last"`` and carries a fused tool-call answer's ``tool_call_chunks``. The
        members' own tokens are not in it (stream ``self.graph`` with ``messages`` for those). The
        run then asks for a streamed answer (``configurable["fusion_stream_answer"]``): a merge
        writes its answer in a second, streamed judge call after a structured analysis, and the
        answer is the text that streamed (see :mod:`fusion_graph.graph.nodes._writer`). Best-of, vote,
        debate and scouts send the picked answer as soon as it is decided.

        On a thread the same rule as :meth:`run` applies: an interrupted fusion resumes, and a
        finished thread asked the same prompt calls no model and streams only its stored state
        (one ``values`` chunk, when ``values`` is among the modes).

        Raises:
            ConfigError: Invalid prompt, or a thread id without a checkpointer.
            ThreadConflict: The prompt does not fit the thread.
        """
        if isinstance(stream_mode, str):  # one mode given as a string: still (mode, chunk) pairs
            stream_mode = (stream_mode,)  # pyright: ignore[reportAssignmentType]
        plan = (
            prompt
            if isinstance(prompt, ThreadPlan)
            else await self.plan(prompt, thread_id=thread_id, config=config, history=history)
        )
        if plan.action == "stored":
            if "values" in stream_mode:
                yield "values", plan.values
            return
        modes: list[StreamMode] = [mode for mode in stream_mode if mode != "messages"]
        custom = "custom" in modes
        run_config, answer = plan.config, None
        if "messages" in stream_mode:  # the answer's tokens, made from its custom events
            run_config = stream_answer_config(plan.config)
            answer = _AnswerMessages(run_config)
            if not custom:
                modes.append("custom")
        async with self.tools_open():
            async for mode, chunk in self.graph.astream(plan.inputs, run_config, stream_mode=modes):
                if answer is not None and mode == "custom" and isinstance(chunk, dict):
                    message = answer.message(chunk)  # pyright: ignore[reportUnknownArgumentType]
                    if message is not None:
                        yield "messages", message
                    if not custom:
                        continue
                yield mode, chunk


def stream_answer_config(config: RunnableConfig | None) -> RunnableConfig:
    """``config`` with ``configurable["fusion_stream_answer"]`` set: the run streams its answer."""
    run: RunnableConfig = dict(config or {})  # type: ignore[assignment]
    run["configurable"] = {**run.get("configurable", {}), STREAM_ANSWER: True}
    return run


def tool_call_chunks(tool_calls: Sequence[Any]) -> list[ToolCallChunk]:
    """A fused answer's tool calls as the ``tool_call_chunks`` of one stream chunk (arguments as JSON)."""
    return [
        ToolCallChunk(
            name=call["name"],
            args=json.dumps(call["args"]),
            id=call.get("id"),
            index=index,
            type="tool_call_chunk",
        )
        for index, call in enumerate(tool_calls)
    ]


class _AnswerMessages:
    """The answer's events as LangGraph ``messages`` pairs: ``(AIMessageChunk, metadata)``."""

    def __init__(self, config: RunnableConfig) -> None:
        self.metadata: dict[str, Any] = {"langgraph_node": "judge", "fusion": "answer"}
        thread_id = config.get("configurable", {}).get("thread_id")
        if thread_id is not None:
            self.metadata["thread_id"] = thread_id
        self.id = f"fusion-{uuid.uuid4().hex}"

    def message(self, event: dict[str, Any]) -> tuple[AIMessageChunk, dict[str, Any]] | None:
        kind = event.get("type")
        if kind == "answer_started":
            self.id = f"fusion-{uuid.uuid4().hex}"  # one id per answer (a fallback starts anew)
            return None
        if kind == "answer_delta":
            return AIMessageChunk(content=event["text"], id=self.id), dict(self.metadata)
        if kind == "answer_finished":
            calls = tool_call_chunks(event.get("tool_calls") or [])
            last = AIMessageChunk(
                content="", id=self.id, tool_call_chunks=calls, chunk_position="last"
            )
            return last, dict(self.metadata)
        return None


async def fuse(
    prompt: PromptInput,
    config: FusionConfig,
    *,
    tools: ToolSource | Sequence[BaseTool | Callable[..., Any]] | None = None,
    checkpointer: BaseCheckpointSaver[Any] | None = None,
    thread_id: str | None = None,
) -> FusionResult:
    """Run one fusion: the pool answers in parallel, the judge fuses.

    The compiled :class:`Fusion` is reused: calls with an equal config and the same tools,
    checkpointer, event loop and environment share one (the 32 most recently used are kept;
    see :mod:`fusion_graph._compiled` for what counts as equal), so a loop of ``fuse()`` calls costs
    what ``Fusion(config).run()`` does. Chat model instances in the config are the caller's: they
    are shared by every run, as they are by a compiled ``Fusion``.

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
    fusion = _FUSIONS.get(
        config, tools, checkpointer, lambda: Fusion(config, tools=tools, checkpointer=checkpointer)
    )
    return await fusion.run(prompt, thread_id=thread_id)


_FUSIONS = FusionCache(FUSE_CACHE_SIZE)
"""The compiled fusions :func:`fuse` reuses (a cache: empty until the first call)."""
