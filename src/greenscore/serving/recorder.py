"""Stores scored requests in the prediction store, one transaction per batch of decisions.

The hash-chained audit event is the record of a decision and is written before the caller
gets an answer. The prediction-store row (what contests, subject-access requests and
erasure look up) is written right after: for real-time requests one loop turn later, once
the responses are on their way, and for batches and jobs before the call returns. Rows go
through :func:`greenscore.store.predictions.record_predictions`, which keeps the subject
only as its keyed hash.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from greenscore.logging import get_logger
from greenscore.store.predictions import record_predictions

log = get_logger(__name__)


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
    tenant: str | None = None,
) -> dict[str, Any]:
    """The keyword arguments of one prediction-store record (``tenant``: its owner)."""
    return {
        "request_id": request_id,
        "subject": subject,
        "model_name": model_name,
        "model_version": str(model_version),
        "input_hash": input_hash,
        "decision": decision,
        "probability": float(probability),
        "payload": payload,
        "tenant": tenant,
    }


def store_predictions(rows: Iterable[dict[str, Any]]) -> int:
    """Store rows made by :func:`prediction_row` in one transaction; returns how many.

    A failure is logged with the request ids (their audit events still hold the
    decisions) and counted as zero stored: the caller already has its answer.
    """
    rows = list(rows)
    if not rows:
        return 0
    try:
        return record_predictions(rows)
    except Exception as exc:  # noqa: BLE001 - the decisions are audited; never fail the caller
        log.error(
            "prediction rows not stored",
            extra={"request_ids": [r["request_id"] for r in rows][:20], "error": repr(exc)},
        )
        return 0
