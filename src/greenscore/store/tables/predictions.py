"""The prediction store's table: one row per decision the service (or a replay) made
(:mod:`greenscore.store.predictions`)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, DateTime, Float, String
from sqlalchemy.orm import Mapped, mapped_column

from greenscore.store.base import Base


class PredictionRecord(Base):
    """One scored request."""

    __tablename__ = "predictions"

    request_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    subject_hash: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)
    model_name: Mapped[str] = mapped_column(String(200))
    model_version: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    input_hash: Mapped[str] = mapped_column(String(64))
    decision: Mapped[str] = mapped_column(String(20))
    probability: Mapped[float] = mapped_column(Float)
    payload: Mapped[dict | None] = mapped_column(JSON, nullable=True)
    # Nullable: rows of databases made before owners were kept have none.
    tenant: Mapped[str | None] = mapped_column(String(200), nullable=True)
