"""``FusionMiddleware``: a LangChain v1 agent that fuses only the steps that need it.

An agent built with ``langchain.agents.create_agent`` calls its model once per step. With this
middleware in its ``middleware`` list, a step is either the agent's own model call, unchanged, or a
fusion: the pool answers the same request (same messages, same tools), the judge decides, and the
agent gets one message whose tool calls it runs once each. ``when`` decides which steps are fused:

- ``"always"``: every step is a fusion; the agent's own model is not called.
- ``"final"``: the agent's own model answers; when it answers without tool calls (a final answer),
  that answer is dropped and the step is asked again of the pool and fused.
- ``"tools"``: the agent's own model answers; when its answer calls tools, the step is fused.
- ``"disagree"``: the agent's own model and one member of the pool (the second opinion) answer
  together; only when their answers differ (``fusion_graph.answers``: same tool calls, or the same
  final answer) does the full fusion run.
- a callable ``(ModelRequest) -> bool``, asked before any model call: ``True`` fuses the step.

A step that is not fused costs exactly the agent's own model call (plus the second opinion's, with
``"disagree"``). With ``"final"``, ``"tools"`` and ``"disagree"`` the agent's own answer may be
dropped, so it does not stream token by token: it reaches the agent's ``messages`` stream once,
whole, when the step ends, as a fused answer does. The fusion runs apart from the agent's run (its
callbacks, stream and checkpointer do not see the members and judges), so the agent's stream shows
the fused message only; the members' and judges' usage, ``decided_by`` and the candidates are in the
message's ``response_metadata["fusion"]``, and what the step cost is in its ``usage_metadata``.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
from collections.abc import Awaitable, Callable, Coroutine, Iterator, Sequence
from typing import Any, Literal, TypeVar, cast, get_args

from langchain.agents.middleware import AgentMiddleware, AgentState, ModelRequest, ModelResponse
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.messages.ai import UsageMetadata, add_usage
from langchain_core.runnables.config import var_child_runnable_config
from langgraph.constants import TAG_NOSTREAM

from fusion_graph._sync import run_sync, start_sync
from fusion_graph.answers import extract_answer
from fusion_graph.chat_model import FusionChatModel
from fusion_graph.config import FusionConfig
from fusion_graph.errors import ConfigError

__all__ = ["FusionMiddleware", "When"]

logger = logging.getLogger(__name__)

T = TypeVar("T")

WhenName = Literal["always", "final", "tools", "disagree"]
When = WhenName | Callable[[ModelRequest[Any]], bool]
"""Which steps a :class:`FusionMiddleware` fuses (see the module docstring)."""

_WHEN_NAMES: tuple[str, ...] = get_args(WhenName)

_Handler = Callable[[ModelRequest[Any]], ModelResponse[Any]]
_AsyncHandler = Callable[[ModelRequest[Any]], Awaitable[ModelResponse[Any]]]


class FusionMiddleware(AgentMiddleware[AgentState[Any], Any, Any]):
    """Fuse some steps of a LangChain v1 agent: the pool answers, the judge decides.

    A fused step hands the pool the agent's request as it stands (system prompt, messages, the
    tools in ``request.tools`` with ``request.tool_choice``, so ``ToolRegistry`` and MCP tools work
    unchanged, adapted to each provider by its profile) through a :class:`FusionChatModel`. Tool
    calls come back unexecuted: the members' agreed calls or the judge's pick, one set, which the
    agent runs once each.

    Order in ``middleware=[...]``: the first middleware is the outermost and wraps the ones after
    it. Middleware listed *after* this one (inner) wraps the agent's own model call only, e.g.
    ``ModelFallbackMiddleware`` gives the agent's model fallbacks; middleware listed *before* it
    (outer) sees the whole step, fused or not, e.g. a retry around it retries the fusion.
    ``before_model`` / ``after_model`` middleware (``SummarizationMiddleware``,
    ``ModelCallLimitMiddleware``, ``HumanInTheLoopMiddleware``) runs around the step whatever the
    order: a fused step is one model call to them.

    A step whose request has a ``response_format`` (structured output) is not fused yet: it goes
    to the agent's own model, with a warning logged once.

    Example:
        >>> from langchain.agents import create_agent
        >>> agent = create_agent(
        ...     "openai:gpt-4.1-mini", tools, middleware=[FusionMiddleware(config, when="final")]
        ... )
        >>> out = await agent.ainvoke({"messages": [("user", "Plan the trip.")]})
        >>> out["messages"][-1].response_metadata["fusion"]["decided_by"]
    """

    def __init__(
        self,
        config: FusionConfig,
        /,
        *,
        when: When = "final",
        second_opinion: str | None = None,
        cache: Any = None,
        cache_policy: Any = None,
    ) -> None:
        """Check the settings and prepare the fusion (models are resolved on the first fused step).

        Args:
            config: The pool, the judge and the mode of every fused step.
            when: Which steps to fuse: ``"always"``, ``"final"``, ``"tools"``, ``"disagree"`` or a
                callable ``(ModelRequest) -> bool`` asked before the step (one that raises is
                logged and the step is not fused).
            second_opinion: With ``"disagree"``: the pool member that answers next to the agent's
                model (by default the first member).
            cache: A LangGraph cache (``InMemoryCache``, ``SqliteCache``, …): a fused step whose
                conversation, config and tools were fused before returns the stored answer, with 0
                tokens (see ``Fusion(cache=)``).
            cache_policy: The cache's ``CachePolicy`` (``ttl`` in seconds).

        Raises:
            ConfigError: ``config`` is not a ``FusionConfig``, ``when`` is unknown,
                ``second_opinion`` names no member, or ``cache`` is not a LangGraph cache.
        """
        super().__init__()
        if not isinstance(config, FusionConfig):
            raise ConfigError(
                "config",
                "FusionMiddleware needs a FusionConfig",
                "pass FusionMiddleware(FusionConfig(pool=[...]))",
            )
        if not callable(when) and when not in _WHEN_NAMES:
            raise ConfigError(
                "when",
                f"unknown when={when!r}",
                f"use one of {', '.join(map(repr, _WHEN_NAMES))}, or a callable (ModelRequest) -> bool",
            )
        self.config = config
        self.when: When = when
        # The one place the middleware makes its fusions.
        if cache is None and cache_policy is None:
            self.model = FusionChatModel(config)
        else:
            self.model = FusionChatModel(config, cache=cache, cache_policy=cache_policy)
        self.second_opinion: FusionChatModel | None = None
        if when == "disagree":
            self.second_opinion = FusionChatModel(_second_opinion_config(config, second_opinion))
        elif second_opinion is not None:
            raise ConfigError(
                "second_opinion",
                f"a second opinion is only asked with when='disagree', not when={when!r}",
                "drop second_opinion, or set when='disagree'",
            )
        self._warned_format = False

    # ------------------------------------------------------------------------------------- hooks

    async def awrap_model_call(
        self, request: ModelRequest[Any], handler: _AsyncHandler
    ) -> ModelResponse[Any]:
        """Run one step: the agent's own model call, or a fusion (see the class docstring)."""
        plan = self._plan(request)
        if plan == "own":
            return await handler(request)
        if plan == "fuse":
            return await self._afuse(request, "always" if self.when == "always" else "asked", ())
        second: asyncio.Task[AIMessage] | None = None
        if self.second_opinion is not None:
            second = asyncio.create_task(
                self._ask(self.second_opinion, request), context=contextvars.Context()
            )
        try:
            with _unstreamed():
                own = await handler(request)
            opinion = await _settled(second) if second is not None else None
        finally:
            if second is not None and not second.done():
                second.cancel()
        return await self._after(own, opinion, lambda reason, spent: self._afuse(request, reason, spent))

    def wrap_model_call(self, request: ModelRequest[Any], handler: _Handler) -> ModelResponse[Any]:
        """The sync step: as :meth:`awrap_model_call`, the fusion on the library's background loop."""
        plan = self._plan(request)
        if plan == "own":
            return handler(request)
        if plan == "fuse":
            return run_sync(self._afuse(request, "always" if self.when == "always" else "asked", ()))
        second = None
        if self.second_opinion is not None:
            second = start_sync(_detached(self._ask(self.second_opinion, request)))
        try:
            with _unstreamed():
                own = handler(request)
            opinion: AIMessage | Exception | None = None
            if second is not None:
                try:
                    opinion = second.result()
                except Exception as exc:  # the second opinion's failure: the step is fused instead
                    opinion = exc
        finally:
            if second is not None:
                second.cancel()
        return run_sync(self._after(own, opinion, lambda reason, spent: self._afuse(request, reason, spent)))

    # ------------------------------------------------------------------------------------ parts

    def _plan(self, request: ModelRequest[Any]) -> Literal["own", "fuse", "after"]:
        """What the step does before any model call: the own model only, a fusion, or wait and see."""
        if request.response_format is not None:
            if not self._warned_format:
                self._warned_format = True
                logger.warning(
                    "FusionMiddleware: steps with a response_format (structured output) are not fused "
                    "yet; the agent's own model answers them"
                )
            return "own"
        when = self.when
        if when == "always":
            return "fuse"
        if callable(when):
            try:
                return "fuse" if when(request) else "own"
            except Exception:
                logger.warning(
                    "FusionMiddleware: the when= callable raised; this step is not fused", exc_info=True
                )
                return "own"
        return "after"

    async def _after(
        self,
        own: ModelResponse[Any],
        opinion: AIMessage | Exception | None,
        fuse: Callable[[str, Sequence[AIMessage]], Coroutine[Any, Any, ModelResponse[Any]]],
    ) -> ModelResponse[Any]:
        """Given the agent's own answer (and the second opinion), keep it or fuse the step."""
        answer = _last_answer(own.result)
        if answer is None:  # nothing to judge (e.g. a middleware answered with no AIMessage)
            return own
        if self.when == "final" and not answer.tool_calls:
            return await fuse("final answer", [answer])
        if self.when == "tools" and answer.tool_calls:
            return await fuse("tool calls", [answer])
        if opinion is None:
            return own
        if isinstance(opinion, Exception):
            logger.warning("FusionMiddleware: the second opinion failed (%r); fusing the step", opinion)
            return await fuse("second opinion failed", [answer])
        if not _same_answer(answer, opinion, self.config.answer_format):
            return await fuse("disagreed", [answer, opinion])
        step = {"when": "disagree", "fused": False, "reason": "agreed", "second_opinion": _summary(opinion)}
        kept = _with_spent(answer, [opinion], step)
        return ModelResponse(
            result=[kept if m is answer else m for m in own.result],
            structured_response=own.structured_response,
        )

    async def _afuse(
        self, request: ModelRequest[Any], reason: str, spent: Sequence[AIMessage]
    ) -> ModelResponse[Any]:
        """The step as a fusion, apart from the agent's run; ``spent``: the calls it replaces."""
        fused = await _detached(self._ask(self.model, request))
        step: dict[str, Any] = {"when": _when_label(self.when), "fused": True, "reason": reason}
        if spent:
            step["dropped"] = [_summary(m) for m in spent]
        return ModelResponse(result=[_with_spent(fused, spent, step)])

    @staticmethod
    async def _ask(model: FusionChatModel, request: ModelRequest[Any]) -> AIMessage:
        """One fusion of the request: its messages, its tools and tool choice."""
        messages: list[BaseMessage] = list(request.messages)
        if request.system_message is not None:
            messages.insert(0, request.system_message)
        bound = model.bind_tools(request.tools, tool_choice=request.tool_choice) if request.tools else model
        return cast(AIMessage, await bound.ainvoke(messages))


def _second_opinion_config(config: FusionConfig, name: str | None) -> FusionConfig:
    """A one-member fusion of the second opinion: one answer, no judge call."""
    try:
        member = config.pool[0] if name is None else config.member(name)
    except ConfigError as exc:
        raise ConfigError("second_opinion", exc.problem, exc.fix) from exc
    return config.replace(
        pool=[member.model_copy(update={"samples": 1})],
        mode="best-of",
        rounds=1,
        scouts=None,
        min_answers=None,
        judge_swap=False,
    )


async def _settled(task: asyncio.Task[AIMessage]) -> AIMessage | Exception:
    """The task's answer, or the exception it failed with (a cancellation still propagates)."""
    try:
        return await task
    except Exception as exc:
        return exc


async def _detached(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run ``coroutine`` in a fresh context: no parent run config, callbacks or graph around it.

    The agent's run keeps its config (and its stream handler) in context variables; a fusion
    started inside a step would otherwise report every member's tokens to the agent's ``messages``
    stream and act as a subgraph of the agent's graph.
    """
    return await asyncio.create_task(coroutine, context=contextvars.Context())


@contextlib.contextmanager
def _unstreamed() -> Iterator[None]:
    """Model calls made inside do not stream to the agent's ``messages`` stream (tag ``nostream``).

    The step's message still reaches the stream once, whole, when the model node ends.
    """
    config = var_child_runnable_config.get()
    if config is None:
        yield
        return
    token = var_child_runnable_config.set({**config, "tags": [*config.get("tags", []), TAG_NOSTREAM]})
    try:
        yield
    finally:
        var_child_runnable_config.reset(token)


def _last_answer(messages: Sequence[BaseMessage]) -> AIMessage | None:
    for message in reversed(messages):
        if isinstance(message, AIMessage):
            return message
    return None


def _same_answer(a: AIMessage, b: AIMessage, answer_format: Any) -> bool:
    """Whether two answers agree: the same tool calls, or the same final answer.

    Answers with tool calls compare as tool calls (``answer_format="tool_call"``); text answers by
    the config's ``answer_format``. Free text with no comparable answer agrees only when it is the
    same text, spaces and case aside.
    """
    fmt = "tool_call" if (a.tool_calls or b.tool_calls) else answer_format
    try:
        keys = [extract_answer(m.text, m.tool_calls, answer_format=fmt) for m in (a, b)]
    except Exception:  # a user's answer_format callable: logged, counted as a disagreement
        logger.warning("FusionMiddleware: answer_format raised; counting it as a disagreement", exc_info=True)
        return False
    if keys[0] is not None or keys[1] is not None:
        return keys[0] == keys[1]
    return " ".join(a.text.lower().split()) == " ".join(b.text.lower().split())


def _summary(message: AIMessage) -> dict[str, Any]:
    """A dropped answer, for the step's metadata."""
    return {
        "content": message.text,
        "tool_calls": [{"name": c["name"], "args": c["args"]} for c in message.tool_calls],
        "usage": dict(message.usage_metadata or {}),
    }


def _with_spent(message: AIMessage, spent: Sequence[AIMessage], step: dict[str, Any]) -> AIMessage:
    """``message`` whose usage counts the ``spent`` calls too, with the step's story in its metadata."""
    usage: UsageMetadata | None = message.usage_metadata
    for other in spent:
        if other.usage_metadata is not None:
            usage = other.usage_metadata if usage is None else add_usage(usage, other.usage_metadata)
    metadata = {**message.response_metadata, "fusion_step": step}
    return message.model_copy(update={"usage_metadata": usage, "response_metadata": metadata})


def _when_label(when: When) -> str:
    return when if isinstance(when, str) else "callable"
