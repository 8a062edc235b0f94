"""The HTTP routes: `/v1/models`, `/v1/chat/completions`, `/v1/fusions/{id}`, `/metrics` (health: _health)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse
from pydantic_core import from_json
from starlette.background import BackgroundTask

from fusion_graph._threads import THREAD_ID_FIX, thread_id_problem
from fusion_graph.server._admission import AdmissionQueue, Ticket
from fusion_graph.server._errors import APIError, from_exception, safe_headers
from fusion_graph.server._limits import check_api_key, read_body
from fusion_graph.server._schema import ChatRequest, completion, parse_request
from fusion_graph.server._service import FusionService, PreparedRun
from fusion_graph.server._streaming import FusionStream

__all__ = ["parse_json", "router"]

router = APIRouter()
logger = logging.getLogger("fusion_graph.server")

_LISTED_UNKNOWN = 20


def _service(request: Request) -> FusionService:
    service: FusionService | None = getattr(request.app.state, "service", None)
    if service is None:  # only between startup and shutdown
        raise APIError(503, "the server is not ready", type="server_error", code="not_ready")
    return service


def _authorize(request: Request) -> None:
    check_api_key(request, request.app.state.api_keys)


def _model_entry(name: str, service: FusionService) -> dict[str, Any]:
    config = service.fusions[name]
    return {
        "id": name,
        "object": "model",
        "created": 0,
        "owned_by": "fusion-graph",
        "fusion": {
            "mode": config.mode,
            "rounds": config.rounds,
            "members": config.member_names,
            "judge": config.effective_judge.name or config.effective_judge.label,
        },
    }


@router.get("/v1/models")
async def list_models(request: Request) -> dict[str, Any]:
    """Every served fusion, as an OpenAI model."""
    _authorize(request)
    service = _service(request)
    return {"object": "list", "data": [_model_entry(name, service) for name in service.fusions]}


@router.get("/v1/models/{model:path}")
async def get_model(model: str, request: Request) -> dict[str, Any]:
    """One served fusion, as an OpenAI model."""
    _authorize(request)
    service = _service(request)
    if model not in service.fusions:
        raise APIError(404, f"The model {model!r} does not exist", param="model", code="model_not_found")
    return _model_entry(model, service)


@router.get("/v1/fusions/{thread_id}")
async def get_fusion(thread_id: str, request: Request) -> dict[str, Any]:
    """A fusion run stored by the checkpointer, read by any worker that shares it."""
    _authorize(request)
    problem = thread_id_problem(thread_id)
    if problem is not None:
        raise APIError(400, f"thread_id: {problem}; {THREAD_ID_FIX}", param="thread_id", code="invalid_value")
    status, result, error = await _service(request).read_thread(thread_id)
    body: dict[str, Any] = {"object": "fusion", "thread_id": thread_id, "status": status}
    if result is not None:
        body["fusion"] = {"thread_id": thread_id, **result.model_dump(mode="json")}
    if error is not None:
        body["error"] = error
    return body


@router.get("/metrics")
async def metrics(request: Request) -> dict[str, Any]:
    """The admission queue of the worker that answers: running, queued, waits, totals."""
    _authorize(request)
    queue: AdmissionQueue = request.app.state.limit
    return queue.metrics()


def parse_json(raw: bytes) -> Any:
    """A request body as JSON: UTF-8, no ``NaN``/``Infinity``, no lone surrogates, nesting bounded.

    Raises:
        APIError: 400 ``invalid_json``.
    """
    try:
        return from_json(raw, allow_inf_nan=False)
    except ValueError as exc:
        raise APIError(400, f"the body is not valid JSON: {exc}", code="invalid_json") from exc


def _report_unknown(chat: ChatRequest) -> None:
    """One warning line naming the request's fields that no model knows (they are ignored)."""
    unknown = chat.unknown_fields()
    if not unknown:
        return
    shown = [name if len(name) <= 80 else name[:77] + "..." for name in unknown[:_LISTED_UNKNOWN]]
    more = f" (and {len(unknown) - len(shown)} more)" if len(unknown) > len(shown) else ""
    logger.warning(
        "POST /v1/chat/completions: ignored unknown fields %s%s",
        json.dumps(shown, ensure_ascii=True),
        more,
    )


async def _disconnected(request: Request) -> None:
    """Return once the client has gone away (the body has been read, so nothing else arrives)."""
    while (await request.receive())["type"] != "http.disconnect":
        pass


async def _wait_in_queue(ticket: Ticket, request: Request) -> bool:
    """Wait for a slot; False when the client went away first (the ticket has left the queue).

    Raises:
        APIError: 429 ``queue_timeout``.
    """
    gone = asyncio.ensure_future(_disconnected(request))
    waiting = asyncio.ensure_future(ticket.wait())
    try:
        await asyncio.wait({gone, waiting}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        gone.cancel()
        if not waiting.done():
            waiting.cancel()  # the ticket leaves the queue
            with contextlib.suppress(asyncio.CancelledError):
                await waiting
    if waiting.cancelled():
        ticket.release()
        return False
    return waiting.result()


async def _check_thread(run: PreparedRun, headers: dict[str, str]) -> None:
    """Apply the thread rule before a stream's headers go out, so a conflict is still a 409.

    Raises:
        APIError: 409 ``thread_conflict``, 400 for a thread without a checkpointer.
    """
    if run.thread_id is None:
        return
    try:
        await run.fusion.plan(run.messages, thread_id=run.thread_id, history=True)
    except Exception as exc:
        error = from_exception(exc)
        error.headers.update(headers)
        raise error from exc


@router.post("/v1/chat/completions")
async def chat_completions(request: Request) -> Response:
    """Fuse the pool's answers to the conversation: JSON, or SSE when ``stream`` is true.

    The request takes a slot, or waits for one in the admission queue: a 429 with a computed
    ``Retry-After`` only when the queue is full or the wait times out.
    """
    _authorize(request)
    raw = await read_body(request, request.app.state.max_body_bytes)
    chat = parse_request(parse_json(raw))
    _report_unknown(chat)
    service = _service(request)
    run = service.prepare(chat)
    queue: AdmissionQueue = request.app.state.limit
    headers = {"x-fusion-thread-id": run.thread_id} if run.thread_id else {}
    if chat.stream:
        await _check_thread(run, headers)
    ticket = queue.admit()
    if chat.stream:
        include_usage = bool(chat.stream_options and chat.stream_options.include_usage)
        stream = FusionStream(service, run, ticket, include_usage=include_usage)
        return StreamingResponse(
            stream.body(),
            media_type="text/event-stream",
            headers=safe_headers({"cache-control": "no-cache", "x-accel-buffering": "no", **headers}),
            background=BackgroundTask(stream.close),
        )
    try:
        if not ticket.running and not await _wait_in_queue(ticket, request):
            return Response(status_code=499)  # nobody is listening
        headers["x-fusion-queue-wait-ms"] = str(round(ticket.waited_s * 1000))
        try:
            result = await service.run(run)
        except Exception as exc:
            error = from_exception(exc)
            error.headers.update(headers)
            raise error from exc
    finally:
        ticket.release()
    body = completion(result, model=run.model, thread_id=run.thread_id)
    return JSONResponse(body, headers=safe_headers(headers))
