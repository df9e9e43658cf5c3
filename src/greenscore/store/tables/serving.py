"""Tables of the scoring service: batch jobs, the human-review queue and dead letters
(:mod:`greenscore.serving`). Applicant data of jobs and dead letters is not here: it is
kept as sealed rows (:class:`~greenscore.store.tables.privacy.SealedUnit`).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, Float, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from greenscore.store.base import Base


class Job(Base):
    """One batch job (its rows live in sealed units, not here)."""

    __tablename__ = "serving_jobs"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    status: Mapped[str] = mapped_column(String(20), index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    actor: Mapped[str] = mapped_column(String(200))
    source: Mapped[str] = mapped_column(String(20))
    # The stored file's name for a file job (shown, never read again); empty for records.
    input_path: Mapped[str] = mapped_column(Text)
    total: Mapped[int] = mapped_column(Integer)
    done: Mapped[int] = mapped_column(Integer, default=0)
    errors: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    callback_url: Mapped[str | None] = mapped_column(Text, nullable=True)
    callback_status: Mapped[str] = mapped_column(String(20), default="none")
    callback_attempts: Mapped[int] = mapped_column(Integer, default=0)
    callback_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    # When the next callback attempt is due (its own schedule: survives a restart).
    callback_next_at: Mapped[datetime | None] = mapped_column(
        DateTime(timezone=True), nullable=True
    )
    # Rows per sealed chunk, fixed at creation (the setting may change before it runs).
    chunk_rows: Mapped[int | None] = mapped_column(Integer, nullable=True)
    id_column: Mapped[str | None] = mapped_column(String(200), nullable=True)
    worker: Mapped[str | None] = mapped_column(String(64), nullable=True)
    heartbeat_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class ReviewEntry(Base):
    """One decision waiting for (or decided by) a person; at most one per request and kind
    (two contests of one decision sent at once make one item)."""

    __tablename__ = "serving_review_queue"
    __table_args__ = (
        UniqueConstraint("request_id", "kind", name="uq_serving_review_queue_request_kind"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    request_id: Mapped[str] = mapped_column(String(64), index=True)
    kind: Mapped[str] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(20), index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    comment: Mapped[str | None] = mapped_column(Text, nullable=True)
    model: Mapped[str] = mapped_column(String(300))
    decision: Mapped[str] = mapped_column(String(20))
    probability: Mapped[float] = mapped_column(Float)
    outcome: Mapped[str | None] = mapped_column(String(20), nullable=True)
    note: Mapped[str | None] = mapped_column(Text, nullable=True)
    decided_by: Mapped[str | None] = mapped_column(String(200), nullable=True)
    decided_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    # Nullable: items of databases made before owners were kept have none.
    tenant: Mapped[str | None] = mapped_column(String(200), nullable=True)


class DeadLetter(Base):
    """One request that could not be answered."""

    __tablename__ = "serving_dead_letters"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    request_id: Mapped[str] = mapped_column(String(64), index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    kind: Mapped[str] = mapped_column(String(20))
    route: Mapped[str | None] = mapped_column(String(200), nullable=True)
    actor: Mapped[str | None] = mapped_column(String(200), nullable=True)
    model: Mapped[str | None] = mapped_column(String(500), nullable=True)
    error: Mapped[str] = mapped_column(Text)
    # How the sealed payload is shaped (``sealed:applicants`` or ``sealed:raw``); letters
    # of release 0.1.0 hold the request itself here, as JSON text.
    payload: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(20), index=True, default="pending")
    replayed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    note: Mapped[str | None] = mapped_column(Text, nullable=True)
