"""One shared, sharded async HTTP connection pool per ``base_url`` for OpenAI-compatible models.

Why: every fusion makes N member calls and a judge call, usually to one or two servers. Left alone,
each ``ChatOpenAI`` uses the OpenAI SDK's default client (1000 connections at most, one connection
pool), and a pool's CPU per request grows with its connections: on every request that starts or ends
it re-checks its idle connections (a readability probe each). Measured with
``bench/concurrency.py --levels 200 --shards S`` (200 concurrent gather+judge baselines, 600
connections, 2 cores): client CPU 8.1 s with one pool, 3.4 s with 16, 2.7 s with 64. So
:func:`shared_async_client` gives all models that talk to one ``base_url`` one ``AsyncClient`` whose
transport spreads requests over :data:`DEFAULT_SHARDS` independent pools (:class:`ShardedTransport`),
each request to the pool with the fewest requests in flight (so a lone request keeps reusing the
first pool's keep-alive connection, and light load opens no more connections than one pool would).

What ``resolve_model`` does with it: the ``openai``, ``openrouter``, ``openai-compatible``, ``vllm``,
``llamacpp`` and ``lmstudio`` providers (all ``ChatOpenAI``) get ``http_async_client=`` the shared
client of their ``base_url``, unless

- the spec's ``params`` hold ``http_async_client`` (your client is used; ``None`` means the SDK's own
  default client, i.e. opting out for that member), or
- the environment sets ``FUSION_GRAPH_SHARED_HTTP=0`` (opt out everywhere), or
- an HTTP proxy from the environment applies to that URL (a custom transport would bypass it, so
  the SDK's default client, which honours it, is kept).

Sync calls (``invoke``) are untouched: they use the SDK's own sync client; no sync client is made here.
``ollama`` (its own client library), ``anthropic`` and ``mistral`` (their clients carry the key and
base URL, so they cannot share one per URL) keep their integrations' clients.

Limits and timeouts: no cap on connections (each shard's pool is unbounded; how many calls are in
flight is bounded by how many fusions you run, or by ``fusion serve --max-concurrency``); idle
connections are kept 5 s. The per-request timeout is the model's own (the spec's ``timeout``,
120 s by default, which the SDK sends with every request); the client's own default (600 s, 5 s to
connect) applies only to requests that carry none. TCP keep-alive probes are on, as in the
integration's default client, so a silently dead peer is noticed within about two minutes.

Event loops: connections belong to the loop that opened them. The shared client itself is loop-free
(models resolved outside any loop can hold it); its transport keeps one :class:`ShardedTransport` per
running loop, weakly keyed by the loop, made on that loop's first request. When the loop is shut
down by ``asyncio.run`` (or any runner that finalises async generators) its pools are closed; an
explicit ``await aclose_http_clients()`` closes the calling loop's pools at once (the clients stay
usable and reopen connections on the next request). Nothing is created at import time.
"""

from __future__ import annotations

import asyncio
import functools
import os
import socket
import ssl
import threading
import urllib.request
import weakref
from collections.abc import AsyncGenerator
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

if TYPE_CHECKING:
    import httpx
else:
    try:  # the OpenAI SDK >= 3 is built on httpx2 (the same API); older ones on httpx
        import httpx2 as httpx
    except ImportError:  # pragma: no cover - depends on the installed SDK
        import httpx

__all__ = [
    "DEFAULT_SHARDS",
    "ENV_SWITCH",
    "ShardedTransport",
    "aclose_http_clients",
    "shared_async_client",
    "shared_http_enabled",
]

DEFAULT_SHARDS = 64
"""Connection pools per base URL and event loop (more: less CPU per request at high concurrency)."""

ENV_SWITCH = "FUSION_GRAPH_SHARED_HTTP"
"""Set to ``0`` to keep every integration's own HTTP client."""

_CLIENT_TIMEOUT = (600.0, 5.0)
"""(read/write/pool, connect) seconds, for requests that do not carry the model's own timeout."""


def _socket_options() -> list[tuple[int, int, int]]:
    """TCP keep-alive probes (idle 60 s, every 10 s, 3 probes) and a 120 s user timeout, where known."""
    options = [(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)]
    for name, value in (
        ("TCP_KEEPIDLE", 60),
        ("TCP_KEEPINTVL", 10),
        ("TCP_KEEPCNT", 3),
        ("TCP_USER_TIMEOUT", 120_000),
    ):
        if hasattr(socket, name):
            options.append((socket.IPPROTO_TCP, getattr(socket, name), value))
    return options


@functools.cache
def _ssl_context() -> ssl.SSLContext:
    """The default TLS context of httpx (certifi's CA bundle), made once per process and shared.

    Building one costs about 20 ms of CPU; 64 shards each building their own made a loop's first
    request take over a second.
    """
    return httpx.create_ssl_context()


class ShardedTransport(httpx.AsyncBaseTransport):
    """Several independent connection pools; each request goes to the one with the fewest in flight.

    One pool's bookkeeping scans its connections on every request start and end, so its CPU cost
    per request grows with the number of connections; ``shards`` pools of ``1/shards`` of the
    connections each divide that cost by ``shards``. Pools are opened lazily by httpx (an unused
    shard holds no connection). Bound to one event loop, like any connection pool.

    Args:
        shards: How many pools.
        socket_options: Options set on every new connection's socket.
    """

    def __init__(
        self, shards: int = DEFAULT_SHARDS, socket_options: list[tuple[int, int, int]] | None = None
    ) -> None:
        if shards < 1:
            raise ValueError("shards must be at least 1")
        limits = httpx.Limits(max_connections=None, max_keepalive_connections=None, keepalive_expiry=5.0)
        verify = _ssl_context()  # one for all pools: each default one loads the CA bundle (~20 ms)
        self.pools = [
            httpx.AsyncHTTPTransport(verify=verify, limits=limits, socket_options=socket_options)
            for _ in range(shards)
        ]
        self.in_flight = [0] * shards
        """Requests sent and not yet answered (headers), per pool."""

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Send ``request`` through the least busy pool (the first one on ties)."""
        counts = self.in_flight
        i = counts.index(min(counts))
        counts[i] += 1
        try:
            return await self.pools[i].handle_async_request(request)
        finally:
            counts[i] -= 1

    async def aclose(self) -> None:
        """Close every pool's connections."""
        for pool in self.pools:
            await pool.aclose()


class _PerLoopTransport(httpx.AsyncBaseTransport):
    """Dispatch each request to the running loop's own :class:`ShardedTransport`, made on first use."""

    def __init__(self, shards: int) -> None:
        self.shards = shards
        self._lock = threading.Lock()  # the sync API's loop runs in another thread
        self._by_loop: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _LoopPools] = (
            weakref.WeakKeyDictionary()
        )

    def _pools(self) -> ShardedTransport:
        loop = asyncio.get_running_loop()
        entry = self._by_loop.get(loop)
        if entry is None:
            with self._lock:
                self._forget_closed_loops()
                entry = self._by_loop[loop] = _LoopPools(ShardedTransport(self.shards, _socket_options()))
            _ALL.add(self)
        return entry.transport

    def _forget_closed_loops(self) -> None:
        for loop in [lp for lp in self._by_loop if lp.is_closed()]:
            self._by_loop.pop(loop, None)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Send ``request`` through this loop's pools."""
        return await self._pools().handle_async_request(request)

    async def aclose(self) -> None:
        """Close the running loop's pools (other loops' pools are theirs to close)."""
        with self._lock:
            entry = self._by_loop.pop(asyncio.get_running_loop(), None)
        if entry is not None:
            await entry.close()

    def loops(self) -> int:
        """How many live loops hold pools here (for tests)."""
        with self._lock:
            return sum(1 for loop in list(self._by_loop) if not loop.is_closed())


class _LoopPools:
    """One loop's pools, closed when the loop finalises its async generators (``asyncio.run``'s end).

    The loop keeps its async generators in a weak set and closes each on shutdown; :attr:`_guard`,
    held here, is such a generator whose ``finally`` closes the pools on the loop while it still runs.
    """

    def __init__(self, transport: ShardedTransport) -> None:
        self.transport = transport
        self._guard = self._close_at_shutdown()
        # Start it, so the running loop's first-iteration hook registers it for finalisation. The
        # first step only reaches the ``yield`` (no await), so stepping it by hand is safe.
        try:
            self._guard.asend(None).send(None)
        except StopIteration:
            pass

    async def _close_at_shutdown(self) -> AsyncGenerator[None, None]:
        try:
            yield
        finally:
            await self.transport.aclose()

    async def close(self) -> None:
        """Close the pools now (through the guard, so that nothing is left to finalise later)."""
        await self._guard.aclose()


_lock = threading.Lock()
_CLIENTS: dict[tuple[str, int], httpx.AsyncClient] = {}
"""The shared client of each (base URL, shards), kept for the process (as the integrations keep
their default clients). Never dropped while a loop runs: a pool dropped unclosed has its sockets
closed by the garbage collector behind the loop's back, and a new connection that reuses such a file
descriptor is never woken by the loop's selector (a request then hangs; seen in bench/concurrency.py)."""
_ALL: set[_PerLoopTransport] = set()
"""Transports that have made pools on some loop, for :func:`aclose_http_clients`."""


def shared_http_enabled(base_url: str | None) -> bool:
    """Whether models talking to ``base_url`` get the shared client (see the module's docstring)."""
    if os.environ.get(ENV_SWITCH, "1").strip().lower() in ("0", "false", "no", "off"):
        return False
    if not base_url:
        return False
    host = urlsplit(base_url).hostname or ""
    proxies = urllib.request.getproxies()
    scheme = urlsplit(base_url).scheme
    if (proxies.get(scheme) or proxies.get("all")) and not urllib.request.proxy_bypass(host):
        return False
    return True


def shared_async_client(base_url: str, shards: int = DEFAULT_SHARDS) -> httpx.AsyncClient:
    """The async HTTP client shared by every model that talks to ``base_url``.

    Made on first request for a URL and kept for the process. Safe to use from any
    event loop: each loop gets its own pools (see the module's docstring).

    Args:
        base_url: The model's base URL (as the spec gives it; the client sends absolute URLs).
        shards: Connection pools per loop.
    """
    key = (base_url, shards)
    with _lock:
        client = _CLIENTS.get(key)
        if client is None:
            client = httpx.AsyncClient(
                transport=_PerLoopTransport(shards),
                timeout=httpx.Timeout(_CLIENT_TIMEOUT[0], connect=_CLIENT_TIMEOUT[1]),
            )
            _CLIENTS[key] = client
        return client


async def aclose_http_clients() -> None:
    """Close the connections the shared clients hold on the running event loop.

    The clients stay usable: the next request on this loop opens new connections. Pools of other
    loops are left to those loops (each loop's pools also close when ``asyncio.run`` ends it).
    """
    for transport in list(_ALL):
        await transport.aclose()
