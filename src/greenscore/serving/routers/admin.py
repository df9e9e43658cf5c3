"""Model administration and dead letters: ``/v1/admin/models``, ``/v1/admin/models/reload``,
``/v1/admin/dead-letters``."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Query, status

from greenscore.errors import ConfigError, ModelError
from greenscore.security.audit import record_event
from greenscore.serving import dlq
from greenscore.serving.deps import AppSettings, Db, DlqAdmin, ModelManager, ModelReader, Store
from greenscore.serving.errors import BadRequestError, ConflictError
from greenscore.serving.routers.common import ERRORS
from greenscore.serving.schemas import (
    DeadLetterOut,
    ErrorResponse,
    ModelsInfo,
    ReloadRequest,
    ReloadStatus,
)

router = APIRouter(prefix="/v1/admin", tags=["admin"])

#: A reload's refusal of what it was asked to load (documented: schemathesis and the
#: inventory test check that every status a route answers is in the document).
REFUSED_MODEL: dict[int | str, dict[str, Any]] = {
    409: {
        "model": ErrorResponse,
        "description": "the model named may not be loaded (not a signed bundle folder in an "
        "allowed model folder, nor a registry URI); one message whatever the reason",
    }
}


@router.get(
    "/models",
    response_model=ModelsInfo,
    operation_id="list_models",
    summary="What is served now",
    responses=ERRORS,
)
def list_models(principal: ModelReader, store: Store) -> Any:
    """Variants with weights and circuit states, the fallback, and the latest reload."""
    return {"deployment": store.deployment.info(), "reload": store.reload_status}


@router.post(
    "/models/reload",
    response_model=ReloadStatus,
    status_code=status.HTTP_202_ACCEPTED,
    operation_id="reload_models",
    summary="Load a new model version without downtime",
    responses={**ERRORS, **REFUSED_MODEL},
)
def reload_models(
    body: ReloadRequest, principal: ModelManager, store: Store, settings: AppSettings
) -> Any:
    """Load in the background, smoke-test, then swap atomically; requests in flight finish
    on the old model. Poll ``GET /v1/admin/models`` for the outcome.

    Needs an admin with a second factor (a token from ``greenscore tokens issue --user``).
    Loads only registry URIs and signed bundle folders in the allowed model folders; any
    other path is refused (409) with one message, whatever the reason."""
    try:
        started = store.reload(model=body.model, fallback=body.fallback, ab=body.ab)
    except ModelError as exc:
        record_event(
            "models.reload.refused",
            actor=principal.id,
            details={"model": body.model, "ab": body.ab, "fallback": body.fallback},
            settings=settings,
        )
        # The admin named what may not be loaded: their request's mistake (409), not a
        # fault of the service (a ModelError while scoring is one, and answers 503).
        raise ConflictError(exc.message) from exc
    except ConfigError as exc:  # an unreadable A/B split, or nothing to reload
        raise BadRequestError(exc.message) from exc
    record_event(
        "models.reload",
        actor=principal.id,
        details={
            "reload_id": started["id"],
            "model": body.model,
            "ab": body.ab,
            "fallback": body.fallback,
        },
        settings=settings,
    )
    return started


@router.get(
    "/dead-letters",
    response_model=list[DeadLetterOut],
    operation_id="list_dead_letters",
    summary="Requests no model could answer",
    responses=ERRORS,
)
def dead_letters(
    principal: DlqAdmin,
    db: Db,
    # Declared, as the review queue's status is: an unknown one is a 422 naming the allowed
    # values, not an empty list that reads as "nothing failed". Empty stays "all" as before.
    status: Literal["pending", "replayed", "failed", "all", ""] = Query(
        "pending", description="pending, replayed, failed, or all (also: empty)"
    ),
    limit: int = Query(100, ge=1, le=1000),
) -> Any:
    """Kept for replay with ``greenscore dlq replay``."""
    wanted = None if status in ("all", "") else status
    return dlq.list_dead_letters(status=wanted, limit=limit, db=db)
