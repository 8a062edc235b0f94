"""Who may call and how much: API keys and the request size limit (the queue is ``_admission``)."""

from __future__ import annotations

import hmac
from collections.abc import Iterable

from starlette.requests import Request

from fusion_graph.server._errors import APIError
from tool_registry.server import is_loopback

__all__ = ["check_api_key", "is_loopback", "parse_api_keys", "read_body"]


def parse_api_keys(value: str | Iterable[str] | None) -> tuple[str, ...]:
    """API keys from a comma-separated string (``FUSION_API_KEYS``) or a list; blanks dropped."""
    if value is None:
        return ()
    items = value.split(",") if isinstance(value, str) else list(value)
    return tuple(key.strip() for key in items if key.strip())


def check_api_key(request: Request, keys: tuple[str, ...]) -> None:
    """Check ``Authorization: Bearer <key>`` against the keys (any key passes when there are none).

    Raises:
        APIError: 401 when the key is missing or wrong.
    """
    if not keys:
        return
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise APIError(
            401,
            "missing API key: send 'Authorization: Bearer <key>'",
            type="authentication_error",
            code="missing_api_key",
        )
    token = token.strip().encode()
    if not any(hmac.compare_digest(token, key.encode()) for key in keys):
        raise APIError(401, "incorrect API key", type="authentication_error", code="invalid_api_key")


async def read_body(request: Request, limit: int) -> bytes:
    """The request body, refusing more than ``limit`` bytes without reading past it.

    Raises:
        APIError: 413 when the body (declared or streamed) is larger than the limit.
    """
    too_large = APIError(
        413,
        f"the request body is larger than {limit} bytes",
        code="request_too_large",
    )
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise too_large
    size = 0
    parts: list[bytes] = []
    async for part in request.stream():
        size += len(part)
        if size > limit:
            raise too_large
        parts.append(part)
    return b"".join(parts)
