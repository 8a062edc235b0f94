"""A TCP load balancer on 127.0.0.1 for replica tests: round robin over the ready backends.

It does what any load balancer in front of ``fusion serve`` replicas does, and no more: a health check
of each backend's ``GET /health/ready`` every ``interval`` seconds, new connections to the next ready
backend (the next one again when a connect is refused), and a connection's bytes piped both ways until
either side closes. A backend that dies mid-request closes its client's connection: the client sees
the connection drop and retries, as the OpenAI SDKs do.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import socket
import threading
from collections.abc import Callable

import httpx


class Balancer:
    """``with Balancer(backends) as lb: lb.url``; ``backends()`` gives the current backend URLs."""

    def __init__(self, backends: Callable[[], list[str]], *, interval: float = 0.1) -> None:
        self.backends = backends
        self.interval = interval
        self.ready: set[str] = set()
        self.connections = 0
        self._sock = socket.socket()
        self._sock.bind(("127.0.0.1", 0))
        self.port: int = self._sock.getsockname()[1]
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._turn = itertools.count()
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> Balancer:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(10)
        return self

    def __exit__(self, *exc: object) -> None:
        asyncio.run_coroutine_threadsafe(self._stop(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    async def _start(self) -> None:
        self._server = await asyncio.start_server(self._serve, sock=self._sock)
        self._spawn(self._check())

    async def _stop(self) -> None:
        self._server.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def _spawn(self, coro: object) -> None:
        task = asyncio.ensure_future(coro)  # type: ignore[arg-type]
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _check(self) -> None:
        async with httpx.AsyncClient(timeout=1) as http:
            while True:
                ready = set()
                for url in self.backends():
                    with contextlib.suppress(httpx.HTTPError):
                        if (await http.get(f"{url}/health/ready")).status_code == 200:
                            ready.add(url)
                self.ready = ready
                await asyncio.sleep(self.interval)

    async def _connect(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter] | None:
        candidates = [url for url in self.backends() if url in self.ready]
        if not candidates:
            return None
        start = next(self._turn)
        for i in range(len(candidates)):
            url = candidates[(start + i) % len(candidates)]
            host, port = url.removeprefix("http://").split(":")
            try:
                return await asyncio.open_connection(host, int(port))
            except OSError:
                self.ready.discard(url)
        return None

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._spawn(self._pipe_pair(reader, writer))

    async def _pipe_pair(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        backend = await self._connect()
        if backend is None:
            writer.close()
            return
        up_reader, up_writer = backend
        try:
            await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))
        finally:
            for w in (writer, up_writer):
                w.close()


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Copy until EOF or an error, then close the writer (so the other direction ends too)."""
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        writer.close()
