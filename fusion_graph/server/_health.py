"""Health checks for orchestrators and load balancers: liveness (`/health`) and readiness (`/health/ready`).

Neither needs an API key. Liveness is 200 while the process works (also while it starts or
drains), 503 once its startup failed. Readiness is 200 only when requests are served: 503 while
the server starts (reaching PostgreSQL, migrating), once it stops, and after a failed start.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from fusion_graph.server._readiness import Readiness

__all__ = ["router"]

router = APIRouter()


@router.get("/health")
async def health(request: Request) -> JSONResponse:
    """Liveness: ``{"status": "ok", "phase": …}``; 503, ``status: failed`` and the error, if start failed."""
    readiness: Readiness = request.app.state.readiness
    if readiness.phase == "failed":
        return JSONResponse(readiness.body(), status_code=503)
    return JSONResponse({"status": "ok", "phase": readiness.phase})


@router.get("/health/ready")
async def ready(request: Request) -> JSONResponse:
    """Readiness: 200 ``{"status": "ready"}``, else 503 with the phase (and the startup's error)."""
    readiness: Readiness = request.app.state.readiness
    return JSONResponse(readiness.body(), status_code=200 if readiness.phase == "ready" else 503)
