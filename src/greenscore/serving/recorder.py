"""Stores scored requests in the prediction store, one transaction per batch of decisions.

The hash-chained audit event is the record of a decision and is written before the caller
gets an answer. The prediction-store row (what contests, subject-access requests and
erasure look up) is written right after: for real-time requests one loop turn later, once
the responses are on their way, and for batches and jobs before the call returns.

The rows go into :class:`greenscore.store.predictions.PredictionRecord` exactly as
``record_predictions`` would write them (the subject only as its keyed hash), but on a
connection set to ``synchronous=NORMAL``: a pooled SQLite connection can come back set to
FULL by another writer, and then every commit would wait for the disk.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from greenscore.logging import get_logger
from greenscore.security.audit import hash_subject
from greenscore.serving._db import writing
from greenscore.store.predictions import PredictionRecord

log = get_logger(__name__)

_INSERT = PredictionRecord.__table__.insert()


def prediction_row(
    *,
    request_id: str,
    subject: str | None,
    model_name: str,
    model_version: str,
    input_hash: str,
    decision: str,
    probability: float,
    payload: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """One prediction-store row; the subject is kept only as its keyed hash."""
    return {
        "request_id": request_id,
        "subject_hash": None if subject is None else hash_subject(subject),
        "model_name": model_name,
        "model_version": str(model_version),
        "created_at": datetime.now(UTC),
        "input_hash": input_hash,
        "decision": decision,
        "probability": float(probability),
        "payload": payload,
    }


def store_predictions(rows: Iterable[dict[str, Any]]) -> int:
    """Insert rows made by :func:`prediction_row` in one transaction; returns how many.

    A failure is logged with the request ids (their audit events still hold the
    decisions) and counted as zero stored.
    """
    rows = list(rows)
    if not rows:
        return 0
    try:
        with writing() as conn:
            conn.execute(_INSERT, rows)
    except Exception as exc:  # noqa: BLE001 - the decisions are audited; never fail the caller
        log.error(
            "prediction rows not stored",
            extra={"request_ids": [r["request_id"] for r in rows][:20], "error": repr(exc)},
        )
        return 0
    return len(rows)
