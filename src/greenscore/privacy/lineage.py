"""Subject lineage: which dataset (by SHA-256) and which model version touched which subject.

Answers a subject-access or erasure request ("which models were trained on me?") and lets
erasure tell the operator which models to retrain. Subjects are known here only by their
pseudonyms (:func:`greenscore.security.pseudonym.subject_hash`, computed by the caller).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, delete, insert, select

from greenscore.errors import ConfigError
from greenscore.store import Database, affected_rows
from greenscore.store.tables.privacy import LineageRecord

ACTIONS = ("ingested", "trained_on", "scored", "explained", "anonymised")
#: Built once: the service inserts ``scored`` rows with it in every decision's commit.
_INSERT = insert(LineageRecord)


def record_lineage(
    subject_hashes: Iterable[str],
    *,
    action: str,
    dataset_sha: str | None = None,
    model_name: str | None = None,
    model_version: str | None = None,
    db: Database,
) -> int:
    """Record that ``action`` used the data of each subject; returns the rows written.

    Raises
    ------
    ConfigError
        If ``action`` is not one of :data:`ACTIONS`.
    """
    if action not in ACTIONS:
        raise ConfigError(f"lineage action '{action}' is not one of: {', '.join(ACTIONS)}")
    now = datetime.now(UTC)
    rows = [
        {
            "subject_hash": h,
            "action": action,
            "dataset_sha": dataset_sha,
            "model_name": model_name,
            "model_version": None if model_version is None else str(model_version),
            "at": now,
        }
        for h in dict.fromkeys(subject_hashes)
    ]
    if rows:
        with db.session() as session:
            session.execute(_INSERT, rows)
    return len(rows)


def insert_scored(conn: Connection, predictions: Sequence[Mapping[str, Any]]) -> int:
    """Record ``scored`` lineage for prediction rows, on an open connection inside the
    caller's transaction (the service writes it with the decisions: both or neither).

    Each row needs ``subject_hash``, ``model_name`` and ``model_version``; rows without a
    subject are skipped, and one subject scored twice by one model in a batch counts once.
    """
    now = datetime.now(UTC)
    rows = {
        (p["subject_hash"], p["model_name"], str(p["model_version"])): None
        for p in predictions
        if p.get("subject_hash")
    }
    if not rows:
        return 0
    conn.execute(
        _INSERT,
        [
            {
                "subject_hash": h,
                "action": "scored",
                "dataset_sha": None,
                "model_name": name,
                "model_version": version,
                "at": now,
            }
            for h, name, version in rows
        ],
    )
    return len(rows)


def lineage_for(subject_hash: str, *, db: Database) -> list[dict]:
    """Every lineage record of a subject, oldest first."""
    with db.session() as session:
        rows = session.execute(
            select(LineageRecord)
            .where(LineageRecord.subject_hash == subject_hash)
            .order_by(LineageRecord.at, LineageRecord.id)
        ).scalars()
        return [
            {
                "action": r.action,
                "dataset_sha": r.dataset_sha,
                "model_name": r.model_name,
                "model_version": r.model_version,
                "at": r.at.isoformat(),
            }
            for r in rows
        ]


def delete_lineage(subject_hash: str, *, db: Database) -> int:
    """Delete a subject's lineage (erasure); returns how many rows."""
    with db.session() as session:
        result = session.execute(
            delete(LineageRecord).where(LineageRecord.subject_hash == subject_hash)
        )
        return affected_rows(result)


def purge_lineage(before: datetime, *, db: Database) -> int:
    """Delete lineage recorded before ``before`` (retention); returns how many rows."""
    with db.session() as session:
        return affected_rows(
            session.execute(delete(LineageRecord).where(LineageRecord.at < before))
        )
