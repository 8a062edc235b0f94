"""MCP elicitation through the registry: a real server (stdio and HTTP) asks, the caller's handler answers.

Also the structured results checked against a tool's ``outputSchema``, and the protocol revision
the registry negotiates with the newest test server and with an older PyPI one.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest
from mcp_types.version import LATEST_HANDSHAKE_VERSION, OLDEST_SUPPORTED_VERSION

from tool_registry import ToolRegistry
from tool_registry.elicitation import ElicitationRequest, ElicitationResponse, handling_elicitation

from ._helpers import PY, SERVERS, TIME_SERVER, http_mcp_server

ELICIT = str(SERVERS / "mcp_elicit.py")


def stdio_registry(log: Path | None = None, **kwargs: object) -> ToolRegistry:
    registry = ToolRegistry(timeout=20, **kwargs)  # type: ignore[arg-type]
    env = {"MCP_ELICIT_LOG": str(log)} if log is not None else {}
    registry.add_mcp_server("bank", command=PY, args=[ELICIT], env=env)
    return registry


@pytest.mark.timeout(60)
async def test_the_callers_handler_answers_with_the_servers_message_and_schema():
    seen: list[ElicitationRequest] = []

    async def approve(request: ElicitationRequest) -> ElicitationResponse:
        seen.append(request)
        return ElicitationResponse("accept", {"confirm": True, "note": "rent"})

    async with stdio_registry() as registry:
        with handling_elicitation(approve):
            result = await registry.call("bank__transfer", {"amount": 5})
    assert not result.is_error, result.text
    assert result.text == "transferred 5 EUR (rent)"
    (request,) = seen
    assert (request.server, request.tool, request.message, request.mode) == (
        "bank",
        "transfer",
        "Transfer 5 EUR?",
        "form",
    )
    assert request.requested_schema is not None
    assert set(request.requested_schema["properties"]) == {"confirm", "note"}


@pytest.mark.timeout(60)
async def test_without_a_handler_the_request_is_declined_with_a_log_line(caplog: pytest.LogCaptureFixture):
    caplog.set_level(logging.WARNING, logger="tool_registry.mcp_client")
    async with stdio_registry() as registry:
        result = await registry.call("bank__transfer", {"amount": 7})
    assert result.text == "transfer declined by the user"
    assert any("no elicitation handler is set" in r.getMessage() for r in caplog.records)


@pytest.mark.timeout(60)
async def test_the_registrys_own_handler_answers_calls_made_outside_any_block():
    async def cancel(request: ElicitationRequest) -> ElicitationResponse:
        return ElicitationResponse("cancel")

    async with stdio_registry(elicitation_handler=cancel) as registry:
        result = await registry.call("bank__transfer", {"amount": 1})
    assert result.text == "transfer cancelled"


@pytest.mark.timeout(60)
async def test_concurrent_callers_each_answer_the_requests_routed_to_them(tmp_path: Path):
    log = tmp_path / "asked.log"
    answered: list[str] = []

    def handler(note: str):
        async def answer(request: ElicitationRequest) -> ElicitationResponse:
            answered.append(request.message)
            return ElicitationResponse("accept", {"confirm": True, "note": note})

        return answer

    async def call(amount: int, note: str) -> str:
        with handling_elicitation(handler(note)):
            return (await registry.call("bank__transfer", {"amount": amount})).text

    async with stdio_registry(log) as registry:
        texts = await asyncio.gather(*(call(n, f"caller {n}") for n in (1, 2, 3)))
    assert len(log.read_text().splitlines()) == 3
    assert sorted(answered) == ["Transfer 1 EUR?", "Transfer 2 EUR?", "Transfer 3 EUR?"]
    for amount, text in zip((1, 2, 3), texts, strict=True):
        assert text.startswith(f"transferred {amount} EUR (caller ")


@pytest.mark.timeout(60)
async def test_elicitation_over_streamable_http():
    async def approve(request: ElicitationRequest) -> ElicitationResponse:
        return ElicitationResponse("accept", {"confirm": False})

    with http_mcp_server(ELICIT) as url:
        registry = ToolRegistry(timeout=20)
        registry.add_mcp_server("bank", url=url)
        async with registry:
            with handling_elicitation(approve):
                result = await registry.call("bank__transfer", {"amount": 9})
    assert result.text == "not confirmed"


@pytest.mark.timeout(60)
async def test_a_structured_result_that_breaks_its_output_schema_is_a_tool_error_not_a_crash():
    async with stdio_registry() as registry:
        info = registry.get("bank__reading")
        assert info.output_schema is not None
        assert info.output_schema["properties"]["celsius"]["type"] == "number"
        result = await registry.call("bank__reading", {})
        still = await registry.call("bank__transfer", {"amount": 2})  # the session is fine
    assert result.is_error and result.error_kind == "invalid_output"
    assert "does not match the tool's outputSchema" in result.text and "celsius" in result.text
    assert still.text == "transfer declined by the user"


@pytest.mark.timeout(60)
async def test_a_matching_structured_result_passes(tmp_path: Path):
    registry = ToolRegistry(timeout=20)
    registry.add_mcp_server("basic", command=PY, args=[str(SERVERS / "mcp_basic.py")])
    async with registry:
        result = await registry.call("basic__weather", {"city": "Oslo"})
    assert not result.is_error
    assert result.structured == {"city": "Oslo", "celsius": 21.5}


@pytest.mark.timeout(60)
async def test_revisions_the_sdks_newest_handshake_a_pypi_server_and_the_oldest_revision():
    registry = ToolRegistry(timeout=20)
    registry.add_mcp_server("bank", command=PY, args=[ELICIT])
    registry.add_mcp_server("time", command=TIME_SERVER)
    registry.add_mcp_server("legacy", command=PY, args=[str(SERVERS / "mcp_legacy.py")])
    async with registry:
        revisions = {name: conn.protocol_version for name, conn in registry.servers.items()}
        now = await registry.call("time__get_current_time", {"timezone": "UTC"})
        shout = await registry.call("legacy__shout", {"text": "hello"})
    assert revisions == {
        "bank": LATEST_HANDSHAKE_VERSION,
        "time": LATEST_HANDSHAKE_VERSION,
        "legacy": OLDEST_SUPPORTED_VERSION,
    }
    assert not now.is_error and "UTC" in now.text
    assert shout.text == "HELLO"
