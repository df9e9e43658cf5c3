"""Probes and metrics: ``/health/live``, ``/health/ready`` and ``/metrics`` (no credentials)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST
from sqlalchemy import text

from greenscore.serving._db import engine
from greenscore.serving.schemas import HealthOut

router = APIRouter(tags=["health"])


@router.get(
    "/health/live",
    response_model=HealthOut,
    operation_id="health_live",
    summary="The process is up",
)
async def live() -> Any:
    """Always ok while the process serves HTTP."""
    return {"status": "ok", "checks": {}}


@router.get(
    "/health/ready",
    response_model=HealthOut,
    operation_id="health_ready",
    summary="Ready to score",
    responses={503: {"model": HealthOut, "description": "a model or the database is missing"}},
)
def ready(request: Request) -> Any:
    """Ok when a model is loaded and the database answers; 503 otherwise."""
    store = request.app.state.store
    checks: dict[str, Any] = {"model": store.ready}
    try:
        with engine().connect() as conn:
            conn.execute(text("SELECT 1"))
        checks["database"] = True
    except Exception as exc:  # noqa: BLE001 - any failure means not ready
        checks["database"] = False
        checks["database_error"] = f"{type(exc).__name__}"
    ok = checks["model"] and checks["database"]
    if ok:
        checks["generation"] = store.deployment.generation
    body = {"status": "ok" if ok else "unavailable", "checks": checks}
    return JSONResponse(body, status_code=200 if ok else 503)


@router.get(
    "/metrics",
    operation_id="metrics",
    summary="Prometheus metrics",
    response_class=Response,
    responses={200: {"content": {CONTENT_TYPE_LATEST: {}}, "description": "text format"}},
)
def metrics(request: Request) -> Response:
    """Requests, latency histogram and SLA quantiles, errors, decisions, model versions,
    circuit states, prediction drift (PSI) and energy."""
    return Response(request.app.state.monitor.render(), media_type=CONTENT_TYPE_LATEST)
