"""Contesting a decision: ``POST /v1/decisions/{request_id}/contest`` (GDPR Art. 22).

Only the decision's tenant may contest it (:mod:`greenscore.serving.ownership`); anyone
else is answered as for an unknown request id.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, status

from greenscore.security.audit import record_event
from greenscore.serving import review
from greenscore.serving.deps import AppSettings, Contester, Db
from greenscore.serving.errors import ConflictError
from greenscore.serving.ownership import owned_prediction
from greenscore.serving.routers.common import ERRORS, NOT_FOUND
from greenscore.serving.schemas import ContestRequest, ReviewItem

router = APIRouter(prefix="/v1/decisions", tags=["decisions"])


@router.post(
    "/{request_id}/contest",
    response_model=ReviewItem,
    status_code=status.HTTP_202_ACCEPTED,
    operation_id="contest_decision",
    summary="Contest an automated decision",
    responses={**ERRORS, **NOT_FOUND},
)
def contest(
    request_id: str, body: ContestRequest, principal: Contester, db: Db, settings: AppSettings
) -> Any:
    """Queue the caller's decision of ``request_id`` for human review. Contesting the same
    decision again returns the item already queued (with its outcome once decided)."""
    prediction = owned_prediction(request_id, principal, db=db)
    existing = review.find_item(request_id, "contest", db=db)
    if existing is not None:
        return existing
    try:
        item_id = review.add_item(
            request_id=request_id,
            kind="contest",
            model=f"{prediction.model_name}:{prediction.model_version}",
            decision=prediction.decision,
            probability=prediction.probability,
            tenant=prediction.tenant,
            comment=body.reason,
            db=db,
        )
    except ConflictError:
        # A contest sent at the same moment queued it first: that item is the answer.
        return review.find_item(request_id, "contest", db=db)
    record_event(
        "decision.contest",
        actor=principal.id,
        details={
            "request_id": request_id,
            "review_id": item_id,
            "subject_hash": prediction.subject_hash,
        },
        subject_hash=prediction.subject_hash,
        settings=settings,
    )
    return review.find_item(request_id, "contest", db=db)
