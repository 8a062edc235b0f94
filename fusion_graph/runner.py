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
from langgraph.cache.base import BaseCache
from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.graph.state import CompiledStateGraph
from langgraph.store.base import BaseStore
from langgraph.store.memory import InMemoryStore
from langgraph.types import CachePolicy, Overwrite, StreamMode

from fusion_graph._cache import FusionCache, key_material, member_tools
from fusion_graph._compiled import FUSE_CACHE_SIZE
from fusion_graph._compiled import FusionCache as CompiledFusions
from fusion_graph._threads import ThreadPlan, check_thread_id, plan_thread
from fusion_graph.config import FusionConfig
from fusion_graph.errors import ConfigError, FusionRunError
from fusion_graph.events import AnswerDelta, AnswerFinished, AnswerStarted, FusionEvent, answer_pieces
from fusion_graph.graph import ToolSource, create_fusion_graph
from fusion_graph.graph.nodes.judge import STREAM_ANSWER
from fusion_graph.result import FusionResult
from fusion_graph.structured import ResponseFormat, with_format

__all__ = [
    "CACHED",
    "Fusion",
    "PromptInput",
    "ThreadPlan",
    "fuse",
    "stream_answer_config",
    "to_messages",
    "tool_call_chunks",
]

PromptInput = str | Sequence[BaseMessage | tuple[str, str] | dict[str, Any]]

CACHED = "__fusion_cached__"
"""Marks the state of a cache hit that ``Fusion.run`` / ``Fusion.stream`` hand out (never saved)."""


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
        store: BaseStore | None = None,
        cache: BaseCache[Any] | None = None,
        cache_policy: CachePolicy[Any] | None = None,
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
            store: A LangGraph store for what fusions learn across runs (``learn_reliability``);
                an ``InMemoryStore`` when that is on and none is given.

            cache: A LangGraph cache (``InMemoryCache``, ``SqliteCache``, …): a run whose
                conversation, config and tools are the same as a stored one's returns the stored
                fused result without calling a model (``result.cached``; 0 tokens in ``usage``).
                See :mod:`fusion_graph._cache` for what the key covers, and the docs for threads.
            cache_policy: The cache's ``CachePolicy`` (``ttl`` in seconds; default: no expiry).


        Raises:
            ConfigError: A model cannot be resolved, ``tools`` are not tools, ``store`` is not a
                LangGraph ``BaseStore``, or ``cache`` is not a LangGraph cache.

        Example:
            >>> fusion = Fusion(config, bound_tools=[convert_to_openai_tool(get_weather)])
        """
        self.config = config
        self.tools = tools
        self.cache = FusionCache.of(cache, cache_policy)
        self._bound = (list(bound_tools or []), tool_choice)
        graph = create_fusion_graph(
            config,
            tools=tools,
            bound_tools=bound_tools,
            tool_choice=tool_choice,
            keeps_state=checkpointer is not None,
        )
        if store is not None and not isinstance(store, BaseStore):
            raise ConfigError(
                "store",
                f"a {type(store).__name__} is not a LangGraph store",
                "pass a langgraph.store.base.BaseStore, e.g. InMemoryStore() or a PostgresStore",
            )
        if store is None and config.learn_reliability:
            store = InMemoryStore()
        self.store = store
        self.graph: CompiledStateGraph[Any, Any, Any, Any] = graph.compile(
            checkpointer=checkpointer, store=store, name="fusion"
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
        """The public result of a finished state (a cache hit's, marked ``cached``, counts 0 tokens)."""
        result = FusionResult.from_state(state, self.config.mode, self._judge_member)
        return result.as_cached() if state.get(CACHED) else result

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
            ConfigError: An empty prompt, a thread id that breaks the rule of
                :func:`~fusion_graph._threads.check_thread_id` (1 to 200 ASCII letters, digits and
                ``_ . : @ -``), or a thread id without a checkpointer.
            ThreadConflict: The prompt does not fit the thread.

        Example:
            >>> plan = await fusion.plan("Is 1001 prime?", thread_id="t")
            >>> plan.action  # "new", "stored", "next" or "resume"
            >>> result = await fusion.run(plan)
        """
        field = "messages" if history else "prompt"
        if thread_id is not None:
            check_thread_id(thread_id)
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
        response_format: Any = None,
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
            response_format: Ask for the answer as JSON: OpenAI's ``response_format``
                (``json_schema`` or ``json_object``), a pydantic model class, a ``TypedDict`` or a
                JSON schema (see :mod:`fusion_graph.structured`). Every member answers in the schema,
                the answers are fused field by field, and ``result.answer`` is JSON valid under it.

        Raises:
            ConfigError: Invalid prompt or ``response_format``, or a thread id without a checkpointer.
            ThreadConflict: The prompt does not fit the thread.
            AllMembersFailed: No member answered.
            JudgeFailed: No judge decided and the judge-free fallback is off.
            StructuredOutputError: No answer is valid under ``response_format``.

        Example:
            >>> result = await fusion.run("The capital of France?", response_format=City)
            >>> City.model_validate_json(result.answer)
            FusionRunError: The run paused on an ``interrupt()`` (a tool asking for approval, an MCP
                server asking the user): the message says how to resume it.
        """
        wanted = self.response_format(response_format)
        plan = (
            prompt
            if isinstance(prompt, ThreadPlan)
            else await self.plan(prompt, thread_id=thread_id, config=config, history=history)
        )
        if plan.action == "stored":
            result = self.result(plan.values)
        else:
            async with self.tools_open():
                key, hit = await self._lookup(plan, wanted)
                if hit is not None:
                    result = self.result(await self._replay(plan, hit))
                else:
                    state = await self.graph.ainvoke(plan.inputs, with_format(plan.config, wanted))
                    if "__interrupt__" in state:
                        raise _paused(state["__interrupt__"], plan)
                    if key is not None and self.cache is not None:
                        await self.cache.put(key, state)
                    result = self.result(state)
        if wanted is not None:  # the answer is checked before it is returned, a stored one too
            wanted.check(result.answer)
        return result

    def response_format(self, response_format: Any) -> ResponseFormat | None:
        """Read a run's ``response_format`` (see :meth:`run`); ``None`` asks for plain text.

        Raises:
            ConfigError: It is not a response format, or the fusion has tools (members that call
                tools or bound tools do not answer in a schema yet).
        """
        wanted = ResponseFormat.parse(response_format)
        if wanted is not None and (self.tools is not None or bool(self._bound[0])):
            raise ConfigError(
                "response_format",
                "a fusion with tools cannot answer in a schema yet",
                "ask for the structured answer from a Fusion without tools, or drop response_format",
            )
        return wanted

    def cache_key(
        self, messages: Sequence[BaseMessage], response_format: ResponseFormat | None = None
    ) -> str | None:
        """The cache key of a run on ``messages`` (the whole conversation); None without a cache.

        Call it with the tools open (``async with fusion.tools_open():``): an MCP server's tools are
        known only then, and they are part of the key. A run's ``response_format`` is part of it too.
        """
        if self.cache is None:
            return None
        bound, choice = self._bound
        tools = member_tools(self.tools, self.config.member_names)
        material = key_material(self.config, messages, tools, bound, choice)
        if response_format is not None:
            material["response_format"] = dataclasses.asdict(response_format)
        return self.cache.key(material)

    async def _lookup(
        self, plan: ThreadPlan, response_format: ResponseFormat | None = None
    ) -> tuple[str | None, dict[str, Any] | None]:
        """The cache key of a plan's run and the stored entry on a hit (a resume is never cached)."""
        inputs = plan.inputs
        if self.cache is None or inputs is None:
            return None, None
        key = self.cache_key(inputs["messages"], response_format)
        return key, (await self.cache.get(key) if key is not None else None)

    async def _replay(self, plan: ThreadPlan, hit: dict[str, Any]) -> dict[str, Any]:
        """A hit's state, marked ``cached``; on a thread it is saved as the judge's write.

        The thread then holds the turn as if the fusion had run (the mark is not saved).
        """
        values: dict[str, Any] = dict(hit["values"])
        inputs = plan.inputs or {}
        state = {**values, "messages": [*inputs.get("messages", []), hit["message"]]}
        if self.graph.checkpointer is not None:
            update = {
                **state,
                "candidates": Overwrite(values.get("candidates", [])),
                "judge_calls": Overwrite(values.get("judge_calls", [])),
            }
            await self.graph.aupdate_state(plan.config, update, as_node="judge")
            state = dict((await self.graph.aget_state(plan.config)).values)
        return {**state, CACHED: True}

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
        response_format: Any = None,
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

        With a ``response_format`` (see :meth:`run`) the answer that streams is the fused JSON.

        A cache hit (``cache=``) streams the stored answer's ``answer_*`` events (``custom``), its
        ``messages`` and one ``values`` chunk (marked cached: :meth:`result` reads it as a hit);
        no ``updates``, since no node ran.

        Raises:
            ConfigError: Invalid prompt or ``response_format``, or a thread id without a checkpointer.
            ThreadConflict: The prompt does not fit the thread.
            StructuredOutputError: No answer is valid under ``response_format``.
        """
        wanted = self.response_format(response_format)
        if isinstance(stream_mode, str):  # one mode given as a string: still (mode, chunk) pairs
            stream_mode = (stream_mode,)  # pyright: ignore[reportAssignmentType]
        plan = (
            prompt
            if isinstance(prompt, ThreadPlan)
            else await self.plan(prompt, thread_id=thread_id, config=config, history=history)
        )
        if plan.action == "stored":
            if wanted is not None:  # a stored answer is checked against the format asked for now
                wanted.check(self.result(plan.values).answer)
            if "values" in stream_mode:
                yield "values", plan.values
            return
        modes: list[StreamMode] = [mode for mode in stream_mode if mode != "messages"]
        custom = "custom" in modes
        run_config, answer = with_format(plan.config, wanted), None
        if "messages" in stream_mode:  # the answer's tokens, made from its custom events
            run_config = stream_answer_config(run_config)
            answer = _AnswerMessages(run_config)
            if not custom:
                modes.append("custom")
        async with self.tools_open():
            key, hit = await self._lookup(plan, wanted)
            if hit is not None:  # the stored answer's events, as the judge would have sent them
                state = await self._replay(plan, hit)
                for event in _answer_events(state):
                    if answer is not None and (message := answer.message(dict(event))) is not None:
                        yield "messages", message
                    if custom:
                        yield "custom", event
                if "values" in stream_mode:
                    yield "values", state
                return
            keep = key is not None and "values" not in modes
            final: dict[str, Any] | None = None
            graph_modes: list[StreamMode] = [*modes, "values"] if keep else modes
            async for mode, chunk in self.graph.astream(plan.inputs, run_config, stream_mode=graph_modes):
                if mode == "values" and isinstance(chunk, dict):
                    final = chunk  # pyright: ignore[reportUnknownVariableType]
                    if keep:
                        continue
                if answer is not None and mode == "custom" and isinstance(chunk, dict):
                    message = answer.message(chunk)  # pyright: ignore[reportUnknownArgumentType]
                    if message is not None:
                        yield "messages", message
                    if not custom:
                        continue
                yield mode, chunk
            if key is not None and final is not None and self.cache is not None:
                await self.cache.put(key, final)


def _paused(interrupts: Sequence[Any], plan: ThreadPlan) -> FusionRunError:
    """The error of a run that an ``interrupt()`` paused (a tool asking for approval or input)."""
    asked = "; ".join(
        str(value.get("message") if isinstance(value, dict) and "message" in value else value)
        for value in (getattr(i, "value", i) for i in interrupts)
    )
    thread = plan.thread_id or "?"
    config = f"{{'configurable': {{'thread_id': {thread!r}}}}}"
    return FusionRunError(
        f"the fusion paused for input on thread {thread!r} ({asked}); it has no answer yet: resume it "
        f"with await fusion.graph.ainvoke(Command(resume=answer), {config}), then "
        "fusion.run(thread_id=...) reads the result back"
    )


def _answer_events(state: dict[str, Any]) -> list[FusionEvent]:
    """A stored answer as the judge streams one: started, its pieces, finished with its tool calls."""
    pieces = answer_pieces(state.get("answer") or "")
    calls = list(state.get("answer_tool_calls") or [])
    events: list[FusionEvent] = [AnswerStarted(type="answer_started", source="pick")]
    events += [AnswerDelta(type="answer_delta", text=piece) for piece in pieces]
    events.append(AnswerFinished(type="answer_finished", tool_calls=calls))
    return events


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
            last = AIMessageChunk(content="", id=self.id, tool_call_chunks=calls, chunk_position="last")
            return last, dict(self.metadata)
        return None


async def fuse(
    prompt: PromptInput,
    config: FusionConfig,
    *,
    tools: ToolSource | Sequence[BaseTool | Callable[..., Any]] | None = None,
    checkpointer: BaseCheckpointSaver[Any] | None = None,
    thread_id: str | None = None,
    cache: BaseCache[Any] | None = None,
    cache_policy: CachePolicy[Any] | None = None,
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
        cache: A LangGraph cache of fused results (see :class:`Fusion`).
        cache_policy: Its ``CachePolicy`` (``ttl``).

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
    if cache is not None or cache_policy is not None:  # the caller's own results cache: no reuse
        fusion = Fusion(
            config, tools=tools, checkpointer=checkpointer, cache=cache, cache_policy=cache_policy
        )
    else:
        fusion = _FUSIONS.get(
            config, tools, checkpointer, lambda: Fusion(config, tools=tools, checkpointer=checkpointer)
        )
    return await fusion.run(prompt, thread_id=thread_id)


_FUSIONS = CompiledFusions(FUSE_CACHE_SIZE)
"""The compiled fusions :func:`fuse` reuses (a cache: empty until the first call)."""
