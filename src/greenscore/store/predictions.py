"""The prediction cache: every scored request, kept for explanations, contests and audits.

A row stores who was scored only as the subject's keyed hash (``subject_hash``, made by
the caller with :func:`greenscore.security.pseudonym.subject_hash`: the store never sees
a raw applicant id and never hashes), so the table can be searched for one person
(erasure, subject access) without naming anyone. The serving layer writes here; GDPR
erasure and retention purge delete from here.

Each row names its ``tenant``: who made the request, and so who may act on the decision
later (contest it). Today a tenant is the caller's principal id (an API key id or a token
subject); the column is explicit so that a later model with several keys per tenant only
has to fill it differently. Rows stored before the column existed have no tenant.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, delete, insert, select
from sqlalchemy.exc import IntegrityError

from greenscore.errors import DataError, NotFoundError
from greenscore.store.database import Database, affected_rows
from greenscore.store.tables.predictions import PredictionRecord

NO_PREDICTION = "no prediction with request id '{request_id}'"
ALREADY_RECORDED = "prediction request id '{request_id}' is already recorded"
BATCH_ALREADY_RECORDED = "a request id in this batch of {n} is already recorded"
#: Built once: the service inserts with it in every decision's commit.
_INSERT = insert(PredictionRecord)


def _row(
    *,
    request_id: str,
    subject_hash: str | None,
    model_name: str,
    model_version: str,
    input_hash: str,
    decision: str,
    probability: float,
    payload: dict[str, Any] | None = None,
    created_at: datetime | None = None,
    tenant: str | None = None,
) -> dict[str, Any]:
    return {
        "request_id": str(request_id),
        "subject_hash": subject_hash,
        "model_name": model_name,
        "model_version": str(model_version),
        "created_at": created_at or datetime.now(UTC),
        "input_hash": input_hash,
        "decision": decision,
        "probability": float(probability),
        "payload": payload,
        "tenant": tenant,
    }


def record_prediction(
    *,
    request_id: str,
    subject_hash: str | None,
    model_name: str,
    model_version: str,
    input_hash: str,
    decision: str,
    probability: float,
    payload: dict[str, Any] | None = None,
    created_at: datetime | None = None,
    tenant: str | None = None,
    db: Database,
) -> PredictionRecord:
    """Store one prediction (``tenant``: its owner; ``created_at``: default now).

    Raises
    ------
    DataError
        If ``request_id`` was already recorded.
    """
    row = _row(
        request_id=request_id,
        subject_hash=subject_hash,
        model_name=model_name,
        model_version=model_version,
        input_hash=input_hash,
        decision=decision,
        probability=probability,
        payload=payload,
        created_at=created_at,
        tenant=tenant,
    )
    try:
        with db.session() as session:
            record = PredictionRecord(**row)
            session.add(record)
    except IntegrityError as exc:
        raise DataError(ALREADY_RECORDED.format(request_id=request_id)) from exc
    return record


def record_predictions(records: Iterable[Mapping[str, Any]], *, db: Database) -> int:
    """Store many predictions in one transaction; keys as :func:`record_prediction`.

    Raises
    ------
    DataError
        If any request id was already recorded (nothing is stored then).
    """
    rows = [_row(**r) for r in records]
    try:
        with db.begin() as conn:
            return insert_predictions(conn, rows)
    except IntegrityError as exc:
        raise DataError(BATCH_ALREADY_RECORDED.format(n=len(rows))) from exc


def insert_predictions(conn: Connection, rows: Sequence[Mapping[str, Any]]) -> int:
    """Insert prediction rows on an open connection, inside the caller's transaction.

    For the service, which writes a micro-batch's rows in the transaction of its audit
    events (both commit or neither). Each row has :class:`PredictionRecord`'s columns,
    ``subject_hash`` hashed once by the caller; ``created_at`` defaults to now.

    Raises
    ------
    IntegrityError
        If a request id is already recorded (the caller's transaction must roll back).
    """
    if not rows:
        return 0
    now = datetime.now(UTC)
    conn.execute(_INSERT, [{"created_at": now, **r} for r in rows])
    return len(rows)


def get_prediction(request_id: str, *, db: Database) -> PredictionRecord:
    """The stored prediction of a request, whoever owns it (check ``record.tenant``).

    Raises
    ------
    NotFoundError
        If no prediction has that request id.
    """
    with db.session() as session:
        record = session.get(PredictionRecord, str(request_id))
    if record is None:
        raise NotFoundError(NO_PREDICTION.format(request_id=request_id))
    return record


def predictions_for_subject(subject_hash: str, *, db: Database) -> list[PredictionRecord]:
    """Every stored prediction about one subject, oldest first (subject access requests)."""
    with db.session() as session:
        return list(
            session.execute(
                select(PredictionRecord)
                .where(PredictionRecord.subject_hash == subject_hash)
                .order_by(PredictionRecord.created_at)
            ).scalars()
        )


def delete_for_subject(subject_hash: str, *, db: Database) -> int:
    """Delete every prediction about a subject (erasure); returns how many were deleted."""
    with db.session() as session:
        result = session.execute(
            delete(PredictionRecord).where(PredictionRecord.subject_hash == subject_hash)
        )
        return affected_rows(result)


def purge_predictions(before: datetime, *, db: Database) -> int:
    """Delete predictions created before ``before`` (retention); returns how many."""
    with db.session() as session:
        result = session.execute(
            delete(PredictionRecord).where(PredictionRecord.created_at < before)
        )
        return affected_rows(result)
