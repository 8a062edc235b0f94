"""The fused answer, token by token, from a real `fusion serve` process to the official `openai` SDK.

The members and the judge are models of an `OpenAIStubServer` on 127.0.0.1. The judge streams its
plain-text replies one word per chunk, ``TOKEN_S`` apart: a merge's writer call streams through
the server as it is written, each word a ``chat.completion.chunk`` of its own.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import pytest

from fusion_graph.testing import Fault, ModelScript, OpenAIStubServer

from ._serve_process import ServeProcess, serve_process, stub_model

PROMPT = [{"role": "user", "content": "Is 1001 prime?"}]
WRITTEN = "No: 1001 is not prime, since 1001 = 7 x 11 x 13 and each of them divides it."
TOKEN_S = 0.08


def _fusions(path: Path, base_url: str) -> Path:
    lines = ["[judge]", stub_model("judge", base_url)]
    for name, mode in (("fusion/merge", "merge"), ("fusion/best-of", "best-of"), ("fusion/cut", "merge")):
        lines.append(f'[fusions."{name}"]\nmode = "{mode}"')
        if name == "fusion/cut":
            lines.append(f'[fusions."{name}".judge]\n{stub_model("cutter", base_url)}')
        for member in ("alpha", "beta"):
            lines.append(f'[[fusions."{name}".pool]]\n{stub_model(member, base_url)}')
    path.write_text("\n".join(lines))
    return path


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServeProcess]:
    stub = OpenAIStubServer(
        {
            "alpha": ModelScript(reply="1001 = 7 x 11 x 13, so it is not prime at all.", latency=0.1),
            "beta": ModelScript(reply="1001 is not prime: it is 7 x 143, and 143 = 11 x 13.", latency=0.1),
            "judge": ModelScript(judge=True, reply=WRITTEN, latency=0.1, token_delay=TOKEN_S),
            # its analysis answers; its writer call sends a couple of chunks, then the socket closes
            "cutter": ModelScript(judge=True, reply=WRITTEN, faults=[None, Fault.STREAM_CUT] * 10),
        }
    )
    stub.start_in_thread()
    config = _fusions(tmp_path_factory.mktemp("answer-stream") / "fusions.toml", stub.base_url)
    yield from serve_process(stub, config)


def _sdk(server: ServeProcess) -> openai.OpenAI:
    return openai.OpenAI(base_url=server.base_url, api_key="none", timeout=30, max_retries=0)


def test_a_merge_streams_the_writers_tokens_as_they_are_written(server: ServeProcess):
    stream = _sdk(server).chat.completions.create(
        model="fusion/merge",
        messages=PROMPT,
        stream=True,
        stream_options={"include_usage": True},  # type: ignore[arg-type]
    )
    timed = [(time.monotonic(), chunk) for chunk in stream]
    content = [
        (at, c.choices[0].delta.content) for at, c in timed if c.choices and c.choices[0].delta.content
    ]
    assert len(content) >= 10
    # the words arrived one by one as the judge wrote them, not at once at the end
    assert content[-1][0] - content[0][0] >= TOKEN_S * (len(content) - 1) / 2
    text = "".join(piece for _, piece in content)
    last = next(c for _, c in timed if c.choices and c.choices[0].finish_reason)
    fusion = (last.model_extra or {})["fusion"]
    assert text == fusion["answer"] == WRITTEN
    assert fusion["verdict"]["answer"] == WRITTEN and len(fusion["judge_calls"]) == 2
    usage = timed[-1][1].usage
    assert usage is not None and usage.completion_tokens >= sum(
        call["usage"]["output_tokens"] for call in fusion["judge_calls"]
    )


def test_a_best_of_streams_the_winner_once_it_is_decided(server: ServeProcess):
    chunks = list(
        _sdk(server).chat.completions.create(model="fusion/best-of", messages=PROMPT, stream=True)  # type: ignore[arg-type]
    )
    pieces = [c.choices[0].delta.content for c in chunks if c.choices and c.choices[0].delta.content]
    fusion = (chunks[-1].model_extra or {})["fusion"]
    assert len(pieces) >= 2 and "".join(pieces) == fusion["answer"]
    assert fusion["judge_calls"] and fusion["winner"] in {"alpha", "beta"}


def test_the_answer_step_is_announced_before_its_tokens(server: ServeProcess):
    body = {"model": "fusion/merge", "messages": PROMPT, "stream": True}
    with httpx.stream("POST", f"{server.base_url}/chat/completions", json=body, timeout=30) as r:
        lines = [line for line in r.iter_lines() if line]
    started = next(i for i, line in enumerate(lines) if '"type":"answer_started"' in line)
    assert json.loads(lines[started].removeprefix(": fusion "))["source"] == "writer"
    content = [
        i
        for i, line in enumerate(lines)
        if line.startswith("data: {") and json.loads(line[6:])["choices"][0]["delta"].get("content")
    ]
    verdict = next(i for i, line in enumerate(lines) if '"type":"verdict"' in line)
    assert started < content[0] and content[-1] < verdict
    assert lines[-1] == "data: [DONE]"


def test_a_writer_cut_off_after_some_tokens_ends_with_an_error_event_the_sdk_raises(server: ServeProcess):
    stream = _sdk(server).chat.completions.create(model="fusion/cut", messages=PROMPT, stream=True)  # type: ignore[arg-type]
    pieces: list[str] = []
    with pytest.raises(openai.APIError) as caught:
        for chunk in stream:
            if chunk.choices and chunk.choices[0].delta.content:
                pieces.append(chunk.choices[0].delta.content)
    assert pieces and WRITTEN.startswith("".join(pieces))
    assert "had been streamed" in caught.value.message
