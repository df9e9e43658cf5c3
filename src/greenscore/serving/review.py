"""The human-review queue: contested decisions (GDPR Art. 22) and grey-band decisions.

An applicant may contest an automated decision; the contest lands here for an analyst,
as do ``review`` decisions when ``serving.route_grey_band_to_review`` is set. Each item
names the request it is about (whose stored prediction and audit event hold the details)
and is closed by an analyst's recorded outcome. An item keeps the ``tenant`` of its
decision (see :mod:`greenscore.serving.ownership`): the review staff see every tenant's
items, and the tenant is shown to them.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, select, update
from sqlalchemy.exc import IntegrityError

from greenscore.errors import NotFoundError
from greenscore.serving.errors import ConflictError
from greenscore.store import Database
from greenscore.store.tables.serving import ReviewEntry

OPEN, DECIDED = "open", "decided"
NO_ITEM = "no review item with id '{id}'"
ALREADY_DECIDED = "review item '{id}' was already decided"
ALREADY_QUEUED = "request '{request_id}' already has a {kind} item in the review queue"


_TABLE = ReviewEntry.__table__


def _out(row: Any) -> dict[str, Any]:
    return {
        "id": row.id,
        "request_id": row.request_id,
        "kind": row.kind,
        "status": row.status,
        "created_at": row.created_at.isoformat() if row.created_at else None,
        "comment": row.comment,
        "model": row.model,
        "decision": row.decision,
        "probability_of_default": row.probability,
        "outcome": row.outcome,
        "note": row.note,
        "decided_by": row.decided_by,
        "tenant": row.tenant,
    }


def item_row(
    *,
    request_id: str,
    kind: str,
    model: str,
    decision: str,
    probability: float,
    tenant: str | None,
    comment: str | None = None,
) -> dict[str, Any]:
    """A new open item of ``tenant``'s decision, as the row :func:`insert_items` writes
    (its ``id`` is the item's id)."""
    return {
        "id": uuid.uuid4().hex,
        "request_id": request_id,
        "kind": kind,
        "status": OPEN,
        "created_at": datetime.now(UTC),
        "comment": comment,
        "model": model,
        "decision": decision,
        "probability": float(probability),
        "tenant": tenant,
    }


def insert_items(conn: Connection, rows: list[dict[str, Any]]) -> None:
    """Queue :func:`item_row` rows in the caller's transaction (grey-band decisions are
    queued in their decisions' transaction: with them, or not at all)."""
    if rows:
        conn.execute(_TABLE.insert(), rows)


def add_item(
    *,
    request_id: str,
    kind: str,
    model: str,
    decision: str,
    probability: float,
    tenant: str | None,
    comment: str | None = None,
    db: Database,
) -> str:
    """Queue a decision of ``tenant`` for review; returns the item id.

    Raises
    ------
    ConflictError
        If the request already has an item of this kind (two contests sent at once: the
        database's unique constraint lets exactly one of them in).
    """
    values = item_row(
        request_id=request_id,
        kind=kind,
        model=model,
        decision=decision,
        probability=probability,
        tenant=tenant,
        comment=comment,
    )
    try:
        with db.begin() as conn:
            insert_items(conn, [values])
    except IntegrityError as exc:
        raise ConflictError(ALREADY_QUEUED.format(request_id=request_id, kind=kind)) from exc
    return str(values["id"])


def find_item(request_id: str, kind: str, *, db: Database) -> dict[str, Any] | None:
    """The item of a request and kind, if one was queued."""
    with db.connect() as conn:
        row = conn.execute(
            select(_TABLE).where(_TABLE.c.request_id == request_id, _TABLE.c.kind == kind)
        ).first()
    return None if row is None else _out(row)


def list_items(
    *, status: str | None = OPEN, limit: int = 100, db: Database
) -> list[dict[str, Any]]:
    """Review items, oldest first (``status=None`` for all)."""
    query = select(_TABLE).order_by(_TABLE.c.created_at, _TABLE.c.id).limit(limit)
    if status is not None:
        query = query.where(_TABLE.c.status == status)
    with db.connect() as conn:
        return [_out(r) for r in conn.execute(query).all()]


def decide_item(
    item_id: str, *, outcome: str, note: str | None, actor: str, db: Database
) -> dict[str, Any]:
    """Record an analyst's outcome on an open item.

    Raises
    ------
    NotFoundError
        If there is no such item.
    ConflictError
        If it was already decided.
    """
    with db.begin() as conn:
        result = conn.execute(
            update(_TABLE)
            .where(_TABLE.c.id == item_id, _TABLE.c.status == OPEN)
            .values(
                status=DECIDED,
                outcome=outcome,
                note=note,
                decided_by=actor,
                decided_at=datetime.now(UTC),
            )
        )
        if result.rowcount == 0:
            exists = conn.execute(select(_TABLE.c.id).where(_TABLE.c.id == item_id)).first()
            if exists is None:
                raise NotFoundError(NO_ITEM.format(id=item_id))
            raise ConflictError(ALREADY_DECIDED.format(id=item_id))
        row = conn.execute(select(_TABLE).where(_TABLE.c.id == item_id)).one()
    return _out(row)
