"""Tables of carbon accounting: budgets, the usage ledger, budget alerts, scheduled jobs.

* ``carbon_budgets``: a limit in kg CO2e per project, model or team and period.
* ``carbon_usage``: the ledger. One row per measured piece of work (a model's training
  in a run, a batch of scoring), with its kWh, kg CO2e and the grid factor used, named.
  ``source_key`` is unique, so recording the same run twice adds nothing.
* ``carbon_budget_alerts``: which threshold of which budget fired in which period. The
  unique (budget, period, threshold) is what makes an alert fire exactly once, however
  many processes record usage at the same time.
* ``carbon_schedule``: deferrable jobs placed by the carbon-aware scheduler, with the
  intensity now, at the planned start, and the saving.

Used by :mod:`greenscore.sustainability.budgets` and :mod:`~greenscore.sustainability.scheduler`.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import DateTime, Float, Integer, String, Text, UniqueConstraint, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, mapped_column

from greenscore.errors import ConfigError, NotFoundError
from greenscore.store import Base, session_scope
from greenscore.store._time import aware

NO_BUDGET = "no carbon budget with id '{id}'"
DUPLICATE_BUDGET = "a {period} carbon budget for {scope} '{name}' exists already (id {id})"


def _id() -> str:
    return uuid.uuid4().hex


class CarbonBudget(Base):
    """A limit on the carbon of one project, model or team in each period."""

    __tablename__ = "carbon_budgets"
    __table_args__ = (UniqueConstraint("scope", "name", "period", name="uq_carbon_budget"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=_id)
    scope: Mapped[str] = mapped_column(String(20))
    name: Mapped[str] = mapped_column(String(200))
    period: Mapped[str] = mapped_column(String(10))
    limit_kg: Mapped[float] = mapped_column(Float)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class CarbonUsage(Base):
    """One measured piece of work charged to a project, team and model."""

    __tablename__ = "carbon_usage"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=_id)
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

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=_id)
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

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=_id)
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


# ---------------------------------------------------------------------- budgets
def add_budget(
    *, scope: str, name: str, period: str, limit_kg: float, url: str | None = None
) -> CarbonBudget:
    """Store a budget.

    Raises
    ------
    ConfigError
        If a budget for the same scope, name and period exists.
    """
    budget = CarbonBudget(
        id=_id(),
        scope=scope,
        name=name,
        period=period,
        limit_kg=float(limit_kg),
        created_at=datetime.now(UTC),
    )
    try:
        with session_scope(url) as session:
            session.add(budget)
    except IntegrityError as exc:
        with session_scope(url) as session:
            found = session.execute(
                select(CarbonBudget).where(
                    CarbonBudget.scope == scope,
                    CarbonBudget.name == name,
                    CarbonBudget.period == period,
                )
            ).scalar_one_or_none()
        ref = found.id if found is not None else "?"
        raise ConfigError(
            DUPLICATE_BUDGET.format(period=period, scope=scope, name=name, id=ref)
        ) from exc
    return budget


def budgets(*, url: str | None = None) -> list[CarbonBudget]:
    """Every budget, oldest first."""
    with session_scope(url) as session:
        return list(
            session.execute(select(CarbonBudget).order_by(CarbonBudget.created_at)).scalars()
        )


def delete_budget(budget_id: str, *, url: str | None = None) -> None:
    """Remove a budget (its fired alerts stay, as history).

    Raises
    ------
    NotFoundError
        If there is no budget with that id.
    """
    with session_scope(url) as session:
        found = session.get(CarbonBudget, budget_id)
        if found is None:
            raise NotFoundError(NO_BUDGET.format(id=budget_id))
        session.delete(found)


# ---------------------------------------------------------------------- usage
def add_usage(values: dict[str, Any], *, url: str | None = None) -> CarbonUsage | None:
    """Add one ledger row; None if a row with the same ``source_key`` exists already."""
    record = CarbonUsage(id=_id(), **values)
    record.recorded_at = aware(values.get("recorded_at") or datetime.now(UTC))
    try:
        with session_scope(url) as session:
            session.add(record)
    except IntegrityError:
        return None
    return record


def usage(
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    url: str | None = None,
) -> list[CarbonUsage]:
    """Ledger rows recorded in ``[since, until)``, oldest first."""
    query = select(CarbonUsage).order_by(CarbonUsage.recorded_at)
    if since is not None:
        query = query.where(CarbonUsage.recorded_at >= aware(since))
    if until is not None:
        query = query.where(CarbonUsage.recorded_at < aware(until))
    with session_scope(url) as session:
        return list(session.execute(query).scalars())


# ---------------------------------------------------------------------- alerts
def claim_alert(values: dict[str, Any], *, url: str | None = None) -> bool:
    """Record that a threshold fired; False if it had fired already (nothing is stored)."""
    try:
        with session_scope(url) as session:
            session.add(CarbonBudgetAlert(id=_id(), **values))
    except IntegrityError:
        return False
    return True


def fired_alerts(*, limit: int = 200, url: str | None = None) -> list[CarbonBudgetAlert]:
    """The most recent budget alerts, newest first."""
    with session_scope(url) as session:
        return list(
            session.execute(
                select(CarbonBudgetAlert).order_by(CarbonBudgetAlert.fired_at.desc()).limit(limit)
            ).scalars()
        )


# ---------------------------------------------------------------------- schedule
def add_scheduled(values: dict[str, Any], *, url: str | None = None) -> ScheduledJob:
    """Store a placed job."""
    job = ScheduledJob(id=_id(), **values)
    with session_scope(url) as session:
        session.add(job)
    return job


def scheduled(*, status: str | None = None, url: str | None = None) -> list[ScheduledJob]:
    """Placed jobs by planned start (only those with ``status`` if given)."""
    query = select(ScheduledJob).order_by(ScheduledJob.planned_start)
    if status is not None:
        query = query.where(ScheduledJob.status == status)
    with session_scope(url) as session:
        return list(session.execute(query).scalars())


def set_scheduled_status(job_id: str, status: str, *, url: str | None = None) -> None:
    """Mark a placed job started or done.

    Raises
    ------
    NotFoundError
        If there is no placed job with that id.
    """
    with session_scope(url) as session:
        found = session.get(ScheduledJob, job_id)
        if found is None:
            raise NotFoundError(f"no scheduled job with id '{job_id}'")
        found.status = status
