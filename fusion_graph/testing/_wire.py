"""Just enough HTTP/1.1 on asyncio streams for the stub server: requests, responses, chunks, faults.

Keep-alive, ``Content-Length`` and chunked bodies, ``Connection: close``; errors in OpenAI's format;
and the low-level faults (hang until the client leaves, reset with a TCP RST).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import struct
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = [
    "HTTPError",
    "Request",
    "abort",
    "hang",
    "read_request",
    "reset",
    "send",
    "send_error",
    "send_json",
    "write_chunk",
    "write_head",
]

_MAX_HEADER_BYTES = 64 * 1024


class HTTPError(Exception):
    """An error answered in OpenAI's format ``{"error": {"message", "type", "param", "code"}}``."""

    def __init__(self, status: int, message: str, type_: str, code: str | None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = type_
        self.code = code


@dataclass
class Request:
    """One HTTP/1.1 request."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    keep_alive: bool


_REASONS = {
    200: "OK",
    400: "Bad Request",
    401: "Unauthorized",
    404: "Not Found",
    405: "Method Not Allowed",
    429: "Too Many Requests",
    500: "Internal Server Error",
    503: "Service Unavailable",
}


async def read_request(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> Request | None:
    """Read one HTTP/1.1 request; None on a clean end of the connection."""
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError as exc:
        if exc.partial.strip():
            raise
        return None
    except asyncio.LimitOverrunError:
        await send_error(
            writer,
            HTTPError(431, "Headers too large.", "invalid_request_error", None),
            close=True,
        )
        return None
    if len(head) > _MAX_HEADER_BYTES:
        await send_error(
            writer,
            HTTPError(431, "Headers too large.", "invalid_request_error", None),
            close=True,
        )
        return None
    lines = head.decode("latin-1").split("\r\n")
    try:
        method, target, version = lines[0].split(" ", 2)
    except ValueError:
        await send_error(
            writer,
            HTTPError(400, "Bad request line.", "invalid_request_error", None),
            close=True,
        )
        return None
    headers: dict[str, str] = {}
    for line in lines[1:]:
        if ":" in line:
            key, value = line.split(":", 1)
            headers[key.strip().lower()] = value.strip()
    if headers.get("transfer-encoding", "").lower() == "chunked":
        parts = []
        while True:
            size_line = await reader.readuntil(b"\r\n")
            size = int(size_line.split(b";", 1)[0].strip() or b"0", 16)
            if size == 0:
                await reader.readuntil(b"\r\n")
                break
            parts.append(await reader.readexactly(size))
            await reader.readexactly(2)
        body = b"".join(parts)
    else:
        length = int(headers.get("content-length", "0") or 0)
        body = await reader.readexactly(length) if length else b""
    connection = headers.get("connection", "").lower()
    if version.upper() == "HTTP/1.0":
        keep_alive = "keep-alive" in connection
    else:
        keep_alive = "close" not in connection
    return Request(method.upper(), target, headers, body, keep_alive)


async def write_head(
    writer: asyncio.StreamWriter, status: int, headers: Mapping[str, str], *, close: bool
) -> None:
    """Write a status line and headers."""
    lines = [f"HTTP/1.1 {status} {_REASONS.get(status, 'Error')}"]
    all_headers = {
        "Server": "fusion-graph-openai-stub",
        "Date": time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime()),
        **headers,
        "Connection": "close" if close else "keep-alive",
    }
    lines.extend(f"{k}: {v}" for k, v in all_headers.items())
    writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
    await writer.drain()


async def send(
    writer: asyncio.StreamWriter,
    status: int,
    headers: Mapping[str, str],
    body: bytes,
    *,
    close: bool,
) -> None:
    """Write a whole response with a ``Content-Length`` body."""
    await write_head(writer, status, {**headers, "Content-Length": str(len(body))}, close=close)
    writer.write(body)
    await writer.drain()


async def send_json(writer: asyncio.StreamWriter, status: int, payload: Any, *, close: bool) -> None:
    """Write a JSON response."""
    await send(
        writer,
        status,
        {"Content-Type": "application/json"},
        json.dumps(payload).encode(),
        close=close,
    )


async def send_error(
    writer: asyncio.StreamWriter,
    error: HTTPError,
    *,
    close: bool,
    headers: Mapping[str, str] | None = None,
) -> None:
    """Write an error in OpenAI's format."""
    payload = {
        "error": {
            "message": error.message,
            "type": error.type,
            "param": None,
            "code": error.code,
        }
    }
    await send(
        writer,
        error.status,
        {"Content-Type": "application/json", **(headers or {})},
        json.dumps(payload).encode(),
        close=close,
    )


async def write_chunk(writer: asyncio.StreamWriter, data: bytes) -> None:
    """Write one chunk of a chunked body."""
    writer.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
    await writer.drain()


async def hang(reader: asyncio.StreamReader) -> None:
    """Wait until the client disconnects (or the task is cancelled)."""
    with contextlib.suppress(ConnectionError):
        while await reader.read(65536):
            pass


def reset(writer: asyncio.StreamWriter) -> None:
    """Close the connection with a TCP RST rather than a clean FIN."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    abort(writer)


def abort(writer: asyncio.StreamWriter) -> None:
    """Drop the connection at once."""
    transport = writer.transport
    with contextlib.suppress(Exception):
        transport.abort()
