"""Tables of carbon accounting (:mod:`greenscore.store.sustainability`,
:mod:`greenscore.sustainability.budgets`, :mod:`greenscore.sustainability.scheduler`).

* ``carbon_budgets``: a limit in kg CO2e per project, model or team and period.
* ``carbon_usage``: the ledger, one row per measured piece of work; ``source_key`` is
  unique, so recording the same run twice adds nothing.
* ``carbon_budget_alerts``: which threshold of which budget fired in which period; the
  unique (budget, period, threshold) makes an alert fire exactly once.
* ``carbon_schedule``: deferrable jobs placed by the carbon-aware scheduler.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import DateTime, Float, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from greenscore.store.base import Base


def new_id() -> str:
    """A fresh row id (32 hex digits)."""
    return uuid.uuid4().hex


class CarbonBudget(Base):
    """A limit on the carbon of one project, model or team in each period."""

    __tablename__ = "carbon_budgets"
    __table_args__ = (UniqueConstraint("scope", "name", "period", name="uq_carbon_budget"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    scope: Mapped[str] = mapped_column(String(20))
    name: Mapped[str] = mapped_column(String(200))
    period: Mapped[str] = mapped_column(String(10))
    limit_kg: Mapped[float] = mapped_column(Float)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class CarbonUsage(Base):
    """One measured piece of work charged to a project, team and model."""

    __tablename__ = "carbon_usage"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    source_key: Mapped[str] = mapped_column(String(300), unique=True)
    recorded_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    kind: Mapped[str] = mapped_column(String(40))
    project: Mapped[str] = mapped_column(String(200), index=True)
    team: Mapped[str | None] = mapped_column(String(200), nullable=True)
    model: Mapped[str | None] = mapped_column(String(200), nullable=True, index=True)
    run_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    kwh: Mapped[float] = mapped_column(Float)
    co2_kg: Mapped[float] = mapped_column(Float)
    g_co2e_per_kwh: Mapped[float] = mapped_column(Float)
    factor_source: Mapped[str] = mapped_column(Text)
    rows: Mapped[int | None] = mapped_column(Integer, nullable=True)
    fits: Mapped[int | None] = mapped_column(Integer, nullable=True)


class CarbonBudgetAlert(Base):
    """A threshold of a budget crossed in a period (at most one row each)."""

    __tablename__ = "carbon_budget_alerts"
    __table_args__ = (
        UniqueConstraint("budget_id", "period_key", "threshold", name="uq_carbon_budget_alert"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    budget_id: Mapped[str] = mapped_column(String(32), index=True)
    period_key: Mapped[str] = mapped_column(String(10))
    threshold: Mapped[float] = mapped_column(Float)
    fired_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    used_kg: Mapped[float] = mapped_column(Float)
    limit_kg: Mapped[float] = mapped_column(Float)
    usage_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    message: Mapped[str] = mapped_column(Text)


class ScheduledJob(Base):
    """A deferrable job placed in the cleanest window before its deadline."""

    __tablename__ = "carbon_schedule"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    job: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(40))
    country: Mapped[str] = mapped_column(String(3))
    region: Mapped[str | None] = mapped_column(String(100), nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    deadline: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    duration_hours: Mapped[float] = mapped_column(Float)
    planned_start: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    kwh: Mapped[float | None] = mapped_column(Float, nullable=True)
    intensity_now: Mapped[float] = mapped_column(Float)
    intensity_planned: Mapped[float] = mapped_column(Float)
    saving_kg: Mapped[float | None] = mapped_column(Float, nullable=True)
    source: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(20), default="planned")
