"""``FusionChatModel``: a fusion wherever a LangChain chat model goes."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable, Iterator, Mapping, Sequence
from operator import itemgetter
from typing import Any

from langchain_core.caches import BaseCache as LangChainCache
from langchain_core.callbacks import AsyncCallbackManagerForLLMRun, CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel, LanguageModelInput
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from langchain_core.runnables import Runnable, RunnableLambda, RunnableMap, RunnablePassthrough
from langchain_core.tools import BaseTool
from langchain_core.utils.function_calling import convert_to_openai_tool
from langgraph.cache.base import BaseCache as LangGraphCache
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr

from fusion_graph._cache import FusionCache
from fusion_graph._sync import iterate_sync, run_sync
from fusion_graph.config import FusionConfig
from fusion_graph.errors import ConfigError
from fusion_graph.node import fusion_message
from fusion_graph.runner import Fusion, tool_call_chunks
from fusion_graph.state import FusionState
from fusion_graph.structured import ResponseFormat

__all__ = ["FusionChatModel"]


class FusionChatModel(BaseChatModel):
    """A chat model whose every answer is a fusion of the pool's answers.

    Tools bound with ``bind_tools`` are bound to every member; the tool calls of the winning answer
    come back as ordinary ``tool_calls``, so it can drive an agent. Fusion details (candidates,
    verdict, usage) are in ``response_metadata["fusion"]``.

    ``with_structured_output(schema)`` (or ``bind(response_format=...)``) asks every member for the
    schema and fuses the answers field by field (see :mod:`fusion_graph.structured`); the fused JSON
    is checked against the schema before it is parsed.

    ``astream``/``stream`` yield the fused answer token by token (a merge then writes its answer
    in a streamed judge call after a structured analysis, see ``Fusion.stream``); the last chunk
    carries the tool calls (as ``tool_call_chunks``), the usage and ``response_metadata["fusion"]``.

    Example:
        >>> model = FusionChatModel(config=config)
        >>> agent = create_agent(model, tools)  # langchain.agents
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    config: FusionConfig
    """The fusion to run."""
    tools: Any = Field(default=None, exclude=True)
    """Tools the members run themselves (a ``ToolRegistry`` or a list of tools)."""
    cache_policy: Any = Field(default=None, exclude=True)
    """The ``CachePolicy`` (``ttl``) of a fusion cache given as ``cache=``."""

    _fusions: dict[str, Fusion] = PrivateAttr(default_factory=dict)
    _fusion_cache: Any = PrivateAttr(default=None)

    def __init__(self, config: FusionConfig | None = None, /, **data: Any) -> None:
        """Create the model; the config may be given positionally.

        ``cache=`` takes a LangGraph cache (``langgraph.cache.base.BaseCache``): the fusion's own
        cache of fused results (see ``Fusion(cache=)``), with ``cache_policy=`` for its TTL; a hit
        comes back with 0 tokens in ``usage_metadata`` and ``response_metadata["fusion"]["cached"]``.
        LangChain's own ``cache=`` values (a LangChain ``BaseCache``, ``True``, ``False``) keep their
        LangChain meaning; with a LangGraph cache, LangChain's cache is turned off for this model,
        so each answer is cached once.
        """
        if config is not None:
            data["config"] = config
        cache = data.get("cache")
        fusion_cache = None
        if isinstance(cache, LangGraphCache) or data.get("cache_policy") is not None:
            fusion_cache = FusionCache.of(cache, data.get("cache_policy"))
            data["cache"] = False
        elif cache is not None and not isinstance(cache, LangChainCache | bool):
            FusionCache.of(cache)  # raises the ConfigError that names the field
        if not isinstance(data.get("config"), FusionConfig):
            raise ConfigError(
                "config",
                "FusionChatModel needs a FusionConfig",
                "pass FusionChatModel(FusionConfig(pool=[...]))",
            )
        super().__init__(**data)
        self._fusion_cache = fusion_cache

    @property
    def _llm_type(self) -> str:
        return "fusion"

    def bind_tools(
        self,
        tools: Sequence[dict[str, Any] | type | Callable[..., Any] | BaseTool],
        *,
        tool_choice: str | dict[str, Any] | bool | None = None,
        **kwargs: Any,
    ) -> Runnable[LanguageModelInput, AIMessage]:
        """Bind tools to every member; the fused answer may be a tool call."""
        formatted = []
        for index, tool in enumerate(tools):
            try:
                formatted.append(convert_to_openai_tool(tool))
            except (ValueError, TypeError) as exc:
                raise ConfigError(
                    "tools",
                    f"tools[{index}] ({tool!r:.60}) is not a tool: {exc}",
                    "pass LangChain tools, functions, pydantic models or OpenAI tool dicts",
                ) from exc
        if tool_choice is not None:
            kwargs["tool_choice"] = tool_choice
        return self.bind(tools=formatted, **kwargs)

    def with_structured_output(
        self,
        schema: dict[str, Any] | type,
        *,
        include_raw: bool = False,
        method: str = "json_schema",
        strict: bool | None = None,
        **kwargs: Any,
    ) -> Runnable[LanguageModelInput, dict[str, Any] | BaseModel]:
        """A runnable that answers with an object of ``schema``, fused field by field.

        Unlike the default of LangChain chat models (a forced tool call), this asks the fusion for a
        ``response_format``: each member answers in the schema by its provider's own method, and the
        fusion's answer is JSON checked against the schema (:class:`~fusion_graph.StructuredOutputError`
        when no member's answer is valid).

        Args:
            schema: A pydantic model class (the result is an instance), a ``TypedDict`` or a JSON
                schema (the result is a dict).
            include_raw: Return ``{"raw": AIMessage, "parsed": ..., "parsing_error": ...}``.
            method: ``json_schema``, ``function_calling`` or ``json_mode``: accepted for
                compatibility; every method takes the same fused path.
            strict: OpenAI's ``strict``, passed to members that speak OpenAI's wire.
            **kwargs: Not supported; any raise ``ConfigError``.

        Raises:
            ConfigError: ``schema`` is not a schema of an object, an unknown ``method`` or argument.

        Example:
            >>> city = FusionChatModel(config).with_structured_output(City).invoke("Capital of France?")
        """
        if kwargs:
            raise ConfigError(next(iter(kwargs)), "is not an argument of with_structured_output", "drop it")
        if method not in ("json_schema", "function_calling", "json_mode"):
            raise ConfigError(
                "method", f"{method!r} is not a structured-output method", "use json_schema (the default)"
            )
        wanted = ResponseFormat.from_schema(schema, strict=strict)
        model = self.bind(
            response_format=wanted.openai(),
            ls_structured_output_format={"kwargs": {"method": method}, "schema": wanted.tool()},
        )

        def parse(message: BaseMessage) -> dict[str, Any] | BaseModel:
            return _parse_structured(message, schema, wanted)

        parser = RunnableLambda(parse)
        if not include_raw:
            return model | parser
        parsed = RunnablePassthrough.assign(parsed=itemgetter("raw") | parser, parsing_error=lambda _: None)
        failed = RunnablePassthrough.assign(parsed=lambda _: None)
        with_fallback = parsed.with_fallbacks([failed], exception_key="parsing_error")
        return RunnableMap(raw=model) | with_fallback  # pyright: ignore[reportReturnType]

    def _fusion(self, kwargs: dict[str, Any]) -> Fusion:
        bound = kwargs.get("tools") or []
        choice = kwargs.get("tool_choice")
        key = json.dumps([bound, choice], sort_keys=True, default=str)
        if key not in self._fusions:
            cache: FusionCache | None = self._fusion_cache
            self._fusions[key] = Fusion(
                self.config,
                tools=self.tools,
                bound_tools=bound,
                tool_choice=choice,
                cache=cache.cache if cache is not None else None,
                cache_policy=cache.policy if cache is not None else None,
            )
        return self._fusions[key]

    async def _agenerate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        result = await self._fusion(kwargs).run(messages, response_format=kwargs.get("response_format"))
        message = fusion_message(result)
        return ChatResult(generations=[ChatGeneration(message=message)])

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        # One long-lived loop for every sync call: provider clients cache async HTTP clients bound
        # to the loop that made them, so a new loop per call would break the second call.
        return run_sync(self._agenerate(messages, stop, **kwargs))

    async def _astream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> AsyncIterator[ChatGenerationChunk]:
        fusion = self._fusion(kwargs)
        final: FusionState | None = None
        streamed = False
        async for mode, part in fusion.stream(
            messages, stream_mode=("messages", "values"), response_format=kwargs.get("response_format")
        ):
            if mode == "values":
                final = part
                continue
            chunk: AIMessageChunk = part[0]
            if chunk.chunk_position == "last":  # the tool calls come with the result's metadata
                continue
            streamed = streamed or bool(chunk.content)
            # BaseChatModel.astream reports each chunk to the callbacks itself
            yield ChatGenerationChunk(message=AIMessageChunk(content=chunk.content, id=chunk.id))
        if final is None:  # Fusion.stream raises when a run fails; an empty stream is a bug
            raise RuntimeError("the fusion ended without a state")
        message = fusion_message(fusion.result(dict(final)))
        yield ChatGenerationChunk(message=_last_chunk(message, with_text=not streamed))

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        # The async stream, on the shared background loop (see _generate), handed over as it comes;
        # BaseChatModel.stream reports each chunk to the callbacks itself.
        yield from iterate_sync(lambda: self._astream(messages, stop, **kwargs))


def _parse_structured(
    message: BaseMessage, schema: Any, wanted: ResponseFormat
) -> dict[str, Any] | BaseModel:
    """The fused answer as the schema's type: a pydantic instance, else the checked dict."""
    value = wanted.check(message.text)
    if isinstance(schema, type) and issubclass(schema, BaseModel):
        return schema.model_validate(value)
    return dict(value) if isinstance(value, Mapping) else value


def _last_chunk(message: AIMessage, *, with_text: bool) -> AIMessageChunk:
    """The stream's last chunk: tool calls, usage and the fusion metadata (and the text if none streamed)."""
    return AIMessageChunk(
        content=message.content if with_text else "",
        name=message.name,
        tool_call_chunks=tool_call_chunks(message.tool_calls),
        usage_metadata=message.usage_metadata,
        response_metadata=message.response_metadata,
        chunk_position="last",
    )
