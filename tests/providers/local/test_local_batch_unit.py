"""How the samples of a member meet for one batch: which calls share a decode, without a model.

``_decode`` (the worker that runs llama.cpp) is replaced by a recorder that answers every sequence
it is given, so these tests check the meeting only: who waits for whom, who is left out, and that
a cancelled caller neither blocks the others nor gets an answer.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from langchain_core.messages import HumanMessage

from fusion_graph.providers import _local_batch
from fusion_graph.providers._local_batch import _held_back, decode_together, withdraw
from fusion_graph.providers._local_prompt import _Outcome, _Request
from fusion_graph.providers.samples import SampleGroup

KEY = ("model.gguf", 4096, 1, "")


def _request(text: str = "hi") -> _Request:
    return _Request([HumanMessage(text)], None, None, {"temperature": 0.7, "seed": 1, "stop": []}, 16)


class _Recorder:
    """Stands in for the worker: records each batch and answers its sequences in order."""

    def __init__(self) -> None:
        self.batches: list[int] = []

    def __call__(self, load: Any, seqs: list[Any]) -> None:
        self.batches.append(len(seqs))
        for i, seq in enumerate(seqs):
            if seq.stream:
                seq.emit(f"piece{i}")
            seq.emit(_Outcome(f"answer {i}", "stop", 3, 2))


@pytest.fixture
def recorder(monkeypatch: pytest.MonkeyPatch) -> _Recorder:
    fake = _Recorder()
    monkeypatch.setattr(_local_batch, "_decode", fake)
    return fake


async def _answer(group: SampleGroup, *, stream: bool = False) -> list[str | _Outcome]:
    return [item async for item in decode_together(group, KEY, lambda: None, _request(), stream=stream)]  # type: ignore[arg-type, return-value]


async def test_every_sample_of_a_group_shares_one_batch(recorder: _Recorder) -> None:
    group = SampleGroup(3)
    results = await asyncio.gather(*(_answer(group) for _ in range(3)))
    assert recorder.batches == [3]
    texts = sorted(r[-1].text for r in results if isinstance(r[-1], _Outcome))
    assert texts == ["answer 0", "answer 1", "answer 2"]


async def test_streamed_samples_get_their_pieces_then_the_outcome(recorder: _Recorder) -> None:
    group = SampleGroup(2)
    results = await asyncio.gather(*(_answer(group, stream=True) for _ in range(2)))
    assert recorder.batches == [2]
    for items in results:
        assert isinstance(items[0], str) and isinstance(items[-1], _Outcome) and len(items) == 2


async def test_a_withdrawn_sample_is_not_waited_for(recorder: _Recorder) -> None:
    group = SampleGroup(3)
    withdraw(group, KEY)  # e.g. a forced tool call, which runs on its own
    results = await asyncio.gather(*(_answer(group) for _ in range(2)))
    assert recorder.batches == [2] and len(results) == 2


async def test_a_missing_sample_delays_the_batch_only_until_the_wait_ends(
    recorder: _Recorder, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_local_batch, "WAIT_S", 0.01)
    group = SampleGroup(3)  # the third sample never calls (say its call was cached)
    await asyncio.wait_for(asyncio.gather(*(_answer(group) for _ in range(2))), timeout=30)
    assert recorder.batches == [2]
    await asyncio.wait_for(_answer(group), timeout=30)  # a late sample gets a batch of its own
    assert recorder.batches == [2, 1]


async def test_a_sample_cancelled_while_waiting_leaves_the_others_their_batch(recorder: _Recorder) -> None:
    group = SampleGroup(3)
    waiting = asyncio.ensure_future(_answer(group))
    while not group.state:  # it has joined the meeting
        await asyncio.sleep(0)
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    results = await asyncio.wait_for(asyncio.gather(*(_answer(group) for _ in range(2))), timeout=30)
    assert recorder.batches == [2] and len(results) == 2


async def test_samples_on_different_models_never_share_a_batch(
    recorder: _Recorder, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_local_batch, "WAIT_S", 0.01)  # each model's meeting waits for a second sample
    group = SampleGroup(2)

    async def one(key: tuple[str, int, int, str]) -> None:
        async for _ in decode_together(group, key, lambda: None, _request(), stream=False):  # type: ignore[arg-type]
            pass

    await asyncio.wait_for(asyncio.gather(one(KEY), one(("other.gguf", 4096, 1, ""))), timeout=30)
    assert recorder.batches == [1, 1]


def test_held_back_keeps_what_could_start_a_stop_string() -> None:
    assert _held_back("The answer is 4<|im", ["<|im_end|>"]) == 4
    assert _held_back("The answer is 4", ["<|im_end|>"]) == 0
    assert _held_back("abc\n\n", ["\n\nUser:", "<|im_end|>"]) == 2
