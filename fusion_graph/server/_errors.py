"""OpenAI's error format, ``{"error": {"message", "type", "param", "code"}}``, and status codes."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from fusion_graph.errors import (
    AllMembersFailed,
    ConfigError,
    FusionRunError,
    JudgeFailed,
    StructuredOutputError,
    ThreadConflict,
)

__all__ = ["APIError", "error_body", "from_exception", "header_value", "safe_headers"]


class APIError(Exception):
    """An HTTP error in OpenAI's format.

    Attributes:
        status: The HTTP status code.
        message: What went wrong and how to fix it.
        type: OpenAI's error type (``invalid_request_error``, ``authentication_error``, …).
        param: The request field at fault, if any.
        code: A short machine-readable code.
    """

    def __init__(
        self,
        status: int,
        message: str,
        *,
        type: str = "invalid_request_error",
        param: str | None = None,
        code: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = type
        self.param = param
        self.code = code
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        """The JSON body of the error response."""
        return error_body(self.message, type=self.type, param=self.param, code=self.code)


def error_body(
    message: str, *, type: str, param: str | None = None, code: str | None = None
) -> dict[str, Any]:
    """An OpenAI error body."""
    return {"error": {"message": message, "type": type, "param": param, "code": code}}


def header_value(value: str) -> str:
    """``value`` fit for an HTTP header: any character outside visible ASCII is %-encoded (UTF-8).

    Every header the server sets goes through here, so no client input reaches a header
    unencoded (a NUL or a character outside Latin-1 would break the response).
    """
    if all(" " <= char <= "~" for char in value):
        return value
    return "".join(
        char if " " <= char <= "~" else quote(char, safe="", errors="surrogatepass") for char in value
    )


def safe_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """Headers with every value passed through :func:`header_value`."""
    return {name: header_value(value) for name, value in headers.items()}


def from_exception(exc: BaseException) -> APIError:
    """The API error for an exception raised while a fusion ran."""
    if isinstance(exc, APIError):
        return exc
    if isinstance(exc, ThreadConflict):
        return APIError(409, str(exc), param=exc.field, code="thread_conflict")
    if isinstance(exc, ConfigError):
        return APIError(400, str(exc), param=exc.field.split(".")[0] or None, code="invalid_value")
    if isinstance(exc, AllMembersFailed):
        return APIError(502, str(exc), type="fusion_error", code="all_members_failed")
    if isinstance(exc, JudgeFailed):
        causes = "; ".join(exc.causes)
        return APIError(502, f"{exc} (attempts: {causes})", type="fusion_error", code="judge_failed")
    if isinstance(exc, StructuredOutputError):
        return APIError(
            502, str(exc), type="fusion_error", param="response_format", code="invalid_structured_output"
        )
    if isinstance(exc, FusionRunError):
        return APIError(502, str(exc), type="fusion_error", code="fusion_failed")
    return APIError(
        500, f"internal error: {type(exc).__name__}: {exc}", type="server_error", code="internal_error"
    )
