"""Observed outcomes: ``POST /v1/outcomes`` records whether decided loans defaulted.

The lending system that asked for the decisions reports what became of them, naming each
by its request id (or the applicant's id: their latest decision before the observation),
for the monitor's performance by vintage (``greenscore monitor --from-store``). Like a
contest, an outcome may only be attached to the caller's own decisions
(:mod:`greenscore.serving.ownership`): another tenant's id is answered exactly as an id
that does not exist (422 naming the item, all or none recorded). Decisions older than
tenants have no owner; their outcomes are loaded with ``greenscore outcomes load``.
Sending the same outcomes again changes nothing; a later observation of a loan replaces
an earlier one.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from greenscore.monitoring.outcomes import AUDIT_ACTION
from greenscore.security.audit import record_event
from greenscore.security.pseudonym import subject_hash
from greenscore.serving.deps import AppSettings, Db, OutcomeRecorder
from greenscore.serving.ownership import tenant_of
from greenscore.serving.routers.common import ERRORS
from greenscore.serving.schemas import OutcomesRequest, OutcomesResult
from greenscore.store.outcomes import Outcome, record_outcomes

router = APIRouter(prefix="/v1/outcomes", tags=["outcomes"])

SOURCE = "api"


@router.post(
    "",
    response_model=OutcomesResult,
    operation_id="record_outcomes",
    summary="Record observed outcomes of the caller's decisions",
    responses=ERRORS,
)
def post_outcomes(
    body: OutcomesRequest, principal: OutcomeRecorder, db: Db, settings: AppSettings
) -> Any:
    """Record each item's outcome against the caller's decision, all or none. A 422 names
    the first item (``row``: its position in ``items``) whose decision is unknown (or not
    the caller's), that was observed before its decision, or that repeats another's; a
    ``loan_date`` after its ``observed_at`` is a 422 naming both."""
    outcomes = [
        Outcome(
            defaulted=item.defaulted,
            observed_at=item.observed_at,
            request_id=item.request_id,
            # An id is matched by its pseudonym, which reads it as text (as scoring's audit
            # does): 200001 and "200001" name the same applicant.
            applicant_id=None if item.applicant_id is None else str(item.applicant_id),
            loan_date=item.loan_date,
        )
        for item in body.items
    ]
    result = record_outcomes(
        outcomes,
        source=SOURCE,
        tenant=tenant_of(principal),
        pseudonym=lambda applicant: subject_hash(applicant, settings=settings),
        db=db,
    )
    record_event(
        AUDIT_ACTION,
        actor=principal.id,
        details={"source": SOURCE, "rows": len(outcomes), **result.to_dict()},
        settings=settings,
    )
    return result.to_dict()
