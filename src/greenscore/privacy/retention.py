"""Retention: how long personal data is kept, and the purge that enforces it.

Every store of personal data has a retention period: ``privacy.retention_days`` unless a
policy row overrides it for that target. Targets are ``predictions``, ``outcomes`` (by
the date of their decision), ``lineage``, ``consent``, ``token_vault``, ``jobs``,
``dead_letters`` and ``monitor_samples`` (the service's sealed applicant rows: job data,
kept requests, the applicants sampled for the monitor) and ``dataset:<name>`` for each
registered dataset (rows are dated by the dataset's time column; datasets without one are
skipped and reported).
Consent history is purged except for each subject's grant still in force: deleting it
would silently withdraw a consent the subject gave.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pandas as pd
from sqlalchemy import delete, func, select

from greenscore.config import Settings
from greenscore.errors import ConfigError
from greenscore.privacy import sealed
from greenscore.privacy.registry import count_rows, list_datasets, remove_rows
from greenscore.security.audit import record_event
from greenscore.store import Database, affected_rows, database
from greenscore.store.tables.monitoring import OutcomeRecord
from greenscore.store.tables.predictions import PredictionRecord
from greenscore.store.tables.privacy import (
    ConsentRecord,
    LineageRecord,
    RetentionPolicy,
    TokenVaultEntry,
)

TABLE_TARGETS = ("predictions", "outcomes", "lineage", "consent", "token_vault")
#: Sealed applicant rows (:mod:`greenscore.privacy.sealed`): job inputs and results, and
#: the requests kept in the dead-letter table, the monitor's samples of scored applicants;
#: the target is the sealed kind.
SEALED_TARGETS = ("jobs", "dead_letters", "monitor_samples")


@dataclass
class PurgeReport:
    """What a purge deleted (or would delete, in a dry run).

    Attributes
    ----------
    deleted : rows deleted per target.
    skipped : targets not purged, with the reason.
    cutoffs : the cut-off date used per target.
    dry_run : True when nothing was deleted.
    """

    deleted: dict[str, int] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)
    cutoffs: dict[str, str] = field(default_factory=dict)
    dry_run: bool = False


def _check_target(target: str) -> str:
    if target in TABLE_TARGETS + SEALED_TARGETS or (
        target.startswith("dataset:") and len(target) > len("dataset:")
    ):
        return target
    raise ConfigError(
        f"retention target '{target}' must be one of "
        f"{', '.join(TABLE_TARGETS + SEALED_TARGETS)} or dataset:<name>"
    )


def set_retention(target: str, days: int, *, db: Database) -> None:
    """Keep ``target``'s records for ``days`` days (overrides ``privacy.retention_days``).

    Raises
    ------
    ConfigError
        If the target is unknown or ``days`` is negative.
    """
    _check_target(target)
    if days < 0:
        raise ConfigError(f"retention for '{target}' must be 0 or more days, got {days}")
    with db.session() as session:
        row = session.get(RetentionPolicy, target) or RetentionPolicy(target=target)
        row.days, row.updated_at = int(days), datetime.now(UTC)
        session.add(row)


def retention_days(target: str, *, settings: Settings) -> int:
    """The retention period of a target: its policy, else ``privacy.retention_days``."""
    with database(settings).session() as session:
        row = session.get(RetentionPolicy, _check_target(target))
        return int(row.days) if row is not None else int(settings.privacy.retention_days)


def _purge_consent(before: datetime, *, dry_run: bool, db: Database) -> int:
    latest = select(func.max(ConsentRecord.id)).group_by(
        ConsentRecord.subject_hash, ConsentRecord.purpose
    )
    in_force = select(ConsentRecord.id).where(
        ConsentRecord.id.in_(latest), ConsentRecord.granted.is_(True)
    )
    condition = (ConsentRecord.at < before) & ConsentRecord.id.not_in(in_force)
    with db.session() as session:
        if dry_run:
            return int(
                session.execute(
                    select(func.count()).select_from(ConsentRecord).where(condition)
                ).scalar_one()
            )
        return affected_rows(session.execute(delete(ConsentRecord).where(condition)))


def _purge_table(target: str, before: datetime, *, dry_run: bool, db: Database) -> int:
    if target == "consent":
        return _purge_consent(before, dry_run=dry_run, db=db)
    if target in SEALED_TARGETS:
        return sealed.purge(target, before, dry_run=dry_run, db=db)
    model, column = {
        "predictions": (PredictionRecord, PredictionRecord.created_at),
        "outcomes": (OutcomeRecord, OutcomeRecord.decided_at),
        "lineage": (LineageRecord, LineageRecord.at),
        "token_vault": (TokenVaultEntry, TokenVaultEntry.created_at),
    }[target]
    with db.session() as session:
        if dry_run:
            return int(
                session.execute(
                    select(func.count()).select_from(model).where(column < before)
                ).scalar_one()
            )
        return affected_rows(session.execute(delete(model).where(column < before)))


def _older_than(column: str, before: datetime):  # noqa: ANN202 - a row selector
    def select_rows(frame: pd.DataFrame) -> pd.Series:
        dates = pd.to_datetime(frame[column], errors="coerce", utc=True)
        # Undated rows are kept: what cannot be dated cannot be shown to be too old.
        return dates.notna() & (dates < pd.Timestamp(before))

    return select_rows


def purge(
    *,
    actor: str = "system",
    now: datetime | None = None,
    dry_run: bool = False,
    settings: Settings,
) -> PurgeReport:
    """Delete personal data older than its retention period from every known store.

    Parameters
    ----------
    actor : str
        Who ran the purge (recorded in the audit log).
    now : datetime, optional
        The reference time (default: now, UTC).
    dry_run : bool
        Count what would go without deleting anything.
    settings : Settings
        Whose database, default period and audit log.

    Returns
    -------
    PurgeReport
    """
    db = database(settings)
    now = now or datetime.now(UTC)
    report = PurgeReport(dry_run=dry_run)
    for target in TABLE_TARGETS + SEALED_TARGETS:
        before = now - timedelta(days=retention_days(target, settings=settings))
        report.cutoffs[target] = before.isoformat(timespec="seconds")
        report.deleted[target] = _purge_table(target, before, dry_run=dry_run, db=db)
    for entry in list_datasets(db=db):
        target = f"dataset:{entry.name}"
        if entry.time_column is None:
            report.skipped[target] = "no time column registered"
            continue
        if not entry.path.exists():
            report.skipped[target] = f"file {entry.path} is missing"
            continue
        before = now - timedelta(days=retention_days(target, settings=settings))
        report.cutoffs[target] = before.isoformat(timespec="seconds")
        selector = _older_than(entry.time_column, before)
        if dry_run:
            report.deleted[target] = count_rows(entry, selector)
        else:
            report.deleted[target] = remove_rows(entry, selector, db=db)
    if not dry_run:
        record_event(
            "gdpr.purge",
            actor=actor,
            details={
                "deleted": report.deleted,
                "skipped": report.skipped,
                "cutoffs": report.cutoffs,
            },
            settings=settings,
        )
    return report
