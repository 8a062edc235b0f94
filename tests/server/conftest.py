"""A real uvicorn on 127.0.0.1 (a free port, in a thread) serving fusions of scripted members."""

from __future__ import annotations

import asyncio
import os
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, NoReturn

import pytest
import uvicorn
from fastapi import FastAPI

from fusion_graph import FusionConfig, Judge, Member
from fusion_graph.testing import ScriptedChatModel


class LiveServer:
    """uvicorn in a thread; ``stop()`` is uvicorn's graceful shutdown (as on SIGTERM)."""

    def __init__(self, app: FastAPI, *, graceful_s: int = 10) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.port: int = self.sock.getsockname()[1]
        config = uvicorn.Config(
            app, log_level="warning", lifespan="on", timeout_graceful_shutdown=graceful_s, access_log=False
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.error: BaseException | None = None

    def _run(self) -> None:
        try:
            asyncio.run(self.server.serve(sockets=[self.sock]))
        except BaseException as exc:  # noqa: BLE001 - reported by start()
            self.error = exc

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def base_url(self) -> str:
        return f"{self.url}/v1"

    def start(self) -> LiveServer:
        self.thread.start()
        deadline = time.monotonic() + 15
        while not self.server.started:
            if self.error is not None or not self.thread.is_alive():
                raise RuntimeError(f"uvicorn did not start: {self.error!r}")
            if time.monotonic() > deadline:
                raise RuntimeError("uvicorn did not start in 15 s")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(20)
        self.sock.close()


@contextmanager
def serve(app: FastAPI, **kwargs: Any) -> Iterator[LiveServer]:
    server = LiveServer(app, **kwargs).start()
    try:
        yield server
    finally:
        server.stop()


def in_ci() -> bool:
    """Whether ``CI`` is set to a true value (``.ci/run`` sets ``CI=true``, as hosted CI does)."""
    return os.environ.get("CI", "").strip().lower() in ("1", "true", "yes", "on")


def service_missing(reason: str) -> NoReturn:
    """Skip a test whose service (PostgreSQL, a second worker) is missing; fail instead under CI.

    Locally a missing service is an optional test; under CI it is a broken build, and a skip would let
    it pass unseen.
    """
    if in_ci():
        pytest.fail(f"{reason} (CI is set, so this test must run)", pytrace=False)
    pytest.skip(reason)


def scripted(*script: Any, latency: float = 0.0) -> ScriptedChatModel:
    return ScriptedChatModel(script=list(script), latency=latency)


def pool_config(
    *, latency: float = 0.0, failing: bool = False, mode: str = "best-of", **kwargs: Any
) -> FusionConfig:
    """Three scripted members (alpha, beta, gamma) and a scripted judge."""
    if failing:
        members = [
            Member(scripted(RuntimeError(f"{n} is down")), name=n, timeout=5)
            for n in ("alpha", "beta", "gamma")
        ]
    else:
        members = [
            Member(scripted("1001 = 7 x 11 x 13, not prime.", latency=latency), name="alpha"),
            Member(scripted("1001 is not prime: 7 x 143.", latency=latency), name="beta"),
            Member(scripted("Not prime.", latency=latency), name="gamma"),
        ]
    return FusionConfig(pool=members, judge=Judge(ScriptedChatModel(), name="judge"), mode=mode, **kwargs)


ANSWERS = {"1001 = 7 x 11 x 13, not prime.", "1001 is not prime: 7 x 143.", "Not prime."}


@pytest.fixture
def fusions() -> dict[str, FusionConfig]:
    return {"fusion/best-of": pool_config(), "fusion/debate": pool_config(mode="debate", rounds=1)}


@pytest.fixture
def live(fusions: dict[str, FusionConfig]) -> Iterator[LiveServer]:
    from fusion_graph.server import create_app

    with serve(create_app(fusions, api_keys=["sk-test"])) as server:
        yield server
