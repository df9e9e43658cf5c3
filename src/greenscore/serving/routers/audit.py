"""The audit log, read: ``GET /v1/audit`` for callers with ``audit:read`` (analysts, admins)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Query
from starlette.concurrency import run_in_threadpool

from greenscore.errors import ConfigError
from greenscore.security.audit import record_event
from greenscore.security.audit_search import MAX_PAGE, AuditQuery, search_events
from greenscore.serving.deps import AppSettings, AuditReader
from greenscore.serving.errors import BadRequestError
from greenscore.serving.routers.common import ERRORS
from greenscore.serving.schemas import AuditPage

router = APIRouter(prefix="/v1", tags=["audit"])


@router.get(
    "/audit",
    response_model=AuditPage,
    operation_id="search_audit",
    summary="Search the audit log",
    responses=ERRORS,
)
async def search_audit(
    principal: AuditReader,
    settings: AppSettings,
    since: datetime | None = Query(None, description="events at or after (ISO 8601; naive = UTC)"),
    until: datetime | None = Query(None, description="events before (ISO 8601; naive = UTC)"),
    actor: str | None = Query(None, max_length=200, description="exact actor"),
    action: str | None = Query(
        None, max_length=100, description="exact action, or a prefix ending in * (gdpr.*)"
    ),
    subject_hash: str | None = Query(
        None,
        pattern="^[0-9a-f]{64}$",
        description="a subject's pseudonym (the log never holds raw ids)",
    ),
    limit: int = Query(100, ge=1, le=MAX_PAGE),
    before_id: int | None = Query(
        None, ge=1, le=2**63 - 1, description="continue below this event id"
    ),
) -> Any:
    """Events newest first, filtered by time range, actor, action and subject. The read is
    itself audited (``audit.read``, with its filters)."""
    try:
        query = AuditQuery.parse(
            since=since, until=until, actor=actor, action=action, subject_hash=subject_hash
        )
    except ConfigError as exc:  # an empty range: the caller's request, not a fault
        raise BadRequestError(exc.message) from exc
    # The database is read off the event loop: a wide search must not stall scoring.
    events = await run_in_threadpool(
        search_events, query, settings=settings, limit=limit, before_id=before_id
    )
    await run_in_threadpool(
        record_event,
        "audit.read",
        actor=principal.id,
        details={**query.filters(), "events": len(events)},
        settings=settings,
    )
    last = events[-1]["id"] if len(events) == limit else None
    return {"events": events, "next_before_id": last}
