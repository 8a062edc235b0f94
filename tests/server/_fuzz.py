"""What the fuzz tests share: the served fusions, the bar every response must meet, the server's log.

The bar (issue 20): no response at or above 500, no dropped connection, every error OpenAI-shaped
(``{"error": {"message", "type", "param", "code"}}``), a stream that ends in ``[DONE]`` or an error
event, and nothing logged at ERROR by the server while it answered.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
from fastapi import FastAPI
from langgraph.checkpoint.memory import InMemorySaver

from fusion_graph.server import create_app

from .conftest import pool_config

MODELS = ("fusion/best-of", "fusion/merge")
MEMBERS = ("alpha", "beta", "gamma")
ERROR_KEYS = {"message", "type", "param", "code"}


def fuzz_app() -> FastAPI:
    """Two fusions of three scripted members, with a checkpointer so thread ids run too."""
    fusions = {model: pool_config(mode=model.split("/")[1]) for model in MODELS}
    return create_app(fusions, checkpointer=InMemorySaver(), max_body_bytes=200_000)


def check_error_body(data: Any, where: str) -> None:
    assert isinstance(data, dict) and set(data) == {"error"}, f"{where}: not an OpenAI error: {data!r}"
    error = data["error"]
    assert isinstance(error, dict) and set(error) == ERROR_KEYS, f"{where}: not an OpenAI error: {data!r}"
    assert isinstance(error["message"], str) and error["message"], where
    assert isinstance(error["type"], str), where


def check_response(response: httpx.Response, body: str, where: str) -> None:
    """The bar for one response whose body has been read (``body``: its text)."""
    status = response.status_code
    assert status < 500, f"{where}: {status} {body[:500]}"
    if status >= 400:
        check_error_body(json.loads(body), f"{where} ({status})")
        return
    if response.headers.get("content-type", "").startswith("text/event-stream"):
        events = [line[6:] for line in body.split("\n") if line.startswith("data: ")]
        assert events, f"{where}: an empty stream"
        for event in events[:-1]:
            assert json.loads(event).get("object") == "chat.completion.chunk", f"{where}: {event[:300]}"
        last = events[-1]
        if last != "[DONE]":
            data = json.loads(last)
            check_error_body(data, f"{where} (stream)")
            assert data["error"]["type"] != "server_error", f"{where}: {last}"
    else:
        assert isinstance(json.loads(body), dict), where


class ErrorLog(logging.Handler):
    """Collects what the server logs at ERROR (uvicorn's "Exception in ASGI application", …)."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(self.format(record))


@contextmanager
def server_errors() -> Iterator[ErrorLog]:
    """Watch the loggers of uvicorn and fusion_graph while the block runs."""
    handler = ErrorLog()
    loggers = [logging.getLogger(name) for name in ("uvicorn.error", "uvicorn", "fusion_graph", "")]
    for logger in loggers:
        logger.addHandler(handler)
    try:
        yield handler
    finally:
        for logger in loggers:
            logger.removeHandler(handler)
