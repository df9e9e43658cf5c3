"""The FastAPI application: wiring of models, service, routers, middleware and error policy.

``create_app()`` loads the models first (the applicant schema of ``/docs`` is built from
the primary model's inputs), then assembles the app. ``uvicorn
"greenscore.serving.app:create_app" --factory`` reads the models from
``serving.model`` / ``serving.fallback`` / ``serving.ab`` (``greenscore serve`` sets them).

Before anything is opened, the settings are checked (:func:`greenscore.config.require_secrets`):
outside local and test use the app refuses to be made without its secrets, naming each.

Error policy, by whose fault an error is, not by its class: the caller's mistake about
their own request (:data:`~greenscore.serving.errors.CALLERS_MISTAKES`: a field, an unknown
id, credentials, a rate, a size, a conflict) answers its 4xx status with ``{"error",
"detail", "request_id"}``; request-validation errors keep FastAPI's 422 shape
(``detail[].loc`` names the field), whatever the input (non-finite numbers and NUL
characters are refused before the routes, :mod:`greenscore.serving.json_guard`), except a
body that is not JSON text at all, which is a 400 like one that is not UTF-8 (one rule,
:mod:`greenscore.serving.json_guard` says why). Anything
else — a :class:`~greenscore.errors.ConfigError` or
:class:`~greenscore.errors.PrivacyError` raised while serving a valid request included —
is a fault of the service: the request is written to the dead-letter table (unless the
scoring service kept it already) and the answer is 503 with the request id. Limits,
timeouts and security headers are the
:class:`~greenscore.serving.request_guard.RequestGuard`'s.
"""

from __future__ import annotations

import asyncio
import gc
import json
import math
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from opentelemetry.sdk.trace.export import SpanExporter
from pydantic import BaseModel
from starlette.exceptions import HTTPException

from greenscore.config import Settings, get_settings, require_secrets
from greenscore.errors import AuthError, ConfigError, GreenScoreError, PermissionDeniedError
from greenscore.logging import get_logger
from greenscore.models.runtime.features import input_categories
from greenscore.privacy.at_rest import install_dataset_reader
from greenscore.security.pseudonym import subject_hashes
from greenscore.serving.dlq import record_dead_letter
from greenscore.serving.docs import add_docs
from greenscore.serving.errors import RateLimitedError, ServiceUnavailableError, callers_mistake
from greenscore.serving.job_worker import JobWorker
from greenscore.serving.json_guard import NOT_JSON, json_safe
from greenscore.serving.model_store import ModelStore
from greenscore.serving.monitoring import Monitor
from greenscore.serving.named_subjects import named_subjects
from greenscore.serving.ratelimit import make_rate_limiter
from greenscore.serving.request_guard import BODY_KEY, RequestGuard
from greenscore.serving.routers import admin, audit, decisions, health, outcomes, review
from greenscore.serving.routers import jobs as jobs_router
from greenscore.serving.routers import score as score_router
from greenscore.serving.schemas import FILE_ROWS, applicant_model
from greenscore.serving.service import ScoringService, new_request_id
from greenscore.serving.tracing import Tracing, TracingMiddleware
from greenscore.store import database
from greenscore.store.checkpoint import WalCheckpointer

log = get_logger(__name__)

NO_MODEL = "no model to serve: pass --model or set serving.model (GREENSCORE_SERVING__MODEL)"
INTERNAL = "the service failed on request '{request_id}'; it is kept for replay"
_APPLICANT_ROUTES = ("/v1/score", "/v1/jobs")


# ---------------------------------------------------------------------- error handlers
def _request_id(request: Request) -> str | None:
    return getattr(request.state, "request_id", None)


async def _greenscore_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, GreenScoreError)
    if not callers_mistake(exc) and not (isinstance(exc, ServiceUnavailableError) and exc.kept):
        # Raised on purpose but not the caller's doing (a secret missing on the server, a
        # model that cannot predict, a store that is down): kept and answered 503 like a bug.
        return await _service_fault(request, exc)
    headers = {}
    if isinstance(exc, RateLimitedError):
        headers["Retry-After"] = str(max(1, math.ceil(exc.retry_after)))
    elif isinstance(exc, AuthError) and not isinstance(exc, PermissionDeniedError):
        if exc.http_status == 401:
            headers["WWW-Authenticate"] = 'Bearer, ApiKey realm="greenscore"'
    body = {"error": type(exc).__name__, "detail": exc.message, "request_id": _request_id(request)}
    return JSONResponse(body, status_code=exc.http_status, headers=headers)


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    """Starlette's own answers (unknown route 404, 405, an unreadable body 400) in the
    service's one error shape."""
    assert isinstance(exc, HTTPException)
    name = HTTPStatus(exc.status_code).phrase.replace(" ", "").replace("-", "") + "Error"
    body = {"error": name, "detail": str(exc.detail), "request_id": _request_id(request)}
    return JSONResponse(body, status_code=exc.status_code, headers=exc.headers)


async def _invalid_request(request: Request, exc: Exception) -> JSONResponse:
    """FastAPI's 422 shape, written so that any input can be answered (a non-finite number
    is echoed as text: standard JSON cannot hold it, and the answer must stay a 422); a
    body that is not JSON text is a 400 in the one error shape instead."""
    assert isinstance(exc, RequestValidationError)
    errors = exc.errors()
    if len(errors) == 1 and errors[0].get("type") == "json_invalid":
        loc, ctx = errors[0].get("loc", ()), errors[0].get("ctx") or {}
        detail = NOT_JSON.format(
            error=ctx.get("error", "unreadable"), pos=loc[1] if len(loc) > 1 else "?"
        )
        body = {"error": "BadRequestError", "detail": detail, "request_id": _request_id(request)}
        return JSONResponse(body, status_code=400)
    try:
        return JSONResponse({"detail": json_safe(jsonable_encoder(errors))}, status_code=422)
    except (TypeError, ValueError):
        plain = [{k: e.get(k) for k in ("type", "loc", "msg")} for e in errors]
        return JSONResponse({"detail": jsonable_encoder(plain)}, status_code=422)


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    """Anything not raised on purpose: a fault of the service (:func:`_service_fault`).

    Starlette answers it from outside every middleware, the RequestGuard that tags each
    answer with its request id included, so the id header is added here.
    """
    return await _service_fault(request, exc, tag=True)


async def _service_fault(request: Request, exc: Exception, *, tag: bool = False) -> JSONResponse:
    """A fault of the service (a bug, or an error that is not the caller's mistake): keep
    the request, answer 503 with its id (also as the ``X-Request-ID`` header if ``tag``)."""
    request_id = _request_id(request) or new_request_id()
    log.error("service fault", extra={"request_id": request_id, "error": repr(exc)})
    raw = b"".join(request.scope.get(BODY_KEY, []))
    keep_fields = None
    try:
        payload: Any = json.loads(raw) if raw else None
    except ValueError:
        payload = {"raw": raw.decode("utf-8", "replace")}
    else:
        if request.url.path.startswith(_APPLICANT_ROUTES):
            # Of an applicant, only what the model reads (and the id) is kept: not names,
            # contacts or account numbers (the dead letter is also encrypted).
            applicant = request.app.state.applicant_model
            keep_fields = [f.alias or n for n, f in applicant.model_fields.items()]
    principal = getattr(request.state, "principal", None)
    monitor: Monitor = request.app.state.monitor
    monitor.errors.labels("internal").inc()

    def keep() -> None:
        model, subjects = _letter_context(request, payload)
        store: ModelStore = request.app.state.store
        id_name = store.deployment.primary.model.id_name if store.ready else None
        record_dead_letter(
            request_id=request_id,
            kind="http",
            error=f"{type(exc).__name__}: {exc}",
            payload=payload,
            route=request.url.path,
            actor=getattr(principal, "id", None),
            model=model,
            subject_hashes=subjects,
            # Links name other borrowers, and a job's body many applicants in one row.
            mentions=partial(named_subjects, id_name=id_name, settings=request.app.state.settings),
            keep=keep_fields,
            db=request.app.state.db,
        )
        monitor.dead_letters.labels("http").inc()

    try:
        await asyncio.to_thread(keep)
    except Exception as store_exc:  # noqa: BLE001 - nothing more can be done than to log it
        log.error(
            "dead letter not stored", extra={"request_id": request_id, "error": repr(store_exc)}
        )
    body = {
        "error": "ServiceUnavailableError",
        "detail": INTERNAL.format(request_id=request_id),
        "request_id": request_id,
    }
    return JSONResponse(
        body, status_code=503, headers={"x-request-id": request_id} if tag else None
    )


def _letter_context(request: Request, payload: Any) -> tuple[str | None, list[str | None] | None]:
    """The model that should have answered a request kept from a scoring route, and the
    subject hash of each applicant it holds (``/v1/score``: the body; ``/v1/score/batch``:
    its ``applicants``), so ``greenscore dlq replay`` needs no ``--model`` and erasure
    finds the letter. Either is None when it cannot be had — another route, no model
    loaded, or no pepper (the fault itself): the letter is kept all the same, since losing
    the request would be worse."""
    store: ModelStore = request.app.state.store
    path = request.url.path
    if not store.ready or path not in ("/v1/score", "/v1/score/batch", "/v1/jobs"):
        return None, None
    served = store.deployment.primary.model
    if not isinstance(payload, dict) or path == "/v1/jobs":
        return served.uri, None  # a job's records are one letter row: not indexed one by one
    listed = payload.get("applicants") if path == "/v1/score/batch" else [payload]
    applicants = listed if isinstance(listed, list) else []
    id_name = served.id_name
    ids = [a.get(id_name) if id_name and isinstance(a, dict) else None for a in applicants]
    try:
        return served.uri, subject_hashes(ids, settings=request.app.state.settings)
    except GreenScoreError as exc:
        log.error("dead letter kept without its subject index", extra={"error": str(exc)})
        return served.uri, None


# ---------------------------------------------------------------------- the app
def _limit_lightgbm_threads(threads: int) -> None:
    """Cap LightGBM's OpenMP threads for the whole process (C API ``LGBM_SetMaxThreads``)."""
    if threads <= 0:
        return
    try:
        import ctypes

        from lightgbm.basic import _LIB

        _LIB.LGBM_SetMaxThreads(ctypes.c_int(threads))
    except (ImportError, AttributeError, OSError) as exc:
        log.info("LightGBM thread cap unavailable", extra={"error": repr(exc)})


def applicant_schema(store: ModelStore) -> type[BaseModel]:
    """The request model of one applicant for the store's primary model.

    Categorical inputs are the ones its type coercer learnt (else the training ranges'
    levels and the spec's categorical columns); the rest are numbers. A model with
    relational features also takes each applicant's links.
    """
    model = store.deployment.primary.model
    levels = input_categories(model.bundle)
    if levels is None:
        declared = set(model.bundle.spec.categorical)
        levels = {
            c: list(r.get("levels", []))
            for c, r in model.training_ranges.items()
            if isinstance(r, dict) and "levels" in r
        }
        levels.update({c: [] for c in declared & set(model.input_columns) if c not in levels})
    return applicant_model(
        model.bundle.spec,
        model.input_columns,
        categorical=set(levels),
        levels=levels,
        links=model.takes_links,
    )


def create_app(
    settings: Settings | None = None,
    *,
    model: str | None = None,
    fallback: str | None = None,
    ab: str | None = None,
    store: ModelStore | None = None,
    span_exporter: SpanExporter | None = None,
) -> FastAPI:
    """Build the scoring service.

    Parameters
    ----------
    settings : Settings, optional
        Defaults to :func:`greenscore.config.get_settings`.
    model, fallback, ab : str, optional
        Model URIs (folder, ``models:/NAME/VERSION`` or ``models:/NAME@ALIAS``); default
        ``settings.serving.model`` / ``fallback`` / ``ab``.
    store : ModelStore, optional
        A store with a deployment already installed (tests); overrides the URIs.
    span_exporter : SpanExporter, optional
        Where trace spans go when ``observability.tracing_enabled`` (tests: an in-memory
        exporter); default OTLP/HTTP to ``observability.otlp_endpoint``.

    Returns
    -------
    FastAPI

    Raises
    ------
    ConfigError
        If no model is given or configured, or (outside local and test use) a required
        secret is not set: one line naming each.
    """

    settings = settings or get_settings()
    require_secrets(settings)
    install_dataset_reader(settings)  # job files may be encrypted datasets, read in place
    serving = settings.serving
    _limit_lightgbm_threads(serving.lightgbm_threads)
    # Opening the database brings its schema to this release's (under a lock: several
    # workers may start on one home at once) before models load and traffic arrives.
    db = database(settings)
    if store is None:
        model = model or serving.model
        ab = ab or serving.ab
        if not model and not ab:
            raise ConfigError(NO_MODEL)
        store = ModelStore(serving, max_reasons=settings.scoring.reason_codes)
        store.load(model or "", fallback=fallback or serving.fallback, ab=ab)
    for variant in store.deployment.variants:
        try:
            variant.model.smoke_test()  # first calls pay one-off costs; pay them before traffic
        except Exception as exc:  # noqa: BLE001 - the breaker and fallback handle it in traffic
            log.warning(
                "model failed its warm-up", extra={"model": variant.model.label, "error": repr(exc)}
            )
    monitor = Monitor(serving)
    tracing = Tracing.from_settings(settings.observability, exporter=span_exporter)
    service = ScoringService(settings, store, monitor=monitor, tracing=tracing)
    applicant = applicant_schema(store)
    worker = (
        JobWorker(
            settings,
            decide=service.decide_payloads,
            # A job's rows are read as a file's are ("?" is missing); records sent as JSON
            # were already validated strictly when the job was created.
            validate=lambda record: applicant.model_validate(record, context=FILE_ROWS).model_dump(
                by_alias=True
            ),
        )
        if serving.job_worker
        else None
    )
    limiter = make_rate_limiter(serving)
    # A decision's caller waits for its audit commit: no WAL copy inside that commit.
    checkpointer = WalCheckpointer(db)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        checkpointer.start()
        if worker is not None:
            worker.start()
        if serving.energy_calibration:
            threading.Thread(
                target=_calibrate, args=(store,), daemon=True, name="greenscore-energy"
            ).start()
        # The loaded models, libraries and warm-up objects live as long as the process:
        # frozen out of the collector's reach, a full collection in traffic no longer walks
        # them (one pass over ~360,000 such objects stalled a decision for 206 ms).
        gc.collect()
        gc.freeze()
        yield
        gc.unfreeze()  # an app stopped inside a longer-lived process (tests) lets them go
        if worker is not None:
            await asyncio.to_thread(worker.stop)
        await asyncio.to_thread(service.close)  # decisions still being written
        await asyncio.to_thread(tracing.shutdown)  # their commit spans included
        await asyncio.to_thread(checkpointer.stop)
        close = getattr(limiter, "close", None)
        if close is not None:
            await close()

    app = FastAPI(
        title="GreenScore scoring API",
        version="1",
        description="Probability of default, decisions with adverse-action reasons, batch "
        "jobs, contests and model administration. Authenticate with an API key "
        "(X-API-Key) or a bearer token.",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.db = db
    app.state.store = store
    app.state.service = service
    app.state.monitor = monitor
    app.state.tracing = tracing
    app.state.rate_limiter = limiter
    app.state.job_worker = worker
    app.state.checkpointer = checkpointer
    app.state.applicant_model = applicant
    app.add_exception_handler(GreenScoreError, _greenscore_error)
    app.add_exception_handler(RequestValidationError, _invalid_request)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected)
    app.include_router(score_router.build_router(applicant))
    app.include_router(jobs_router.build_router(applicant))
    app.include_router(decisions.router)
    app.include_router(outcomes.router)
    app.include_router(review.router)
    app.include_router(admin.router)
    app.include_router(audit.router)
    app.include_router(health.router)
    add_docs(app)
    app.add_middleware(
        RequestGuard,
        monitor=monitor,
        max_body=serving.max_body_bytes,
        body_timeout=serving.body_timeout_seconds,
        tls=serving.tls_cert is not None,
    )
    if tracing.enabled:
        # Added last, so outermost: the server span covers the guard too.
        app.add_middleware(TracingMiddleware, tracing=tracing)
    if settings.sustainability.dashboard_in_api:
        from greenscore.sustainability.dashboard.mount import mount_dashboard

        mount_dashboard(app, settings)  # /dashboard, behind operator login (MFA token)
    return app


def _calibrate(store: ModelStore) -> None:
    """Measure energy per call of every served model (background, after start-up)."""
    deployment = store.deployment
    models = [v.model for v in deployment.variants]
    if deployment.fallback is not None:
        models.append(deployment.fallback)
    for served in models:
        try:
            served.calibrate_energy()
        except Exception as exc:  # noqa: BLE001 - the metadata estimate stays in place
            log.warning(
                "energy calibration failed", extra={"model": served.label, "error": repr(exc)}
            )
