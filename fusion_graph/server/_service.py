"""Runs the served fusions: resolves a request to a compiled fusion (cached), runs it, reads threads."""

from __future__ import annotations

import json
import uuid
from collections import OrderedDict
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from langchain_core.messages import AnyMessage
from langchain_core.utils.function_calling import convert_to_openai_tool
from langgraph.checkpoint.base import BaseCheckpointSaver

from fusion_graph._threads import is_finished
from fusion_graph.config import FusionConfig
from fusion_graph.errors import ConfigError, FusionRunError
from fusion_graph.result import FusionResult
from fusion_graph.runner import Fusion, stream_answer_config
from fusion_graph.server._errors import APIError
from fusion_graph.server._fusions import with_overrides
from fusion_graph.server._schema import ChatRequest, to_langchain_messages
from fusion_graph.structured import ResponseFormat

__all__ = ["FusionService", "PreparedRun"]

_CACHE_SIZE = 64


@dataclass
class PreparedRun:
    """A validated request, ready to run."""

    model: str
    fusion: Fusion
    messages: list[AnyMessage]
    thread_id: str | None
    response_format: ResponseFormat | None = None
    """The answer's JSON format (``response_format``), or ``None`` for plain text."""


class FusionService:
    """The served fusions, compiled once per (fusion, overrides, tools) and shared by requests."""

    def __init__(
        self, fusions: dict[str, FusionConfig], checkpointer: BaseCheckpointSaver[Any] | None
    ) -> None:
        """Keep the fusions; models are resolved (and checked) by :meth:`check`."""
        self.fusions = fusions
        self.checkpointer = checkpointer
        self._compiled: OrderedDict[str, Fusion] = OrderedDict()

    def check(self) -> None:
        """Resolve every fusion's models now, so a bad config stops the server before it serves.

        Raises:
            ConfigError: A fusion names a model that cannot be resolved.
        """
        for name, config in self.fusions.items():
            try:
                self._fusion(name, config, [], None)
            except ConfigError as exc:
                raise ConfigError(f'fusions."{name}".{exc.field}', exc.problem, exc.fix) from exc

    def _fusion(self, name: str, config: FusionConfig, tools: list[dict[str, Any]], choice: Any) -> Fusion:
        key = json.dumps(
            [name, config.mode, config.rounds, config.member_names, tools, choice],
            sort_keys=True,
            default=str,
        )
        fusion = self._compiled.get(key)
        if fusion is None:
            # What FusionChatModel(config).bind_tools(tools, tool_choice=…) builds, plus the
            # server's checkpointer (FusionChatModel has none), so tool requests persist too.
            fusion = Fusion(
                config,
                bound_tools=[convert_to_openai_tool(tool) for tool in tools],
                tool_choice=choice,
                checkpointer=self.checkpointer,
            )
            self._compiled[key] = fusion
            while len(self._compiled) > _CACHE_SIZE:
                self._compiled.popitem(last=False)
        else:
            self._compiled.move_to_end(key)
        return fusion

    def prepare(self, request: ChatRequest) -> PreparedRun:
        """Validate a request against the served fusions.

        Raises:
            APIError: 404 for an unknown model, 400 for an invalid override, message, tool or
                ``response_format`` (one that cannot be honoured: with ``tools``, say).
        """
        base = self.fusions.get(request.model)
        if base is None:
            raise APIError(
                404,
                f"The model {request.model!r} does not exist; served models: {list(self.fusions)}",
                param="model",
                code="model_not_found",
            )
        try:
            config = with_overrides(base, mode=request.mode, rounds=request.rounds, members=request.members)
        except ConfigError as exc:
            raise APIError(400, str(exc), param=exc.field.split(".")[0], code="invalid_value") from exc
        tools, choice = request.bound_tools()
        response_format = _response_format(request, bool(tools))
        messages = to_langchain_messages(request.messages)
        fusion = self._fusion(request.model, config, tools, choice)
        thread_id = request.thread_id
        if thread_id is None and self.checkpointer is not None:
            thread_id = f"fusion-{uuid.uuid4().hex}"
        return PreparedRun(request.model, fusion, messages, thread_id, response_format)

    async def run(self, run: PreparedRun) -> FusionResult:
        """Run, resume or read back the fusion, by the thread rule (``Fusion.plan``).

        The request's messages are the whole conversation, as OpenAI clients send it: on a
        finished thread the same conversation is its stored result, and only the messages beyond
        the thread's are appended as the next turn.

        Raises:
            ThreadConflict: The conversation does not continue the thread's (409).
            AllMembersFailed: No member answered.
            JudgeFailed: No judge decided.
        """
        return await run.fusion.run(
            run.messages, thread_id=run.thread_id, history=True, response_format=run.response_format
        )

    async def stream(self, run: PreparedRun) -> AsyncIterator[dict[str, Any] | FusionResult]:
        """Yield the fusion's events (:mod:`fusion_graph.events`), then its result.

        The run asks for a streamed answer (``configurable["fusion_stream_answer"]``), so the
        answer's text arrives as ``answer_delta`` events as it is written (a merge: the judge's
        streamed writer call) or decided (the other modes), before the result.

        The thread rule is :meth:`run`'s: a finished thread asked the same conversation yields
        only its stored result.

        Raises:
            ThreadConflict: The conversation does not continue the thread's (409).
            AllMembersFailed: No member answered.
            JudgeFailed: No judge decided.
        """
        fusion = run.fusion
        final: dict[str, Any] | None = None
        async for mode, chunk in fusion.stream(
            run.messages,
            thread_id=run.thread_id,
            stream_mode=("values", "custom"),
            config=stream_answer_config(None),
            history=True,
            response_format=run.response_format,
        ):
            if mode == "custom" and isinstance(chunk, dict):
                yield chunk  # pyright: ignore[reportReturnType]
            elif mode == "values":
                final = chunk
        if final is None or not is_finished(final):
            raise FusionRunError("the fusion ended without an answer")
        yield fusion.result(final)

    async def read_thread(self, thread_id: str) -> tuple[str, FusionResult | None, str | None]:
        """The state of a stored fusion run, as ``(status, result, error)``.

        ``status`` is ``completed`` (with the result), ``failed`` (with the error of the step that
        failed; re-sending the ``thread_id`` retries from that step) or ``running``.

        Raises:
            APIError: 404 when there is no checkpointer or no such thread.
        """
        if self.checkpointer is None:
            raise APIError(
                404,
                "this server keeps no fusion runs; start it with a checkpointer (--postgres-url)",
                code="no_checkpointer",
            )
        name, config = next(iter(self.fusions.items()))
        fusion = self._fusion(name, config, [], None)
        snapshot = await fusion.graph.aget_state({"configurable": {"thread_id": thread_id}})
        if not snapshot.values:
            raise APIError(
                404, f"no fusion run has thread_id {thread_id!r}", param="thread_id", code="not_found"
            )
        if is_finished(snapshot.values):
            return "completed", fusion.result(snapshot.values), None
        errors = [task.error for task in snapshot.tasks if task.error is not None]
        if errors:
            return "failed", None, str(errors[0])
        return "running", None, None


def _response_format(request: ChatRequest, has_tools: bool) -> ResponseFormat | None:
    """The request's ``response_format``, or a 400 naming the part that cannot be honoured.

    Raises:
        APIError: 400: not ``json_schema`` / ``json_object`` / ``text``, an invalid schema, or a
            JSON format together with ``tools`` (members that may call a tool do not answer in a
            schema yet).
    """
    if request.response_format is None:
        return None
    try:
        wanted = ResponseFormat.from_wire(request.response_format)
    except ConfigError as exc:
        raise APIError(400, str(exc), param="response_format", code="invalid_value") from exc
    if wanted is not None and has_tools:
        raise APIError(
            400,
            "response_format: a JSON response_format cannot be combined with tools yet; send one of them",
            param="response_format",
            code="unsupported_value",
        )
    return wanted
