"""Streams of a real `fusion serve` process: the first bytes at once, failures as error events.

With ``stream: true`` the headers and a first SSE comment (``: running``) go out before any member
has answered, so a proxy sees a live response; a failure before any answer token is then an
OpenAI error event, ``data: {"error": {...}}``, which the official SDK raises as ``openai.APIError``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import pytest
from openai.types.chat import ChatCompletionChunk

from fusion_graph.testing import Fault, ModelScript, OpenAIStubServer

from ._serve_process import ServeProcess, fusions_file, serve_process

PROMPT = [{"role": "user", "content": "Is 1001 prime?"}]
MEMBER_S = 1.5


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServeProcess]:
    stub = OpenAIStubServer(
        {
            "judge": ModelScript(judge=True),
            "slow": ModelScript(reply="Not prime: 7 x 11 x 13.", latency=MEMBER_S),
            "down": ModelScript(latency=MEMBER_S, faults=[Fault.HTTP_500] * 20),
        }
    )
    stub.start_in_thread()
    tmp: Path = tmp_path_factory.mktemp("streams")
    pools = {"fusion/slow": ["slow"], "fusion/down": ["down"]}
    config = fusions_file(tmp / "fusions.toml", stub.base_url, pools)
    yield from serve_process(stub, config)


def _lines(server: ServeProcess, model: str) -> tuple[float, float, list[tuple[float, str]]]:
    """Seconds to the headers, to the first SSE line, and every non-empty line with its time."""
    body = {"model": model, "messages": PROMPT, "stream": True}
    start = time.monotonic()
    with httpx.stream("POST", f"{server.base_url}/chat/completions", json=body, timeout=20) as r:
        headers_s = time.monotonic() - start
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
        lines = [(time.monotonic() - start, line) for line in r.iter_lines() if line]
    return headers_s, lines[0][0], lines


def test_headers_and_a_first_comment_go_out_within_1s_while_members_answer(server: ServeProcess):
    headers_s, first_s, lines = _lines(server, "fusion/slow")
    assert headers_s < 1.0 and first_s < 1.0
    assert lines[0][1].startswith(": running ")
    assert json.loads(lines[0][1].removeprefix(": running "))["queue_wait_ms"] >= 0
    data = [(at, line.removeprefix("data: ")) for at, line in lines if line.startswith("data: ")]
    assert data[-1][1] == "[DONE]"
    chunks = [ChatCompletionChunk.model_validate_json(text) for _, text in data[:-1]]
    timed = zip((at for at, _ in data), chunks, strict=False)
    content = [(at, c) for at, c in timed if c.choices and c.choices[0].delta.content]
    assert "".join(c.choices[0].delta.content or "" for _, c in content) == "Not prime: 7 x 11 x 13."
    assert content[0][0] >= MEMBER_S  # the answer came only once the member had answered


def test_a_failure_before_any_answer_token_is_an_error_event_the_sdk_raises(server: ServeProcess):
    headers_s, first_s, lines = _lines(server, "fusion/down")
    assert headers_s < 1.0 and first_s < 1.0 and lines[0][1].startswith(": running ")
    last_s, last = lines[-1]
    assert last_s >= MEMBER_S  # the member failed after the first bytes went out
    error = json.loads(last.removeprefix("data: "))["error"]
    assert error["type"] == "fusion_error" and error["code"] == "all_members_failed"
    assert "down" in error["message"]
    assert not any(line == "data: [DONE]" for _, line in lines)
    assert not any('"content":"' in line and '"content":""' not in line for _, line in lines)

    client = openai.OpenAI(base_url=server.base_url, api_key="none", max_retries=0, timeout=20)
    stream = client.chat.completions.create(model="fusion/down", messages=PROMPT, stream=True)  # type: ignore[arg-type]
    with pytest.raises(openai.APIError) as caught:
        for _ in stream:
            pass
    assert type(caught.value) is openai.APIError
    assert isinstance(caught.value.body, dict) and caught.value.body["code"] == "all_members_failed"
    assert "down" in caught.value.message
