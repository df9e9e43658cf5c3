"""Tables of model monitoring: observed outcomes of decisions and the training jobs the
monitor files (:mod:`greenscore.store.outcomes`, :mod:`greenscore.store.training_jobs`)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, DateTime, Float, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from greenscore.store.base import Base


class OutcomeRecord(Base):
    """The observed outcome of one decision."""

    __tablename__ = "outcomes"

    request_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    subject_hash: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)
    model_name: Mapped[str] = mapped_column(String(200), index=True)
    model_version: Mapped[str] = mapped_column(String(100))
    probability: Mapped[float] = mapped_column(Float)
    decision: Mapped[str] = mapped_column(String(20))
    decided_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    loan_date: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    vintage: Mapped[str] = mapped_column(String(7), index=True)
    defaulted: Mapped[bool] = mapped_column(Boolean)
    observed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    recorded_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    source: Mapped[str | None] = mapped_column(String(300), nullable=True)
    tenant: Mapped[str | None] = mapped_column(String(200), nullable=True)


class TrainingJob(Base):
    """One request to retrain a model."""

    __tablename__ = "training_jobs"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    model: Mapped[str] = mapped_column(String(500), index=True)
    status: Mapped[str] = mapped_column(String(20), index=True)
    reasons: Mapped[list] = mapped_column(JSON)
    dedupe_key: Mapped[str] = mapped_column(String(64), unique=True)
    requested_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    result: Mapped[dict | None] = mapped_column(JSON, nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)

    def to_dict(self) -> dict[str, Any]:
        """Plain data for output."""
        keys = ("id", "model", "status", "reasons", "requested_by", "result", "error")
        out = {k: getattr(self, k) for k in keys}
        out["created_at"] = self.created_at.isoformat()
        out["updated_at"] = self.updated_at.isoformat()
        return out
