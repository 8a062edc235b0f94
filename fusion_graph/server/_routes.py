"""The HTTP routes: ``/v1/models``, ``/v1/chat/completions``, ``/v1/fusions/{thread_id}``, ``/health``."""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse
from starlette.background import BackgroundTask

from fusion_graph.server._errors import APIError, from_exception
from fusion_graph.server._limits import ConcurrencyLimit, check_api_key, read_body
from fusion_graph.server._schema import completion, parse_request
from fusion_graph.server._service import FusionService
from fusion_graph.server._streaming import FusionStream

__all__ = ["router"]

router = APIRouter()


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


@router.get("/health")
async def health() -> dict[str, str]:
    """Liveness: no key needed."""
    return {"status": "ok"}


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
    status, result, error = await _service(request).read_thread(thread_id)
    body: dict[str, Any] = {"object": "fusion", "thread_id": thread_id, "status": status}
    if result is not None:
        body["fusion"] = {"thread_id": thread_id, **result.model_dump(mode="json")}
    if error is not None:
        body["error"] = error
    return body


@router.post("/v1/chat/completions")
async def chat_completions(request: Request) -> Response:
    """Fuse the pool's answers to the conversation: JSON, or SSE when ``stream`` is true."""
    _authorize(request)
    raw = await read_body(request, request.app.state.max_body_bytes)
    try:
        body = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise APIError(400, f"the body is not valid JSON: {exc}", code="invalid_json") from exc
    chat = parse_request(body)
    service = _service(request)
    run = service.prepare(chat)
    limit: ConcurrencyLimit = request.app.state.limit
    headers = {"x-fusion-thread-id": run.thread_id} if run.thread_id else {}
    if not chat.stream:
        async with limit.slot():
            try:
                result = await service.run(run)
            except Exception as exc:
                error = from_exception(exc)
                error.headers.update(headers)
                raise error from exc
        return JSONResponse(completion(result, model=run.model, thread_id=run.thread_id), headers=headers)
    limit.acquire()
    include_usage = bool(chat.stream_options and chat.stream_options.include_usage)
    stream = FusionStream(service, run, include_usage=include_usage, on_close=limit.release)
    try:
        await stream.started()
    except Exception as exc:
        error = from_exception(exc)
        error.headers.update(headers)
        raise error from exc
    except BaseException:
        stream.close()
        raise
    return StreamingResponse(
        stream.body(),
        media_type="text/event-stream",
        headers={"cache-control": "no-cache", "x-accel-buffering": "no", **headers},
        background=BackgroundTask(stream.close),
    )
