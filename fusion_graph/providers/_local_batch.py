"""A member's samples decoded together: parallel sequences of one loaded model in one llama.cpp batch.

On a CPU, generating a token is bound by reading the weights, not by arithmetic: decoding k
sequences in one batch reads the weights once per step for all of them, so k samples cost little
more than one. This module has two halves.

* **Meeting** (async). The samples of a member (``name#1`` … ``name#k``) are k graph nodes calling the
  same model at once; the member node announces them through
  :data:`~fusion_graph.providers.samples.SAMPLE_GROUP`. Each call joins the group's meeting for its
  loaded model. The batch starts when every sample has arrived, or :data:`WAIT_S` after the first
  one (a sample may never call: the budget skipped it, or its call was cached), and runs in a worker
  thread, not in any caller's task: a caller that is cancelled (a timeout, a straggler) only stops
  its own sequence. A sample arriving after its batch started waits for the rest in a new one.
* **Decoding** (blocking, under the loaded model's lock). A second llama.cpp context on the same
  weights, with a unified KV cache for up to :data:`MAX_SEQUENCES` sequences: a prompt that several
  samples share is decoded once, every token tagged with all their sequence ids (its KV cells are
  shared, not copied); then one token per live sequence per step, each sequence with its own sampler
  chain (the same chain as llama-cpp-python's: repeat penalty, top-k, top-p, min-p, temperature, its
  own seed), its own stop strings and ``max_tokens``.

Forced tool calls (and so ``with_structured_output``) and ``grammar_first`` are not batched: they
run on the one-sequence loop, one after another, as before. So does a batch of one, and a batch whose
context cannot be made (the one-sequence loop is the fallback).

Nothing is imported from ``llama_cpp`` at import time.
"""

from __future__ import annotations

import asyncio
import codecs
import threading
from collections.abc import AsyncGenerator, Callable, Hashable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from fusion_graph.providers._local_loader import _Loaded
from fusion_graph.providers._local_prompt import _max_tokens, _Outcome, _render, _Request
from fusion_graph.providers._local_run import _iter_run
from fusion_graph.providers.samples import SampleGroup

if TYPE_CHECKING:
    from llama_cpp import Llama

__all__ = ["MAX_SEQUENCES", "WAIT_S", "BatchContext", "batchable", "decode_together", "withdraw"]

MAX_SEQUENCES = 32
"""The most sequences one batch decodes (``Member.samples`` allows 32)."""

WAIT_S = 1.0
"""How long the first sample of a group waits for the others before its batch starts without them."""

_PENALTY_LAST_N = 64
"""The generated tokens the repeat penalty looks back on (llama-cpp-python's ``last_n_tokens_size``)."""

_N_BATCH = 512

Item = str | _Outcome | BaseException
"""What a sequence hands its caller: text pieces (when streaming), then an outcome or an error."""


def batchable(request: _Request) -> bool:
    """Whether a request can be decoded in a batch (forced calls and ``grammar_first`` cannot)."""
    return request.forced is None and not request.grammar_first


# --------------------------------------------------------------------------------------------
# Meeting (async)
# --------------------------------------------------------------------------------------------


@dataclass(eq=False)
class _Seq:
    request: _Request
    stream: bool
    loop: asyncio.AbstractEventLoop
    queue: asyncio.Queue[Item] = field(default_factory=asyncio.Queue)
    cancel: threading.Event = field(default_factory=threading.Event)

    def emit(self, item: Item) -> None:
        """Hand an item to the caller (from the worker thread)."""
        try:
            self.loop.call_soon_threadsafe(self.queue.put_nowait, item)
        except RuntimeError:  # the caller's event loop is gone: stop decoding this sequence
            self.cancel.set()


@dataclass(eq=False)
class _Meeting:
    """The calls of one sample group on one loaded model."""

    remaining: int
    """Samples that have not called yet."""
    waiting: list[_Seq] = field(default_factory=list)
    timer: asyncio.TimerHandle | None = None
    load: Callable[[], _Loaded] | None = None
    """Loads the model (every call of a meeting is on the same one); set by the first call."""


_RUNNING: set[asyncio.Future[None]] = set()
"""Batches in flight (a reference, so that a batch nobody awaits any more is not collected)."""


def withdraw(group: SampleGroup, key: Hashable) -> None:
    """A sample of ``group`` calls ``key``'s model but cannot join a batch: the others stop waiting for it."""
    meeting = _meeting(group, key)
    meeting.remaining -= 1
    if meeting.remaining <= 0 and meeting.waiting:
        _start(meeting)


def _meeting(group: SampleGroup, key: Hashable) -> _Meeting:
    meeting = group.state.get(key)
    if not isinstance(meeting, _Meeting):
        meeting = group.state[key] = _Meeting(remaining=group.size)
    return meeting


def _start(meeting: _Meeting) -> None:
    """Start decoding the calls waiting in the meeting, in a worker thread."""
    if meeting.timer is not None:
        meeting.timer.cancel()
        meeting.timer = None
    seqs, meeting.waiting = meeting.waiting, []
    if not seqs or meeting.load is None:
        return
    task = asyncio.ensure_future(asyncio.to_thread(_decode, meeting.load, seqs))
    _RUNNING.add(task)
    task.add_done_callback(_RUNNING.discard)


async def decode_together(
    group: SampleGroup, key: Hashable, load: Callable[[], _Loaded], request: _Request, *, stream: bool
) -> AsyncGenerator[str | _Outcome, None]:
    """Join the group's batch on the model ``key`` and yield this sample's pieces, then its outcome.

    Args:
        group: The samples of the member in this round.
        key: The loaded model (samples on different models never share a batch).
        load: Loads (or returns) the model; called in the worker thread.
        request: This sample's call.
        stream: Whether to yield text pieces as they are decoded.

    Yields:
        Text pieces (only when ``stream``), then one :class:`_Outcome`.
    """
    meeting = _meeting(group, key)
    meeting.load = meeting.load or load
    seq = _Seq(request, stream, asyncio.get_running_loop())
    meeting.remaining -= 1
    meeting.waiting.append(seq)
    if meeting.remaining <= 0:
        _start(meeting)
    elif meeting.timer is None:
        meeting.timer = seq.loop.call_later(WAIT_S, _start, meeting)
    try:
        while True:
            item = await seq.queue.get()
            if isinstance(item, BaseException):
                raise item
            yield item
            if isinstance(item, _Outcome):
                return
    finally:
        seq.cancel.set()  # the worker stops decoding this sequence at its next token
        if seq in meeting.waiting:  # cancelled before its batch started
            meeting.waiting.remove(seq)
            if not meeting.waiting and meeting.timer is not None:
                meeting.timer.cancel()
                meeting.timer = None
            elif meeting.remaining <= 0 and meeting.waiting:
                _start(meeting)


# --------------------------------------------------------------------------------------------
# Decoding (blocking)
# --------------------------------------------------------------------------------------------


def _decode(load: Callable[[], _Loaded], seqs: list[_Seq]) -> None:
    """Decode these sequences together (worker thread); the one-sequence loop when it cannot."""
    try:
        loaded = load()
    except BaseException as exc:  # noqa: BLE001 - handed to every caller
        for seq in seqs:
            seq.emit(exc)
        return
    if len(seqs) > 1:
        with loaded.lock:
            rest = _decode_batch(loaded, seqs)
    else:
        rest = seqs
    for seq in rest:  # one after another, as without batching
        try:
            for item in _iter_run(loaded, seq.request, seq.cancel):
                if seq.stream or isinstance(item, _Outcome):
                    seq.emit(item)
        except BaseException as exc:  # noqa: BLE001 - handed to its caller
            seq.emit(exc)


@dataclass(eq=False)
class _Slot:
    """One live sequence of a batch."""

    seq: _Seq
    seq_id: int
    prompt: list[int]
    limit: int
    stops: list[str]
    sampler: Any
    decoder: codecs.IncrementalDecoder = field(
        default_factory=lambda: codecs.getincrementaldecoder("utf-8")(errors="replace")
    )
    text: str = ""
    emitted: int = 0
    output: int = 0
    last: int = -1
    pos: int = 0
    done: bool = False


class BatchContext:
    """A llama.cpp context for batches on a loaded model's weights: unified KV cache, many sequences."""

    def __init__(self, llama: Llama, n_ctx: int, n_threads: int) -> None:
        """Create the context and its batch buffer (``n_ctx`` cells shared by all sequences)."""
        import llama_cpp

        self._lib = llama_cpp
        model = llama._model  # noqa: SLF001 - llama-cpp-python exposes no public handle
        # The loaded model's own settings (flash attention off, rope, KV types…), so that a sequence
        # decoded here gets the logits it would get alone; only the size and the sequences differ.
        own = llama.context_params
        params = type(own).from_buffer_copy(own)
        params.n_ctx = n_ctx
        params.n_batch = _N_BATCH
        params.n_ubatch = _N_BATCH
        params.n_seq_max = MAX_SEQUENCES
        params.kv_unified = True
        params.n_threads = n_threads
        params.n_threads_batch = n_threads
        self.n_ctx = n_ctx
        self.vocab = model.vocab
        self.n_vocab = llama.n_vocab()
        self._model = model
        self.ctx: Any = llama_cpp.llama_init_from_model(model.model, params)
        if not self.ctx:
            raise RuntimeError("llama.cpp could not create a batch context")
        self.batch = llama_cpp.llama_batch_init(_N_BATCH, 0, MAX_SEQUENCES)
        self.memory: Any = llama_cpp.llama_get_memory(self.ctx)

    def close(self) -> None:
        """Free the context and the batch buffer."""
        if self.ctx:
            self._lib.llama_batch_free(self.batch)
            self._lib.llama_free(self.ctx)
            self.ctx = None

    def __del__(self) -> None:
        """Free the context when the loaded model is dropped (``unload_local_models``)."""
        try:
            self.close()
        except Exception:  # noqa: BLE001, S110 - at interpreter exit llama_cpp may be gone already
            pass

    def piece(self, token: int) -> bytes:
        """The bytes of one generated token (special tokens render as nothing)."""
        return self._model.detokenize([token], special=False)

    def decode(self, tokens: list[tuple[int, int, list[int], bool]]) -> None:
        """Decode (token, position, sequence ids, wants logits) tuples as one llama.cpp batch."""
        batch = self.batch
        for i, (token, pos, seq_ids, logits) in enumerate(tokens):
            batch.token[i] = token
            batch.pos[i] = pos
            batch.n_seq_id[i] = len(seq_ids)
            for j, seq_id in enumerate(seq_ids):
                batch.seq_id[i][j] = seq_id
            batch.logits[i] = logits
        batch.n_tokens = len(tokens)
        code = self._lib.llama_decode(self.ctx, batch)
        if code != 0:
            raise RuntimeError(f"llama_decode failed ({code}): the batch does not fit its KV cache")

    def sampler(self, sampling: dict[str, Any]) -> Any:
        """A sampler chain like llama-cpp-python's for these settings, with its own seed."""
        lib = self._lib
        chain = lib.llama_sampler_chain_init(lib.llama_sampler_chain_default_params())
        add = lib.llama_sampler_chain_add
        add(
            chain,
            lib.llama_sampler_init_penalties(
                self.n_vocab, _PENALTY_LAST_N, float(sampling.get("repeat_penalty", 1.0)), 0.0, 0.0
            ),
        )
        temperature = float(sampling.get("temperature", 0.0))
        if temperature == 0.0:
            add(chain, lib.llama_sampler_init_greedy())
        else:
            add(chain, lib.llama_sampler_init_top_k(int(sampling.get("top_k", 40))))
            add(chain, lib.llama_sampler_init_typical(1.0, 1))
            add(chain, lib.llama_sampler_init_top_p(float(sampling.get("top_p", 0.95)), 1))
            add(chain, lib.llama_sampler_init_min_p(float(sampling.get("min_p", 0.05)), 1))
            add(chain, lib.llama_sampler_init_temp(temperature))
            add(chain, lib.llama_sampler_init_dist(int(sampling.get("seed") or 0) & 0xFFFFFFFF))
        return chain

    def sample(self, sampler: Any, index: int) -> int:
        """Sample (and accept) the next token from the logits at ``index`` of the last batch."""
        return int(self._lib.llama_sampler_sample(sampler, self.ctx, index))

    def free_sampler(self, sampler: Any) -> None:
        """Free a sampler chain."""
        self._lib.llama_sampler_free(sampler)

    def is_end(self, token: int) -> bool:
        """Whether the token ends generation (end of turn, end of text)."""
        return bool(self._lib.llama_vocab_is_eog(self.vocab, token))

    def clear(self) -> None:
        """Forget every sequence."""
        self._lib.llama_memory_clear(self.memory, True)

    def drop(self, seq_id: int) -> None:
        """Forget one sequence (its cells are freed once no other sequence shares them)."""
        self._lib.llama_memory_seq_rm(self.memory, seq_id, -1, -1)


def _context(loaded: _Loaded, cells: int) -> BatchContext:
    """The loaded model's batch context, (re)made with at least ``cells`` KV cells."""
    current = loaded.batch
    if isinstance(current, BatchContext) and current.n_ctx >= cells:
        return current
    if isinstance(current, BatchContext):
        current.close()
        loaded.batch = None
    size = max(loaded.n_ctx, -(-cells // 256) * 256)
    created = BatchContext(loaded.llama, size, loaded.n_threads)
    loaded.batch = created
    return created


def _decode_batch(loaded: _Loaded, seqs: list[_Seq]) -> list[_Seq]:
    """Decode the sequences as one batch; returns those left for the one-sequence loop."""
    slots: list[_Slot] = []
    for seq in seqs:
        if seq.cancel.is_set():
            seq.emit(_Outcome("", "cancelled", 0, 0))
            continue
        try:
            prompt = _render(loaded, seq.request)
            limit = _max_tokens(loaded, seq.request, prompt)
        except Exception as exc:  # noqa: BLE001 - this sample's own failure (e.g. a prompt too long)
            seq.emit(exc)
            continue
        stops = [s for s in [*(seq.request.sampling.get("stop") or []), loaded.formatter.eos_token] if s]
        slots.append(_Slot(seq, len(slots), prompt, limit, stops, sampler=None))
    if len(slots) <= 1:
        return [slot.seq for slot in slots]
    prompts: dict[tuple[int, ...], list[_Slot]] = {}
    for slot in slots:
        prompts.setdefault(tuple(slot.prompt), []).append(slot)
    cells = sum(len(p) for p in prompts) + sum(slot.limit for slot in slots)
    try:
        ctx = _context(loaded, cells)
    except Exception:  # noqa: BLE001 - no batch context (memory, an old llama.cpp): one at a time
        return [slot.seq for slot in slots]
    ctx.clear()
    try:
        for slot in slots:
            slot.sampler = ctx.sampler(slot.seq.request.sampling)
        # Each distinct prompt once, every token tagged with the sequences that share it; the first
        # token of each of them is sampled from the prompt's last logits before the next decode.
        for prompt, sharing in prompts.items():
            ids = [slot.seq_id for slot in sharing]
            for start in range(0, len(prompt), _N_BATCH):
                chunk = prompt[start : start + _N_BATCH]
                ctx.decode([(t, start + i, ids, start + i == len(prompt) - 1) for i, t in enumerate(chunk)])
            last = (len(prompt) - 1) % _N_BATCH  # the prompt's last token, in the last chunk decoded
            for slot in sharing:
                slot.pos = len(prompt)
                _take(ctx, slot, ctx.sample(slot.sampler, last))
        live = [slot for slot in slots if not slot.done]
        while live:
            ctx.decode([(slot.last, slot.pos, [slot.seq_id], True) for slot in live])
            for index, slot in enumerate(live):
                slot.pos += 1
                _take(ctx, slot, ctx.sample(slot.sampler, index))
            live = [slot for slot in live if not slot.done]
    except BaseException as exc:  # noqa: BLE001 - handed to the callers still waiting
        for slot in slots:
            if not slot.done:
                slot.done = True
                slot.seq.emit(exc)
    finally:
        for slot in slots:
            if slot.sampler is not None:
                ctx.free_sampler(slot.sampler)
        ctx.clear()
    return []


def _take(ctx: BatchContext, slot: _Slot, token: int) -> None:
    """Add a sampled token to its sequence; finish the sequence when it ends, stops or is cancelled."""
    if slot.seq.cancel.is_set():
        _finish(ctx, slot, "cancelled")
        return
    if ctx.is_end(token):
        _finish(ctx, slot, "stop")
        return
    slot.output += 1
    slot.last = token
    slot.text += slot.decoder.decode(ctx.piece(token))
    cut = min((i for i in (slot.text.find(s) for s in slot.stops) if i >= 0), default=-1)
    if cut >= 0:
        slot.text = slot.text[:cut]
        _finish(ctx, slot, "stop")
        return
    if slot.output >= slot.limit:
        slot.text += slot.decoder.decode(b"", final=True)
        _finish(ctx, slot, "length")
        return
    if slot.seq.stream:
        ready = len(slot.text) - _held_back(slot.text, slot.stops)
        if ready > slot.emitted:
            slot.seq.emit(slot.text[slot.emitted : ready])
            slot.emitted = ready


def _held_back(text: str, stops: list[str]) -> int:
    """How many trailing characters could still start a stop string (not streamed yet)."""
    held = 0
    for stop in stops:
        for n in range(min(len(stop) - 1, len(text)), held, -1):
            if text.endswith(stop[:n]):
                held = n
                break
    return held


def _finish(ctx: BatchContext, slot: _Slot, reason: str) -> None:
    slot.done = True
    ctx.drop(slot.seq_id)
    if slot.seq.stream and len(slot.text) > slot.emitted:
        slot.seq.emit(slot.text[slot.emitted :])
    slot.seq.emit(_Outcome(slot.text, reason, len(slot.prompt), slot.output))
