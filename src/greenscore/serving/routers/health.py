"""Probes and metrics: ``/health/live``, ``/health/ready`` (no credentials) and ``/metrics``.

``/metrics`` tells request rates, model versions and decision mixes, which are nobody
else's business: it is served to loopback callers only (a scraper beside the service),
unless ``serving.metrics_token`` is set, in which case every caller must send it as
``Authorization: Bearer <token>`` (Prometheus: ``authorization: {credentials: ...}``), or
``serving.metrics_public`` opens it to all. Behind a reverse proxy on the same host, set
the token: the proxy's requests come from loopback.
"""

from __future__ import annotations

import asyncio
import hmac
import ipaddress
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST
from sqlalchemy import text
from starlette.concurrency import run_in_threadpool

from greenscore.errors import AuthError, PermissionDeniedError
from greenscore.serving.schemas import ErrorResponse, HealthOut

router = APIRouter(tags=["health"])

#: How long readiness waits for Redis: a hung server is not ready, and the probe must answer.
READY_TIMEOUT_SECONDS = 2.0
METRICS_TOKEN_NEEDED = "/metrics needs 'Authorization: Bearer <serving.metrics_token>'"
METRICS_LOOPBACK_ONLY = (
    "/metrics is served to loopback callers only; set serving.metrics_token to scrape it "
    "from elsewhere"
)


def _loopback(request: Request) -> bool:
    host = request.client.host if request.client else ""
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_metrics_access(request: Request) -> None:
    """Let the caller read ``/metrics``, or raise.

    Raises
    ------
    AuthError
        If a token is configured and the caller did not send it (401).
    PermissionDeniedError
        If no token is configured and the caller is not on loopback (403).
    """
    serving = request.app.state.settings.serving
    if serving.metrics_public:
        return
    if serving.metrics_token is not None:
        scheme, _, given = request.headers.get("authorization", "").partition(" ")
        expected = serving.metrics_token.get_secret_value().encode()
        # Compared in constant time; a wrong scheme compares an empty token.
        ok = hmac.compare_digest(
            given.strip().encode() if scheme.lower() == "bearer" else b"", expected
        )
        if not ok:
            raise AuthError(METRICS_TOKEN_NEEDED)
        return
    if not _loopback(request):
        raise PermissionDeniedError(METRICS_LOOPBACK_ONLY)


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
    responses={
        503: {"model": HealthOut, "description": "a model, the database or Redis is missing"}
    },
)
async def ready(request: Request) -> Any:
    """Ok when a model is loaded, the database answers and, when ``serving.redis_url`` is
    set, Redis (the shared rate limiter every scoring call needs) answers; 503 otherwise."""
    state = request.app.state
    store = state.store
    checks: dict[str, Any] = {"model": store.ready}
    # The database is asked off the event loop (a blocking driver); Redis on it (asyncio).
    checks.update(await run_in_threadpool(_database_check, state.db))
    ping = getattr(state.rate_limiter, "ping", None)  # only the Redis limiter has one
    if ping is not None:
        try:
            async with asyncio.timeout(READY_TIMEOUT_SECONDS):
                await ping()
            checks["redis"] = True
        except Exception as exc:  # noqa: BLE001 - any failure means not ready
            checks["redis"] = False
            checks["redis_error"] = f"{type(exc).__name__}"
    ok = all(checks[name] for name in ("model", "database", "redis") if name in checks)
    if ok:
        checks["generation"] = store.deployment.generation
    body = {"status": "ok" if ok else "unavailable", "checks": checks}
    return JSONResponse(body, status_code=200 if ok else 503)


def _database_check(db: Any) -> dict[str, Any]:
    try:
        with db.connect() as conn:
            conn.execute(text("SELECT 1"))
        return {"database": True}
    except Exception as exc:  # noqa: BLE001 - any failure means not ready
        return {"database": False, "database_error": f"{type(exc).__name__}"}


@router.get(
    "/metrics",
    operation_id="metrics",
    summary="Prometheus metrics",
    response_class=Response,
    responses={
        200: {"content": {CONTENT_TYPE_LATEST: {}}, "description": "text format"},
        401: {"model": ErrorResponse, "description": "serving.metrics_token not sent"},
        403: {"model": ErrorResponse, "description": "not a loopback caller"},
    },
)
def metrics(request: Request) -> Response:
    """Requests, latency histogram and SLA quantiles, errors, decisions, model versions,
    circuit states, prediction drift (PSI) and energy (who may read it: see the module)."""
    check_metrics_access(request)
    return Response(request.app.state.monitor.render(), media_type=CONTENT_TYPE_LATEST)
