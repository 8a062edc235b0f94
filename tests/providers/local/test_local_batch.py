"""Samples of a real local model decoded together: one batch, distinct samples, reproducible seeds.

SmolLM2-135M writes at most 16 tokens per sample, so the file takes seconds. The assertions are
about the batch (who shared it), the seeds and the usage, not about what the model says.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from fusion_graph import FusionConfig, Judge, Member, fuse
from fusion_graph.providers import _local_batch
from fusion_graph.providers.local import LocalChatModel
from fusion_graph.providers.samples import SAMPLE_GROUP, SampleGroup
from fusion_graph.testing import ScriptedChatModel

from .conftest import _require

pytestmark = pytest.mark.local

PROMPT = "Write one short sentence about the sea."
MAX_TOKENS = 16


@pytest.fixture(scope="module", autouse=True)
def _smol_installed() -> None:
    _require("smollm2-135m")


@pytest.fixture
def batches(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The size of every batch decoded together (a spy on the batched decode)."""
    sizes: list[int] = []
    decode = _local_batch._decode_batch

    def spy(loaded: Any, seqs: list[Any]) -> list[Any]:
        sizes.append(len(seqs))
        return decode(loaded, seqs)

    monkeypatch.setattr(_local_batch, "_decode_batch", spy)
    return sizes


def _model(**params: Any) -> LocalChatModel:
    return LocalChatModel(model="smollm2-135m", n_threads=1, max_tokens=MAX_TOKENS, temperature=1.0, **params)


async def _samples(model: LocalChatModel, seeds: list[int]) -> list[str]:
    group = SampleGroup(len(seeds))

    async def one(seed: int) -> str:
        SAMPLE_GROUP.set(group)  # what the member node does for each sample's first call
        message = await model.bind(seed=seed).ainvoke(PROMPT)
        usage = message.usage_metadata
        assert usage is not None and usage["input_tokens"] > 0
        assert 0 < usage["output_tokens"] <= MAX_TOKENS
        return message.text

    return list(await asyncio.gather(*(one(seed) for seed in seeds)))


async def test_samples_are_one_batch_and_differ(batches: list[int]) -> None:
    texts = await _samples(_model(), [7, 8, 9])
    assert batches == [3]
    assert len(set(texts)) > 1, texts  # temperature 1, three seeds


async def test_a_fixed_seed_reproduces_the_batch(batches: list[int]) -> None:
    model = _model()
    first = await _samples(model, [11, 12, 13])
    again = await _samples(model, [11, 12, 13])
    assert first == again
    assert batches == [3, 3]


async def test_streamed_samples_are_one_batch(batches: list[int]) -> None:
    model = _model(seed=5)
    group = SampleGroup(2)

    async def one(seed: int) -> tuple[str, str]:
        SAMPLE_GROUP.set(group)
        pieces = [chunk async for chunk in model.bind(seed=seed).astream(PROMPT)]
        merged = pieces[0]
        for piece in pieces[1:]:
            merged = merged + piece
        return "".join(p.text for p in pieces), merged.text

    for streamed, merged in await asyncio.gather(one(1), one(2)):
        assert streamed == merged and streamed.strip()
    assert batches == [2]


async def test_a_sampled_member_in_a_fusion_decodes_its_samples_together(batches: list[int]) -> None:
    member = Member(
        "local:smollm2-135m",
        name="smol",
        samples=3,
        params={"n_threads": 1, "max_tokens": MAX_TOKENS, "temperature": 1.0, "seed": 7},
    )
    judge = ScriptedChatModel(structured={"winner": "answer_1", "scores": [], "rationale": "first"})
    result = await fuse(PROMPT, FusionConfig(pool=[member], judge=Judge(judge), mode="best-of"))
    assert batches == [3]
    assert sorted(c.member for c in result.candidates) == ["smol#1", "smol#2", "smol#3"]
    for candidate in result.candidates:
        assert candidate.error is None, candidate.error
        assert 0 < candidate.usage.output_tokens <= MAX_TOKENS


async def test_unbatched_samples_run_one_after_another(batches: list[int]) -> None:
    texts = await _samples(_model(batch_samples=False), [7, 8])
    assert batches == [] and len(texts) == 2
