"""Training jobs: requests to retrain a model, filed by the monitor and run by
``greenscore retrain run-pending``.

The scoring service's batch jobs (``serving_jobs``) score records; training is a different
kind of work (minutes to hours, run by an operator's scheduler, not by the service's
worker), so it has its own small table rather than a kind column on that one.

Filing is idempotent twice over: a job carries a ``dedupe_key`` made from the model and
the evidence that asked for it (``auc_drop:2024-06``, ...), unique in the table, so the
same finding never files a second job however often the monitor runs; and while a job for
a model is pending or running, no other is filed for it.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from greenscore.errors import NotFoundError
from greenscore.store.database import Database, affected_rows
from greenscore.store.tables.monitoring import TrainingJob

PENDING, RUNNING, DONE, FAILED = "pending", "running", "done", "failed"
OPEN = (PENDING, RUNNING)
NO_JOB = "no training job with id '{id}'"


def dedupe_key(model: str, evidence: Sequence[str]) -> str:
    """The key of a request: the model and its sorted pieces of evidence, hashed."""
    text = "\n".join([model, *sorted(set(evidence))])
    return hashlib.sha256(text.encode()).hexdigest()


def _open_job(session: Any, model: str) -> TrainingJob | None:
    return session.execute(
        select(TrainingJob)
        .where(TrainingJob.model == model, TrainingJob.status.in_(OPEN))
        .order_by(TrainingJob.created_at)
        .limit(1)
    ).scalar_one_or_none()


def file_training_job(
    *,
    model: str,
    reasons: list[dict[str, Any]],
    evidence: Sequence[str],
    requested_by: str,
    db: Database,
) -> tuple[TrainingJob, bool]:
    """File a job to retrain ``model`` unless one is open or this evidence filed one before.

    Parameters
    ----------
    model : str
        The champion to retrain: a bundle folder or a ``models:/`` URI.
    reasons : list of dict
        Why (the alerts), stored with the job.
    evidence : sequence of str
        Stable names of the findings (``auc_drop:2024-06``) that make the dedupe key.
    requested_by : str
        Who asked (``monitor``, an operator).

    Returns
    -------
    (job, created) : the job filed now, or the open or earlier one, and whether it is new.
    """
    key = dedupe_key(model, evidence)
    now = datetime.now(UTC)
    with db.session() as session:
        existing = (
            _open_job(session, model)
            or session.execute(
                select(TrainingJob).where(TrainingJob.dedupe_key == key)
            ).scalar_one_or_none()
        )
        if existing is not None:
            return existing, False
    job = TrainingJob(
        id=uuid.uuid4().hex,
        model=model,
        status=PENDING,
        reasons=reasons,
        dedupe_key=key,
        requested_by=requested_by,
        created_at=now,
        updated_at=now,
    )
    try:
        with db.session() as session:
            session.add(job)
    except IntegrityError:
        # Another monitor filed the same evidence between our read and our insert.
        with db.session() as session:
            found = session.execute(
                select(TrainingJob).where(TrainingJob.dedupe_key == key)
            ).scalar_one()
        return found, False
    return job, True


def training_jobs(*, status: str | None = None, db: Database) -> list[TrainingJob]:
    """Jobs, oldest first (optionally only those in one status)."""
    query = select(TrainingJob).order_by(TrainingJob.created_at)
    if status is not None:
        query = query.where(TrainingJob.status == status)
    with db.session() as session:
        return list(session.execute(query).scalars())


def get_training_job(job_id: str, *, db: Database) -> TrainingJob:
    """One job.

    Raises
    ------
    NotFoundError
        If there is no job with that id.
    """
    with db.session() as session:
        job = session.get(TrainingJob, job_id)
    if job is None:
        raise NotFoundError(NO_JOB.format(id=job_id))
    return job


def claim_training_job(job_id: str, *, db: Database) -> bool:
    """Move a pending job to running; False if another runner took it first."""
    with db.session() as session:
        result = session.execute(
            update(TrainingJob)
            .where(TrainingJob.id == job_id, TrainingJob.status == PENDING)
            .values(status=RUNNING, updated_at=datetime.now(UTC))
        )
        return affected_rows(result) != 0


def finish_training_job(
    job_id: str,
    *,
    status: str,
    result: dict[str, Any] | None = None,
    error: str | None = None,
    db: Database,
) -> None:
    """Record how a running job ended (``done`` with its result, or ``failed`` with why)."""
    with db.session() as session:
        session.execute(
            update(TrainingJob)
            .where(TrainingJob.id == job_id)
            .values(status=status, result=result, error=error, updated_at=datetime.now(UTC))
        )
