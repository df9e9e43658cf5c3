"""Carbon accounting's records: budgets, the usage ledger, budget alerts, scheduled jobs
(the tables are declared in :mod:`greenscore.store.tables.sustainability`).

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

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from greenscore.errors import ConfigError, NotFoundError
from greenscore.store._legacy import session_scope
from greenscore.store._time import aware
from greenscore.store.tables.sustainability import (
    CarbonBudget,
    CarbonBudgetAlert,
    CarbonUsage,
    ScheduledJob,
    new_id,
)

NO_BUDGET = "no carbon budget with id '{id}'"
DUPLICATE_BUDGET = "a {period} carbon budget for {scope} '{name}' exists already (id {id})"


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
        id=new_id(),
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
    record = CarbonUsage(id=new_id(), **values)
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
            session.add(CarbonBudgetAlert(id=new_id(), **values))
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
    job = ScheduledJob(id=new_id(), **values)
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
