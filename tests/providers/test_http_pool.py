"""The shared, sharded HTTP pool OpenAI-compatible models get per base URL (providers/_http.py).

Against a real ``OpenAIStubServer`` on 127.0.0.1: which client each resolved model holds, which pools
serve which event loop, and that closing (explicit, or the loop's end) closes the connections.
"""

import asyncio
import gc
import subprocess
import sys
import weakref
from typing import Any

import pytest

from fusion_graph import FusionConfig, Judge, Member, fuse
from fusion_graph.providers import aclose_http_clients, resolve_model
from fusion_graph.providers._http import ENV_SWITCH, ShardedTransport, httpx, shared_async_client
from fusion_graph.testing import ModelScript, OpenAIStubServer

NO_RETRY = {"max_retries": 0}


def _server() -> OpenAIStubServer:
    return OpenAIStubServer(
        {"alpha": ModelScript(reply="1001 = 7 x 11 x 13."), "judge": ModelScript(judge=True)},
        api_key="sk-local",
    )


def _member(url: str, name: str = "alpha", **params: Any) -> Member:
    return Member(f"openai:{name}", base_url=url, api_key="sk-local", params={**NO_RETRY, **params})


def _config(url: str) -> FusionConfig:
    return FusionConfig(
        pool=[_member(url).model_copy(update={"name": f"m{i}"}) for i in range(3)],
        judge=Judge("openai:judge", base_url=url, api_key="sk-local", params=NO_RETRY),
        mode="best-of",
        consensus=None,
    )


def _client(model: Any) -> Any:
    return model.http_async_client


def _pools_of(client: Any) -> ShardedTransport:
    """The running loop's pools behind a shared client."""
    return client._transport._pools()


def _open_connections(pools: ShardedTransport) -> int:
    return sum(len(pool._pool.connections) for pool in pools.pools)


def test_one_client_per_base_url_and_none_for_other_urls() -> None:
    a1 = resolve_model(_member("http://127.0.0.1:9/v1"))
    a2 = resolve_model(Judge("vllm:other", base_url="http://127.0.0.1:9/v1", params=NO_RETRY))
    b = resolve_model(_member("http://127.0.0.1:10/v1"))
    assert _client(a1) is _client(a2)
    assert _client(a1) is shared_async_client("http://127.0.0.1:9/v1")
    assert _client(b) is not _client(a1)
    assert isinstance(_client(a1), httpx.AsyncClient)


def test_your_own_client_or_none_or_the_switch_keep_the_shared_one_out(monkeypatch) -> None:
    mine = httpx.AsyncClient()
    url = "http://127.0.0.1:9/v1"
    assert _client(resolve_model(_member(url, http_async_client=mine))) is mine
    default: Any = resolve_model(_member(url, http_async_client=None))
    assert _client(default) is None  # ChatOpenAI keeps the SDK's own default client
    assert default.root_async_client._client is not shared_async_client(url)
    monkeypatch.setenv(ENV_SWITCH, "0")
    assert _client(resolve_model(_member(url))) is None
    monkeypatch.delenv(ENV_SWITCH)
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:3128")
    monkeypatch.setenv("NO_PROXY", "")
    assert _client(resolve_model(_member(url))) is None  # a custom transport would skip the proxy


async def test_your_own_client_carries_the_requests() -> None:
    sent: list[str] = []

    async def record(request: Any) -> None:
        sent.append(str(request.url))

    async with _server() as server, httpx.AsyncClient(event_hooks={"request": [record]}) as mine:
        model = resolve_model(_member(server.base_url, http_async_client=mine))
        reply = await model.ainvoke("Is 1001 prime?")
        shared = _pools_of(shared_async_client(server.base_url))
        assert _open_connections(shared) == 0
        assert sent == [f"{server.base_url}/chat/completions"]
    assert reply.content == "1001 = 7 x 11 x 13."


async def test_fusions_end_to_end_share_one_pool_and_reuse_connections() -> None:
    async with _server() as server:
        config = _config(server.base_url)
        for _ in range(3):
            result = await fuse("Is 1001 prime?", config)
            assert result.decided_by == "judge:openai:judge"
            assert all(c.ok for c in result.candidates)
        # 3 members at once open 3 connections; the judge and later runs reuse them
        assert server.connections == 3
        assert len(server.requests) == 3 * 4
        pools = _pools_of(shared_async_client(server.base_url))
        assert _open_connections(pools) == 3
        assert sum(pools.in_flight) == 0


async def test_aclose_closes_this_loops_connections_and_the_client_stays_usable() -> None:
    async with _server() as server:
        model = resolve_model(_member(server.base_url))
        await model.ainvoke("hi")
        first = _pools_of(_client(model))
        assert _open_connections(first) == 1
        await aclose_http_clients()
        assert _open_connections(first) == 0
        assert _client(model)._transport.loops() == 0
        reply = await model.ainvoke("again")  # new pools, new connection
        assert reply.content == "1001 = 7 x 11 x 13."
        assert _pools_of(_client(model)) is not first
        assert server.connections == 2
        await aclose_http_clients()


def test_each_loop_gets_its_own_pools_closed_when_the_loop_ends() -> None:
    seen: list[ShardedTransport] = []
    with _server() as server:
        model = resolve_model(_member(server.base_url))

        async def call() -> str:
            reply = await model.ainvoke("Is 1001 prime?")
            seen.append(_pools_of(_client(model)))
            assert _open_connections(seen[-1]) == 1
            return str(reply.content)

        # a second loop after the first one closed: without per-loop pools the first loop's
        # connection would be reused there and fail with "Event loop is closed"
        assert asyncio.run(call()) == asyncio.run(call()) == "1001 = 7 x 11 x 13."
        assert seen[0] is not seen[1]
        assert [_open_connections(p) for p in seen] == [0, 0]  # closed at each asyncio.run's end
        assert _client(model)._transport.loops() == 0
        assert server.connections == 2


async def test_loops_in_other_threads_do_not_share_connections() -> None:
    async with _server() as server:
        model = resolve_model(_member(server.base_url))
        await model.ainvoke("here")
        here = _pools_of(_client(model))

        def elsewhere() -> ShardedTransport:
            async def go() -> ShardedTransport:
                await model.ainvoke("there")
                return _pools_of(_client(model))

            return asyncio.run(go())

        there = await asyncio.to_thread(elsewhere)
        assert there is not here
        assert _open_connections(here) == 1 and _open_connections(there) == 0
        assert server.connections == 2
        await aclose_http_clients()


def test_nothing_is_made_at_import() -> None:
    code = (
        "import fusion_graph, fusion_graph.providers as p; from fusion_graph.providers import _http; "
        "assert len(_http._CLIENTS) == 0 and len(_http._ALL) == 0; print('ok')"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.stdout.strip() == "ok", done.stderr


async def test_sharded_transport_sends_to_the_least_busy_pool() -> None:
    async with _server() as server:
        server.models["slow"] = ModelScript(reply="slow", latency=0.2)
        transport = ShardedTransport(shards=4)
        async with httpx.AsyncClient(transport=transport) as client:

            async def post() -> int:
                r = await client.post(
                    f"{server.base_url}/chat/completions",
                    headers={"Authorization": "Bearer sk-local"},
                    json={"model": "slow", "messages": [{"role": "user", "content": "hi"}]},
                )
                return r.status_code

            assert await asyncio.gather(*(post() for _ in range(6))) == [200] * 6
            # 6 at once over 4 pools: every pool got at least one, none more than two
            counts = sorted(len(p._pool.connections) for p in transport.pools)
            assert counts == [1, 1, 2, 2]
            assert await post() == 200  # alone: the first pool's idle connection is reused
            assert server.connections == 6
    with pytest.raises(ValueError, match="shards"):
        ShardedTransport(shards=0)


async def test_a_client_outlives_its_models_so_no_pool_is_dropped_unclosed() -> None:
    # A pool dropped unclosed while its loop runs has its sockets closed by the garbage collector;
    # a new connection reusing such a descriptor is never woken by the selector (a hang seen in
    # bench/concurrency.py), so the shared clients are kept, and closed by loop or explicitly.
    async with _server() as server:
        model = resolve_model(_member(server.base_url))
        await model.ainvoke("hi")
        pools = _pools_of(_client(model))
        ref = weakref.ref(_client(model))
        del model
        gc.collect()
        assert ref() is shared_async_client(server.base_url)
        assert _open_connections(pools) == 1
        again = resolve_model(_member(server.base_url))
        assert (await again.ainvoke("again")).content == "1001 = 7 x 11 x 13."
        assert server.connections == 1
        await aclose_http_clients()
