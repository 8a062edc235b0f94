"""The OpenAI-compatible API through the official SDK (sync, async, streaming) against real uvicorn."""

from __future__ import annotations

import concurrent.futures
import json

import httpx
import openai
import pytest
from langchain_core.messages import AIMessage, ToolMessage
from openai.types.chat import ChatCompletion, ChatCompletionChunk

from fusion_graph import FusionConfig, Judge, Member
from fusion_graph.server import create_app
from fusion_graph.testing import ScriptedChatModel

from .conftest import ANSWERS, LiveServer, pool_config, scripted, serve

PROMPT = [{"role": "user", "content": "Is 1001 prime?"}]


def client(server: LiveServer, key: str = "sk-test") -> openai.OpenAI:
    return openai.OpenAI(base_url=server.base_url, api_key=key, max_retries=0, timeout=30)


def test_models_lists_each_fusion(live):
    models = client(live).models.list()
    assert [m.id for m in models.data] == ["fusion/best-of", "fusion/debate"]
    entry = models.data[1].model_extra or {}
    assert entry["fusion"] == {
        "mode": "debate",
        "rounds": 1,
        "members": ["alpha", "beta", "gamma"],
        "judge": "judge",
    }


def test_sync_completion_validates_and_carries_the_fusion(live):
    response = client(live).chat.completions.create(model="fusion/best-of", messages=PROMPT)  # type: ignore[arg-type]
    raw = ChatCompletion.model_validate(response.model_dump())
    assert raw.object == "chat.completion"
    assert raw.choices[0].finish_reason == "stop"
    assert raw.choices[0].message.content in ANSWERS
    fusion = (response.model_extra or {})["fusion"]
    assert fusion["mode"] == "best-of"
    assert {c["member"] for c in fusion["candidates"]} == {"alpha", "beta", "gamma"}
    assert fusion["verdict"]["winner"].startswith("answer_")
    assert set(fusion["usage"]["members"]) == {"alpha", "beta", "gamma"}
    assert fusion["decided_by"].startswith("judge:")
    decision = fusion["decision"]  # which rule decided, with what weights and why
    assert decision["rule"] == "weighted" and decision["source"] == "prior"
    assert set(decision["weights"]) == {"alpha", "beta", "gamma", "judge"} and decision["why"]
    assert response.usage is not None
    assert (
        response.usage.total_tokens
        == fusion["usage"]["total"]["input_tokens"] + fusion["usage"]["total"]["output_tokens"]
    )


async def test_async_streaming_with_usage(live):
    async with openai.AsyncOpenAI(base_url=live.base_url, api_key="sk-test", max_retries=0) as aclient:
        stream = await aclient.chat.completions.create(
            model="fusion/debate",
            messages=PROMPT,  # type: ignore[arg-type]
            stream=True,
            stream_options={"include_usage": True},
        )
        chunks = [chunk async for chunk in stream]
    for chunk in chunks:
        ChatCompletionChunk.model_validate(chunk.model_dump())
    assert chunks[0].choices[0].delta.role == "assistant"
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    finals = [c for c in chunks if c.choices and c.choices[0].finish_reason]
    assert len(finals) == 1 and finals[0].choices[0].finish_reason == "stop"
    fusion = (finals[0].model_extra or {})["fusion"]
    assert text == fusion["answer"] and text in ANSWERS
    assert fusion["mode"] == "debate" and fusion["rounds"] == 1
    assert chunks[-1].choices == [] and chunks[-1].usage is not None
    assert chunks[-1].usage.total_tokens > 0
    assert all(c.usage is None for c in chunks[:-1])


def test_sync_streaming_without_usage(live):
    chunks = list(
        client(live).chat.completions.create(model="fusion/best-of", messages=PROMPT, stream=True)  # type: ignore[arg-type]
    )
    assert all(c.choices for c in chunks)  # no usage chunk unless asked
    assert "".join(c.choices[0].delta.content or "" for c in chunks) in ANSWERS


def test_stream_shows_progress_as_sse_comments(live):
    body = {"model": "fusion/best-of", "messages": PROMPT, "stream": True}
    headers = {"Authorization": "Bearer sk-test"}
    with httpx.stream(
        "POST", f"{live.base_url}/chat/completions", json=body, headers=headers, timeout=30
    ) as r:
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/event-stream")
        lines = [line for line in r.iter_lines() if line]
    events = [json.loads(line.removeprefix(": fusion ")) for line in lines if line.startswith(": fusion ")]
    assert {e["type"] for e in events} >= {"member_started", "member_finished", "judge_started", "verdict"}
    assert lines[-1] == "data: [DONE]"


def test_overrides_mode_rounds_and_members(live):
    response = client(live).chat.completions.create(
        model="fusion/best-of",
        messages=PROMPT,  # type: ignore[arg-type]
        extra_body={"mode": "merge", "members": ["alpha", "gamma"]},
    )
    fusion = (response.model_extra or {})["fusion"]
    assert fusion["mode"] == "merge"
    assert {c["member"] for c in fusion["candidates"]} == {"alpha", "gamma"}
    debate = client(live).chat.completions.create(
        model="fusion/best-of",
        messages=PROMPT,
        extra_body={"mode": "debate", "rounds": 2},  # type: ignore[arg-type]
    )
    assert (debate.model_extra or {})["fusion"]["mode"] == "debate"


@pytest.mark.parametrize(
    ("extra", "param", "words"),
    [
        ({"mode": "poll"}, "mode", "unknown mode 'poll'"),
        ({"rounds": 0}, "rounds", "rounds"),
        ({"members": ["alpha", "zeta"]}, "members", "no member is named 'zeta'"),
        ({"members": []}, "members", "empty"),
        ({"tool_choice": "sometimes"}, "tool_choice", "tool_choice"),
        ({"n": 2}, "n", "n:"),
    ],
)
def test_invalid_overrides_are_400_naming_the_field(live, extra, param, words):
    with pytest.raises(openai.BadRequestError) as caught:
        client(live).chat.completions.create(model="fusion/best-of", messages=PROMPT, extra_body=extra)  # type: ignore[arg-type]
    assert caught.value.status_code == 400
    error = caught.value.body
    assert isinstance(error, dict)
    assert error["param"] == param and error["type"] == "invalid_request_error"
    assert words in error["message"]


def test_bad_bodies_are_400_in_openai_format(live):
    url = f"{live.base_url}/chat/completions"
    headers = {"Authorization": "Bearer sk-test"}
    cases = [
        (b"{not json", None),
        (json.dumps({"model": "fusion/best-of"}).encode(), "messages"),
        (json.dumps({"model": "fusion/best-of", "messages": []}).encode(), "messages"),
        (
            json.dumps({"model": "fusion/best-of", "messages": [{"role": "robot", "content": "x"}]}).encode(),
            "messages",
        ),
        (
            json.dumps({"model": "fusion/best-of", "messages": [{"role": "tool", "content": "3"}]}).encode(),
            "messages",
        ),
    ]
    for content, param in cases:
        r = httpx.post(
            url, content=content, headers={**headers, "content-type": "application/json"}, timeout=10
        )
        assert r.status_code == 400, r.text
        error = r.json()["error"]
        assert set(error) == {"message", "type", "param", "code"}
        assert error["param"] == param


def test_unknown_model_is_404(live):
    with pytest.raises(openai.NotFoundError) as caught:
        client(live).chat.completions.create(model="fusion/nope", messages=PROMPT)  # type: ignore[arg-type]
    assert "fusion/best-of" in caught.value.message
    assert isinstance(caught.value.body, dict) and caught.value.body["code"] == "model_not_found"


def test_api_key_is_required(live):
    with pytest.raises(openai.AuthenticationError):
        client(live, key="sk-wrong").models.list()
    r = httpx.get(f"{live.base_url}/models", timeout=10)
    assert r.status_code == 401 and r.json()["error"]["code"] == "missing_api_key"
    assert httpx.get(f"{live.url}/health", timeout=10).status_code == 200


def test_body_too_large_is_413():
    app = create_app({"fusion/best-of": pool_config()}, max_body_bytes=2_000)
    with serve(app) as server:
        big = [{"role": "user", "content": "word " * 1_000}]
        with pytest.raises(openai.APIStatusError) as caught:
            client(server).chat.completions.create(model="fusion/best-of", messages=big)  # type: ignore[arg-type]
        assert caught.value.status_code == 413
        # a chunked body with no Content-Length is cut off at the limit too
        chunked = httpx.post(
            f"{server.base_url}/chat/completions", content=iter([b"x" * 1_500, b"y" * 1_500]), timeout=10
        )
        assert chunked.status_code == 413 and chunked.json()["error"]["code"] == "request_too_large"


def test_full_concurrency_is_429():
    app = create_app({"fusion/best-of": pool_config(latency=1.0)}, max_concurrency=1, max_queue=0)
    with serve(app) as server, concurrent.futures.ThreadPoolExecutor(2) as pool:
        first = pool.submit(client(server).chat.completions.create, model="fusion/best-of", messages=PROMPT)
        import time

        time.sleep(0.4)
        with pytest.raises(openai.RateLimitError) as caught:
            client(server).chat.completions.create(model="fusion/best-of", messages=PROMPT)  # type: ignore[arg-type]
        assert int(caught.value.response.headers["retry-after"]) >= 1  # computed: tests/server/test_queue.py
        assert first.result(timeout=20).choices[0].message.content in ANSWERS
        # the slot is free again
        assert client(server).chat.completions.create(model="fusion/best-of", messages=PROMPT).choices  # type: ignore[arg-type]


def test_every_member_failing_is_502_with_the_causes():
    app = create_app({"fusion/best-of": pool_config(failing=True)})
    with serve(app) as server:
        with pytest.raises(openai.InternalServerError) as caught:
            client(server).chat.completions.create(model="fusion/best-of", messages=PROMPT)  # type: ignore[arg-type]
        assert caught.value.status_code == 502
        body = caught.value.body
        assert isinstance(body, dict) and body["code"] == "all_members_failed"
        for name in ("alpha", "beta", "gamma"):
            assert f"{name} is down" in body["message"]
        # streaming: the headers go out at once, so the failure is an error event the SDK raises
        with pytest.raises(openai.APIError) as streamed:
            list(client(server).chat.completions.create(model="fusion/best-of", messages=PROMPT, stream=True))  # type: ignore[arg-type]
        assert isinstance(streamed.value.body, dict) and streamed.value.body["code"] == "all_members_failed"


def _tool_caller(name: str) -> ScriptedChatModel:
    def step(messages):
        if any(isinstance(m, ToolMessage) for m in messages):
            return f"{name}: it is {messages[-1].content} degrees"
        return AIMessage(
            content="", tool_calls=[{"name": "get_weather", "args": {"city": "Paris"}, "id": f"call_{name}"}]
        )

    return ScriptedChatModel(script=[step], cycle=True)


WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "The weather in a city.",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}


def test_tools_reach_every_member_and_the_fused_call_comes_back():
    models = {name: _tool_caller(name) for name in ("alpha", "beta")}
    config = FusionConfig(
        pool=[Member(model, name=name) for name, model in models.items()], judge=Judge(ScriptedChatModel())
    )
    with serve(create_app({"fusion/best-of": config})) as server:
        sdk = client(server)
        first = sdk.chat.completions.create(
            model="fusion/best-of",
            messages=PROMPT,
            tools=[WEATHER_TOOL],
            tool_choice="auto",  # type: ignore[arg-type,list-item]
        )
        ChatCompletion.model_validate(first.model_dump())
        choice = first.choices[0]
        assert choice.finish_reason == "tool_calls"
        assert choice.message.tool_calls is not None
        call = choice.message.tool_calls[0]
        assert call.type == "function"
        assert call.function.name == "get_weather"  # type: ignore[union-attr]
        assert json.loads(call.function.arguments) == {"city": "Paris"}  # type: ignore[union-attr]
        for model in models.values():
            bound = model.call_kwargs[0]["tools"]
            assert [t["function"]["name"] for t in bound] == ["get_weather"]
        # the client runs the tool and sends the result back
        follow = [
            *PROMPT,
            {"role": "assistant", "content": None, "tool_calls": [call.model_dump()]},
            {"role": "tool", "tool_call_id": call.id, "content": "21"},
        ]
        second = sdk.chat.completions.create(model="fusion/best-of", messages=follow, tools=[WEATHER_TOOL])  # type: ignore[arg-type,list-item]
        assert second.choices[0].finish_reason == "stop"
        assert second.choices[0].message.content in {"alpha: it is 21 degrees", "beta: it is 21 degrees"}
        seen = models["alpha"].calls[-1]
        assert isinstance(seen[-1], ToolMessage) and seen[-1].content == "21"
        # streamed tool calls come in the standard delta shape
        chunks = list(
            sdk.chat.completions.create(
                model="fusion/best-of", messages=PROMPT, tools=[WEATHER_TOOL], stream=True
            )  # type: ignore[arg-type,list-item]
        )
        deltas = [tc for c in chunks if c.choices for tc in (c.choices[0].delta.tool_calls or [])]
        assert deltas[0].function is not None and deltas[0].function.name == "get_weather"
        assert chunks[-1].choices[0].finish_reason == "tool_calls"


def test_members_served_over_http_by_the_stub_server():
    from fusion_graph.testing import ModelScript, OpenAIStubServer

    stub = OpenAIStubServer(
        models={
            "alpha": ModelScript(reply="Seven times eleven times thirteen."),
            "beta": ModelScript(reply="1001 is 7 x 11 x 13."),
            "judge": ModelScript(judge=True),
        }
    )
    with stub:

        def spec(name: str) -> dict:
            return {
                "model": f"openai:{name}",
                "base_url": stub.base_url,
                "api_key": "x",
                "params": {"max_retries": 0},
            }

        config = FusionConfig(
            pool=[Member(**spec("alpha")), Member(**spec("beta"))], judge=Judge(**spec("judge"))
        )
        with serve(create_app({"fusion/http": config})) as server:
            response = client(server).chat.completions.create(model="fusion/http", messages=PROMPT)  # type: ignore[arg-type]
        assert response.choices[0].message.content in {
            "Seven times eleven times thirteen.",
            "1001 is 7 x 11 x 13.",
        }
        assert stub.calls("alpha") == 1 and stub.calls("beta") == 1 and stub.calls("judge") == 1


def test_graceful_shutdown_finishes_in_flight_fusions():
    app = create_app({"fusion/best-of": pool_config(latency=1.5)})
    server = LiveServer(app).start()
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        pending = pool.submit(client(server).chat.completions.create, model="fusion/best-of", messages=PROMPT)
        import time

        time.sleep(0.5)
        server.stop()  # what SIGTERM does: stop accepting, let in-flight requests finish
        assert pending.result(timeout=20).choices[0].message.content in ANSWERS
    assert not server.thread.is_alive()
    with pytest.raises(openai.APIConnectionError):
        client(server).models.list()


def test_scripted_members_stay_isolated_between_apps():
    # one app per test keeps scripted call counts apart
    model = scripted("only")
    config = FusionConfig(pool=[Member(model, name="solo")], judge=Judge(ScriptedChatModel()))
    with serve(create_app({"fusion/solo": config})) as server:
        response = client(server).chat.completions.create(model="fusion/solo", messages=PROMPT)  # type: ignore[arg-type]
    assert response.choices[0].message.content == "only"
    assert (response.model_extra or {})["fusion"]["decided_by"] == "only-candidate"
    assert len(model.calls) == 1


def test_a_client_that_disconnects_mid_stream_frees_its_slot():
    slow = FusionConfig(
        pool=[Member(scripted("quick"), name="quick"), Member(scripted("slow", latency=5.0), name="slow")],
        judge=Judge(ScriptedChatModel()),
    )
    app = create_app({"fusion/best-of": slow}, max_concurrency=1)
    with serve(app) as server:
        body = {"model": "fusion/best-of", "messages": PROMPT, "stream": True}
        with httpx.stream("POST", f"{server.base_url}/chat/completions", json=body, timeout=10) as r:
            assert r.status_code == 200
            next(r.iter_lines())  # the role chunk: "quick" answered, "slow" still runs
        import time

        deadline = time.monotonic() + 3
        while app.state.limit.active and time.monotonic() < deadline:
            time.sleep(0.05)
        assert app.state.limit.active == 0  # cancelled long before "slow" would answer
