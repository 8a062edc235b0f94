"""Tests for the scriptable OpenAI-compatible stub server, driven by real clients."""

from __future__ import annotations

import asyncio
import enum
import json
import subprocess
import sys
import time
from typing import Literal

import httpx
import openai
import pytest
from langchain_core.messages import AIMessage, HumanMessage, ToolMessage
from langchain_core.tools import tool
from langchain_openai import ChatOpenAI
from pydantic import BaseModel, Field

from fusion_graph.testing.openai_server import (
    Fault,
    ModelScript,
    OpenAIStubServer,
    Turn,
    example_from_schema,
)

pytestmark = pytest.mark.timeout(15)


def chat(server: OpenAIStubServer, model: str, **kwargs: object) -> ChatOpenAI:
    options: dict[str, object] = {"max_retries": 0, "timeout": 5.0}
    options.update(kwargs)
    return ChatOpenAI(
        base_url=server.base_url,
        api_key="sk-test",  # type: ignore[arg-type]
        model=model,
        **options,  # type: ignore[arg-type]
    )


@tool
def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


class Verdict(enum.Enum):
    AGREE = "agree"
    DISAGREE = "disagree"


class Claim(BaseModel):
    text: str
    support: list[str]
    confidence: float = Field(ge=0, le=1)


class Ranking(BaseModel):
    label: str
    score: int = Field(ge=1, le=10)


class Judgement(BaseModel):
    """A fused judgement over candidate answers."""

    winner: Literal["A", "B", "C"]
    verdict: Verdict
    claims: list[Claim]
    ranking: list[Ranking]
    note: str | None = None
    tags: list[str] | None = None
    answer: str


PROMPT = "Compare the candidates.\nResponse B: 7\nResponse A: 8\nResponse C: 9"


# --------------------------------------------------------------------------- basics


async def test_ainvoke_reply_usage_and_records() -> None:
    async with OpenAIStubServer(
        {"alpha": ModelScript(reply="The answer is 7.", completion_tokens=11)}
    ) as server:
        assert server.base_url.startswith("http://127.0.0.1:")
        assert server.base_url.endswith("/v1")
        message = await chat(server, "alpha").ainvoke("what is three plus four")
        assert message.content == "The answer is 7."
        assert isinstance(message, AIMessage)
        assert message.usage_metadata is not None
        assert message.usage_metadata["input_tokens"] == 5  # five words
        assert message.usage_metadata["output_tokens"] == 11  # fixed by the script
        assert server.calls("alpha") == 1
        assert server.calls("other") == 0
        assert server.requests[0]["model"] == "alpha"
        assert server.requests[0]["messages"][0]["content"] == "what is three plus four"


def test_invoke_from_sync_code_in_a_thread() -> None:
    with OpenAIStubServer({"alpha": ModelScript(reply="hello there")}) as server:
        assert chat(server, "alpha").invoke("hi").content == "hello there"
        assert server.calls("alpha") == 1
    server.stop()  # idempotent


async def test_replies_cycle_and_callable_replies() -> None:
    scripts = {
        "beta": ModelScript(replies=["first", "second"]),
        "echo": ModelScript(reply=lambda body: body["messages"][-1]["content"].upper()),
    }
    async with OpenAIStubServer(scripts) as server:
        llm = chat(server, "beta")
        got = [(await llm.ainvoke("x")).content for _ in range(3)]
        assert got == ["first", "second", "first"]
        assert (await chat(server, "echo").ainvoke("loud")).content == "LOUD"


async def test_latency_delays_the_answer() -> None:
    async with OpenAIStubServer({"slow": ModelScript(reply="ok", latency=0.2)}) as server:
        start = time.perf_counter()
        await chat(server, "slow").ainvoke("x")
        assert time.perf_counter() - start >= 0.2


async def test_astream_with_usage_and_token_delay() -> None:
    script = ModelScript(reply="one two three four", token_delay=0.01, prompt_tokens=3)
    async with OpenAIStubServer({"alpha": script}) as server:
        llm = chat(server, "alpha", stream_usage=True)
        chunks = [chunk async for chunk in llm.astream("hi")]
        assert len(chunks) >= 4
        total = chunks[0]
        for chunk in chunks[1:]:
            total = total + chunk
        assert total.content == "one two three four"
        assert total.usage_metadata is not None
        assert total.usage_metadata["input_tokens"] == 3
        assert total.usage_metadata["output_tokens"] == 4
        assert server.requests[0]["stream"] is True
        assert server.requests[0]["stream_options"] == {"include_usage": True}


async def test_raw_sse_format() -> None:
    async with OpenAIStubServer({"alpha": ModelScript(reply="a b")}) as server:
        async with httpx.AsyncClient() as client:
            response = await client.post(
                f"{server.base_url}/chat/completions",
                json={"model": "alpha", "messages": [], "stream": True},
            )
        assert response.headers["content-type"].startswith("text/event-stream")
        events = [e for e in response.text.split("\n\n") if e]
        assert all(e.startswith("data: ") for e in events)
        assert events[-1] == "data: [DONE]"
        last = json.loads(events[-2][len("data: ") :])
        assert last["choices"][0]["finish_reason"] == "stop"
        assert "usage" not in last  # only with stream_options.include_usage


async def test_models_endpoint_and_errors_in_openai_format() -> None:
    async with OpenAIStubServer({"alpha": ModelScript(), "beta": ModelScript()}) as server:
        async with httpx.AsyncClient() as client:
            models = (await client.get(f"{server.base_url}/models")).json()
            assert [m["id"] for m in models["data"]] == ["alpha", "beta"]
            response = await client.post(
                f"{server.base_url}/chat/completions", json={"model": "nope", "messages": []}
            )
            assert response.status_code == 404
            error = response.json()["error"]
            assert set(error) == {"message", "type", "param", "code"}
            assert error["code"] == "model_not_found"
            bad = await client.post(f"{server.base_url}/chat/completions", content=b"{oops")
            assert bad.status_code == 400
            assert bad.json()["error"]["type"] == "invalid_request_error"
        with pytest.raises(openai.NotFoundError):
            await chat(server, "nope").ainvoke("x")


async def test_api_key_is_required_when_set() -> None:
    async with OpenAIStubServer({"alpha": ModelScript(reply="ok")}, api_key="sk-good") as server:
        with pytest.raises(openai.AuthenticationError):
            await chat(server, "alpha").ainvoke("x")
        good = ChatOpenAI(
            base_url=server.base_url,
            api_key="sk-good",  # type: ignore[arg-type]
            model="alpha",
            max_retries=0,
        )
        assert (await good.ainvoke("x")).content == "ok"


async def test_keep_alive_reuses_one_connection() -> None:
    async with OpenAIStubServer({"alpha": ModelScript(replies=["1", "2", "3"])}) as server:
        async with httpx.AsyncClient() as client:
            for expected in ["1", "2", "3"]:
                response = await client.post(
                    f"{server.base_url}/chat/completions",
                    json={"model": "alpha", "messages": [{"role": "user", "content": "x"}]},
                )
                assert response.json()["choices"][0]["message"]["content"] == expected
            # streams keep the connection too
            await client.post(
                f"{server.base_url}/chat/completions",
                json={"model": "alpha", "messages": [], "stream": True},
            )
            await client.get(f"{server.base_url}/models")
        assert server.connections == 1
        # the openai SDK (through langchain) reuses its pooled connection as well
        llm = chat(server, "alpha")
        for _ in range(3):
            await llm.ainvoke("x")
        assert server.connections == 2


async def test_connection_close_is_honoured() -> None:
    async with OpenAIStubServer({"alpha": ModelScript(reply="ok")}) as server:
        async with httpx.AsyncClient(headers={"Connection": "close"}) as client:
            for _ in range(2):
                response = await client.post(
                    f"{server.base_url}/chat/completions", json={"model": "alpha", "messages": []}
                )
                assert response.headers["connection"] == "close"
        assert server.connections == 2


async def test_concurrent_calls_overlap() -> None:
    async with OpenAIStubServer({"slow": ModelScript(reply="ok", latency=0.3)}) as server:
        llm = chat(server, "slow")
        start = time.perf_counter()
        replies = await asyncio.gather(*[llm.ainvoke("x") for _ in range(30)])
        assert time.perf_counter() - start < 2.0  # not 30 x 0.3 s
        assert {r.content for r in replies} == {"ok"}
        assert server.calls("slow") == 30


async def test_a_failing_reply_callable_is_a_500_naming_it() -> None:
    def broken(body: dict[str, object]) -> str:
        raise KeyError("no such field")

    async with OpenAIStubServer({"m": ModelScript(reply=broken)}) as server:
        with pytest.raises(openai.InternalServerError, match="KeyError"):
            await chat(server, "m").ainvoke("x")
        assert isinstance(server.errors[0], KeyError)


# --------------------------------------------------------------------------- tools


async def test_tool_calls_then_reply_after_the_tool_result() -> None:
    script = ModelScript(
        turns=[Turn(tool_calls=[{"name": "add", "arguments": {"a": 1, "b": 2}}]), Turn(reply="3")]
    )
    async with OpenAIStubServer({"caller": script}) as server:
        llm = chat(server, "caller").bind_tools([add])
        first = await llm.ainvoke([HumanMessage("add 1 and 2")])
        assert isinstance(first, AIMessage)
        assert first.response_metadata["finish_reason"] == "tool_calls"
        [call] = first.tool_calls
        assert call["name"] == "add"
        assert call["args"] == {"a": 1, "b": 2}
        assert call["id"] and call["id"].startswith("call_")
        result = ToolMessage(str(add.invoke(call["args"])), tool_call_id=call["id"])
        second = await llm.ainvoke([HumanMessage("add 1 and 2"), first, result])
        assert second.content == "3"
        assert server.requests[0]["tools"][0]["function"]["name"] == "add"


async def test_tool_calls_stream_as_deltas() -> None:
    script = ModelScript(tool_calls=[{"name": "add", "arguments": {"a": 10, "b": 20}}])
    async with OpenAIStubServer({"caller": script}) as server:
        llm = chat(server, "caller").bind_tools([add])
        chunks = [c async for c in llm.astream("add")]
        assert len(chunks) > 3
        total = chunks[0]
        for chunk in chunks[1:]:
            total = total + chunk
        assert isinstance(total, AIMessage)
        assert total.tool_calls[0]["args"] == {"a": 10, "b": 20}
        assert total.response_metadata["finish_reason"] == "tool_calls"


# --------------------------------------------------------------------------- judge


@pytest.mark.parametrize("method", ["json_schema", "function_calling"])
async def test_structured_output_parses_into_pydantic(method: str) -> None:
    async with OpenAIStubServer({"judge": ModelScript(judge=True)}) as server:
        structured = chat(server, "judge").with_structured_output(Judgement, method=method)  # type: ignore[arg-type]
        result = await structured.ainvoke(PROMPT)
        assert isinstance(result, Judgement)
        assert result.winner == "B"  # the first label that appears in the prompt
        assert result.verdict is Verdict.AGREE
        assert len(result.claims) == 1 and result.claims[0].support
        assert 0 <= result.claims[0].confidence <= 1
        assert result.ranking[0].score == 5
        assert result.ranking[0].label == "B"  # free label field, default pattern
        body = server.requests[0]
        if method == "json_schema":
            assert body["response_format"]["type"] == "json_schema"
        else:
            assert body["tool_choice"]["function"]["name"] == "Judgement"


@pytest.mark.parametrize("method", ["json_schema", "function_calling"])
async def test_judge_pick_and_fixed_fields(method: str) -> None:
    scripts = {
        "regex": ModelScript(judge=True, judge_pick=r"best is (\w)"),
        "func": ModelScript(judge=True, judge_pick=lambda prompt, options: "C"),
        "fixed": ModelScript(judge=True, judge_fields={"answer": "forty-two", "note": None}),
    }
    async with OpenAIStubServer(scripts) as server:

        def structured(model: str):  # noqa: ANN202
            return chat(server, model).with_structured_output(Judgement, method=method)  # type: ignore[arg-type]

        picked = await structured("regex").ainvoke(PROMPT + "\nI think the best is A")
        assert isinstance(picked, Judgement)
        assert picked.winner == "A"
        func = await structured("func").ainvoke(PROMPT)
        assert isinstance(func, Judgement)
        assert func.winner == "C"
        fixed = await structured("fixed").ainvoke(PROMPT)
        assert isinstance(fixed, Judgement)
        assert fixed.answer == "forty-two"
        assert fixed.note is None


class Score(BaseModel):
    label: str = Field(description="The candidate's label, exactly as shown.")
    score: float = Field(ge=0, le=10)
    reason: str


class BestOf(BaseModel):
    winner: str
    scores: list[Score]
    rationale: str


BRACKETED = (
    "The answers (2), each under its label:\n"
    "[answer_2]\nfour\n[end of answer_2]\n"
    "[answer_1]\nfive\n[end of answer_1]"
)


async def test_judge_reads_bracketed_labels_by_default() -> None:
    async with OpenAIStubServer({"judge": ModelScript(judge=True)}) as server:
        verdict = await chat(server, "judge").with_structured_output(BestOf).ainvoke(BRACKETED)
        assert isinstance(verdict, BestOf)
        assert verdict.winner == "answer_2"
        assert verdict.scores[0].label == "answer_2"
        assert verdict.scores[0].score == 9.0  # the winner gets the top score: a consistent verdict
        # the system prompt is not searched for labels
        system = ("system", "Pick a label such as [answer_9].")
        again = (
            await chat(server, "judge").with_structured_output(BestOf).ainvoke([system, ("user", BRACKETED)])
        )
        assert isinstance(again, BestOf)
        assert again.winner == "answer_2"


def test_reset_forgets_calls_and_reply_positions() -> None:
    with OpenAIStubServer({"beta": ModelScript(replies=["first", "second"])}) as server:
        llm = chat(server, "beta")
        assert llm.invoke("x").content == "first"
        server.reset()
        assert server.calls("beta") == 0 and server.requests == []
        assert llm.invoke("x").content == "first"


# langchain-openai's own stream aggregation warns while serialising the parsed model.
@pytest.mark.filterwarnings("ignore:Pydantic serializer warnings:UserWarning")
async def test_judge_streams_structured_output() -> None:
    async with OpenAIStubServer({"judge": ModelScript(judge=True)}) as server:
        structured = chat(server, "judge").with_structured_output(Judgement)
        parts = [p async for p in structured.astream(PROMPT)]
        assert isinstance(parts[-1], Judgement)


async def test_judge_without_structured_request_replies_text() -> None:
    async with OpenAIStubServer({"judge": ModelScript(judge=True, reply="plain")}) as server:
        assert (await chat(server, "judge").ainvoke("x")).content == "plain"


def test_example_from_schema_resolves_refs_and_bounds() -> None:
    schema = Judgement.model_json_schema()
    value = example_from_schema(schema, prompt="Response C then Response A")
    parsed = Judgement.model_validate(value)
    assert parsed.winner == "C"
    assert example_from_schema({"type": "integer", "minimum": 0, "maximum": 100}) == 50
    assert example_from_schema({"type": "number", "exclusiveMinimum": 2}) == 3.0
    assert example_from_schema({"type": "string", "minLength": 20, "maxLength": 25}).__len__() >= 20
    assert example_from_schema({"type": "array", "items": {"type": "boolean"}, "minItems": 2}) == [
        True,
        True,
    ]
    assert example_from_schema({"type": ["null", "string"], "format": "date"}) == "2024-01-01"
    assert example_from_schema({"const": 3}) == 3
    assert example_from_schema({"enum": [1, 2]}) == 1


class Node(BaseModel):
    name: str
    children: list[Node]
    parent: Node | None = None


class Shapes(BaseModel):
    counts: dict[str, int]
    pair: tuple[int, str]
    kind: Literal["circle"]
    nodes: list[Node] = Field(min_length=2)


def test_example_from_schema_handles_recursion_maps_and_tuples() -> None:
    value = example_from_schema(Shapes.model_json_schema())
    parsed = Shapes.model_validate(value)
    assert parsed.kind == "circle"
    assert len(parsed.nodes) == 2


# --------------------------------------------------------------------------- faults


@pytest.mark.parametrize(
    ("fault", "error", "status"),
    [
        (Fault.HTTP_429, openai.RateLimitError, 429),
        (Fault.HTTP_500, openai.InternalServerError, 500),
        (Fault.HTTP_503, openai.InternalServerError, 503),
        (Fault.HTTP_401, openai.AuthenticationError, 401),
        (Fault.HTTP_400, openai.BadRequestError, 400),
    ],
)
async def test_status_faults(fault: Fault, error: type[openai.APIStatusError], status: int) -> None:
    script = ModelScript(reply="recovered", faults=[fault, None], retry_after=2)
    async with OpenAIStubServer({"gamma": script}) as server:
        llm = chat(server, "gamma")
        with pytest.raises(error) as info:
            await llm.ainvoke("x")
        assert info.value.status_code == status
        assert isinstance(info.value.body, dict) and "message" in info.value.body
        if status == 429:
            assert info.value.response.headers["retry-after"] == "2"
        assert (await llm.ainvoke("x")).content == "recovered"  # call 2 is normal
        assert server.calls("gamma") == 2


async def test_status_fault_is_retried_by_the_sdk() -> None:
    script = ModelScript(reply="ok", faults=[Fault.HTTP_503], retry_after=0)
    async with OpenAIStubServer({"gamma": script}) as server:
        assert (await chat(server, "gamma", max_retries=1).ainvoke("x")).content == "ok"
        assert server.calls("gamma") == 2


@pytest.mark.parametrize("stream", [False, True])
async def test_timeout_fault(stream: bool) -> None:
    async with OpenAIStubServer({"m": ModelScript(faults=[Fault.TIMEOUT])}) as server:
        llm = chat(server, "m", timeout=0.3)
        with pytest.raises(openai.APITimeoutError):
            if stream:
                [c async for c in llm.astream("x")]
            else:
                await llm.ainvoke("x")


@pytest.mark.parametrize("stream", [False, True])
async def test_connection_reset_fault(stream: bool) -> None:
    async with OpenAIStubServer({"m": ModelScript(faults=[Fault.CONNECTION_RESET])}) as server:
        llm = chat(server, "m")
        with pytest.raises(openai.APIConnectionError):
            if stream:
                [c async for c in llm.astream("x")]
            else:
                await llm.ainvoke("x")
        assert (await llm.ainvoke("x")).content == "ok"


async def test_malformed_json_fault() -> None:
    faults = [Fault.MALFORMED_JSON, Fault.MALFORMED_JSON]
    async with OpenAIStubServer({"m": ModelScript(faults=faults)}) as server:
        llm = chat(server, "m")
        # the openai SDK lets the decoder's error through, unwrapped
        with pytest.raises(json.JSONDecodeError):
            await llm.ainvoke("x")
        with pytest.raises(json.JSONDecodeError):
            [c async for c in llm.astream("x")]
        assert (await llm.ainvoke("x")).content == "ok"


async def test_empty_content_fault() -> None:
    script = ModelScript(reply="full", faults=[Fault.EMPTY_CONTENT, Fault.EMPTY_CONTENT])
    async with OpenAIStubServer({"m": script}) as server:
        llm = chat(server, "m", stream_usage=True)
        assert (await llm.ainvoke("x")).content == ""
        chunks = [c async for c in llm.astream("x")]
        assert "".join(str(c.content) for c in chunks) == ""


async def test_invalid_tool_args_fault() -> None:
    script = ModelScript(
        tool_calls=[{"name": "add", "arguments": {"a": 1, "b": 2}}],
        faults=[Fault.INVALID_TOOL_ARGS, Fault.INVALID_TOOL_ARGS],
    )
    async with OpenAIStubServer({"m": script}) as server:
        llm = chat(server, "m").bind_tools([add])
        message = await llm.ainvoke("x")
        assert isinstance(message, AIMessage)
        assert message.tool_calls == []
        assert message.invalid_tool_calls[0]["name"] == "add"
        chunks = [c async for c in llm.astream("x")]
        total = chunks[0]
        for chunk in chunks[1:]:
            total = total + chunk
        assert isinstance(total, AIMessage)
        assert total.tool_calls == [] and total.invalid_tool_calls


async def test_stream_stall_fault() -> None:
    script = ModelScript(reply="a b c d e f", faults=[Fault.STREAM_STALL])
    async with OpenAIStubServer({"m": script}) as server:
        llm = chat(server, "m", timeout=0.3)
        received: list[str] = []
        with pytest.raises(openai.APITimeoutError):
            async for chunk in llm.astream("x"):
                received.append(str(chunk.content))
        assert "".join(received) == "a "  # the role chunk, then one token, then nothing


async def test_stream_cut_fault() -> None:
    script = ModelScript(reply="a b c d e f", faults=[Fault.STREAM_CUT, Fault.STREAM_CUT])
    async with OpenAIStubServer({"m": script}) as server:
        llm = chat(server, "m")
        received: list[str] = []
        with pytest.raises(openai.APIConnectionError):
            async for chunk in llm.astream("x"):
                received.append(str(chunk.content))
        assert "".join(received) == "a "
        with pytest.raises(openai.APIConnectionError):
            await llm.ainvoke("x")  # non-streaming: half a body, then the socket closes


# --------------------------------------------------------------------------- shutdown


async def test_stop_does_not_hang_with_stalled_requests_open() -> None:
    scripts = {
        "stall": ModelScript(reply="a b c", faults=[Fault.STREAM_STALL] * 3),
        "hang": ModelScript(faults=[Fault.TIMEOUT] * 3),
    }
    server = OpenAIStubServer(scripts)
    await server.start()
    llm_stall = chat(server, "stall", timeout=60)
    llm_hang = chat(server, "hang", timeout=60)

    async def consume() -> None:
        async for _ in llm_stall.astream("x"):
            pass

    tasks = [asyncio.create_task(consume()) for _ in range(3)]
    tasks += [asyncio.create_task(llm_hang.ainvoke("x")) for _ in range(3)]
    while server.calls("stall") < 3 or server.calls("hang") < 3:
        await asyncio.sleep(0.01)
    start = time.perf_counter()
    await server.aclose()
    assert time.perf_counter() - start < 1.0
    results = await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), 5)
    assert all(isinstance(r, Exception) for r in results)
    await server.aclose()  # idempotent


def test_thread_stop_does_not_hang_with_stalled_stream() -> None:
    server = OpenAIStubServer({"m": ModelScript(faults=[Fault.STREAM_STALL])}).start_in_thread()
    client = httpx.Client(timeout=30)
    with client.stream(
        "POST", f"{server.base_url}/chat/completions", json={"model": "m", "stream": True}
    ) as response:
        lines = response.iter_lines()
        assert next(lines).startswith("data: ")
        start = time.perf_counter()
        server.stop()
        assert time.perf_counter() - start < 1.0
        with pytest.raises(httpx.HTTPError):
            list(lines)
    client.close()


# --------------------------------------------------------------------------- CLI


def test_command_line_entry() -> None:
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "fusion_graph.testing.openai_server",
            "--model",
            "alpha=hi from the cli",
            "--judge",
            "judge",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        base_url = line.rsplit(" ", 1)[-1].strip()
        assert base_url.startswith("http://127.0.0.1:")
        ids = [m["id"] for m in httpx.get(f"{base_url}/models").json()["data"]]
        assert ids == ["alpha", "judge"]
        response = httpx.post(f"{base_url}/chat/completions", json={"model": "alpha", "messages": []}).json()
        assert response["choices"][0]["message"]["content"] == "hi from the cli"
    finally:
        process.terminate()
        process.wait(5)
        if process.stdout is not None:
            process.stdout.close()


async def test_a_respond_callable_chooses_the_turn_from_the_request():
    def respond(body: dict) -> Turn:
        said = body["messages"][-1]["content"]
        if said == "call":
            return Turn(tool_calls=[{"name": "add", "arguments": {"a": 1, "b": 2}}])
        return Turn(reply=f"you said {said}")

    async with OpenAIStubServer(models={"m": ModelScript(respond=respond, reply="unused")}) as server:
        client = openai.AsyncOpenAI(base_url=server.base_url, api_key="x")
        text = await client.chat.completions.create(model="m", messages=[{"role": "user", "content": "hi"}])
        call = await client.chat.completions.create(model="m", messages=[{"role": "user", "content": "call"}])
        await client.close()
    assert text.choices[0].message.content == "you said hi"
    calls = call.choices[0].message.tool_calls or []
    assert [(c.function.name, c.function.arguments) for c in calls] == [("add", '{"a": 1, "b": 2}')]  # type: ignore[union-attr]
