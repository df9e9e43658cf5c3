"""Subject lineage: which dataset (by SHA-256) and which model version touched which subject.

Answers a subject-access or erasure request ("which models were trained on me?") and lets
erasure tell the operator which models to retrain. Subjects are stored only as
``hash_subject(subject)``.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime

from sqlalchemy import delete, insert, select

from greenscore.errors import ConfigError
from greenscore.store import session_scope
from greenscore.store.tables.privacy import LineageRecord

ACTIONS = ("ingested", "trained_on", "scored", "explained", "anonymised")


def record_lineage(
    subjects: Iterable[object],
    *,
    action: str,
    dataset_sha: str | None = None,
    model_name: str | None = None,
    model_version: str | None = None,
    url: str | None = None,
) -> int:
    """Record that ``action`` used the data of each subject; returns the rows written.

    Raises
    ------
    ConfigError
        If ``action`` is not one of :data:`ACTIONS`.
    """
    from greenscore.security.audit import hash_subject

    if action not in ACTIONS:
        raise ConfigError(f"lineage action '{action}' is not one of: {', '.join(ACTIONS)}")
    now = datetime.now(UTC)
    rows = [
        {
            "subject_hash": hash_subject(str(s)),
            "action": action,
            "dataset_sha": dataset_sha,
            "model_name": model_name,
            "model_version": None if model_version is None else str(model_version),
            "at": now,
        }
        for s in dict.fromkeys(subjects)
    ]
    if rows:
        with session_scope(url) as session:
            session.execute(insert(LineageRecord), rows)
    return len(rows)


def lineage_for(subject: str, *, url: str | None = None) -> list[dict]:
    """Every lineage record of a subject, oldest first."""
    from greenscore.security.audit import hash_subject

    with session_scope(url) as session:
        rows = session.execute(
            select(LineageRecord)
            .where(LineageRecord.subject_hash == hash_subject(str(subject)))
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


def delete_lineage(subject: str, *, url: str | None = None) -> int:
    """Delete a subject's lineage (erasure); returns how many rows."""
    from greenscore.security.audit import hash_subject

    with session_scope(url) as session:
        result = session.execute(
            delete(LineageRecord).where(LineageRecord.subject_hash == hash_subject(str(subject)))
        )
        return int(result.rowcount or 0)


def purge_lineage(before: datetime, *, url: str | None = None) -> int:
    """Delete lineage recorded before ``before`` (retention); returns how many rows."""
    with session_scope(url) as session:
        return int(
            session.execute(delete(LineageRecord).where(LineageRecord.at < before)).rowcount or 0
        )
