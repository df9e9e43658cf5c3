"""The review queue for analysts: ``GET /v1/review-queue`` and deciding an item.

The review staff (roles with ``review:read`` / ``review:decide``: analyst, admin) see and
decide every tenant's items, each naming its tenant; scorers have neither permission (see
:mod:`greenscore.serving.ownership`).
"""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Query

from greenscore.security.audit import record_event
from greenscore.serving import review
from greenscore.serving.deps import AppSettings, Db, ReviewDecider, ReviewReader
from greenscore.serving.routers.common import ERRORS, NOT_FOUND
from greenscore.serving.schemas import ReviewDecisionRequest, ReviewItem, ReviewQueue

router = APIRouter(prefix="/v1/review-queue", tags=["review"])


@router.get(
    "",
    response_model=ReviewQueue,
    operation_id="list_review_queue",
    summary="Decisions waiting for a person",
    responses=ERRORS,
)
def list_queue(
    principal: ReviewReader,
    db: Db,
    status: Literal["open", "decided", "all"] = Query("open"),
    limit: int = Query(100, ge=1, le=1000),
) -> Any:
    """Contested and grey-band decisions of every tenant, oldest first."""
    items = review.list_items(status=None if status == "all" else status, limit=limit, db=db)
    return {"count": len(items), "items": items}


@router.post(
    "/{item_id}/decision",
    response_model=ReviewItem,
    operation_id="decide_review_item",
    summary="Record an analyst's decision",
    responses={**ERRORS, **NOT_FOUND},
)
def decide(
    item_id: str,
    body: ReviewDecisionRequest,
    principal: ReviewDecider,
    db: Db,
    settings: AppSettings,
) -> Any:
    """Close an open item with an outcome; audited."""
    item = review.decide_item(
        item_id, outcome=body.outcome, note=body.note, actor=principal.id, db=db
    )
    record_event(
        "decision.review",
        actor=principal.id,
        details={"review_id": item_id, "request_id": item["request_id"], "outcome": body.outcome},
        settings=settings,
    )
    return item
