"""Scheduled retention purges: an APScheduler cron job that runs :func:`~greenscore.privacy.retention.purge`.

``greenscore gdpr purge --schedule`` runs in the foreground (under systemd, a container or
``nohup``) and purges, at each ``privacy.purge_schedule`` (cron, UTC; default ``0 3 * * *``,
03:00 every day), every store of personal data past its retention period. Each run is one
``gdpr.purge`` audit event by the actor ``scheduler``, like a manual purge; a run that
fails is logged and the next one is still made. A machine that already has cron or
systemd timers can run ``greenscore gdpr purge`` from there instead.
"""

from __future__ import annotations

from datetime import UTC
from typing import Any

from greenscore.config import Settings
from greenscore.errors import ConfigError
from greenscore.logging import get_logger
from greenscore.privacy.retention import PurgeReport, purge

log = get_logger(__name__)

BAD_CRON = "privacy.purge_schedule '{cron}' is not a cron line: {error}"
JOB_ID = "greenscore-retention-purge"
ACTOR = "scheduler"


def run_scheduled_purge(*, settings: Settings) -> PurgeReport | None:
    """One run of the scheduled job: purge and log what went (None if it failed)."""
    try:
        report = purge(actor=ACTOR, settings=settings)
    except Exception as exc:  # noqa: BLE001 - the scheduler must live to run the next purge
        log.error("scheduled retention purge failed", extra={"error": repr(exc)})
        return None
    log.warning(
        "scheduled retention purge",
        extra={"deleted": report.deleted, "skipped": report.skipped},
    )
    return report


def build_purge_scheduler(*, settings: Settings, blocking: bool = True) -> Any:
    """A scheduler holding the purge job (not started).

    Parameters
    ----------
    blocking : bool
        ``BlockingScheduler`` (the command's foreground loop) or ``BackgroundScheduler``
        (inside another process, e.g. the service).

    Raises
    ------
    ConfigError
        If ``privacy.purge_schedule`` is not a five-field cron line.
    """
    from apscheduler.schedulers.background import BackgroundScheduler
    from apscheduler.schedulers.blocking import BlockingScheduler
    from apscheduler.triggers.cron import CronTrigger

    cron = settings.privacy.purge_schedule
    try:
        trigger = CronTrigger.from_crontab(cron, timezone=UTC)
    except ValueError as exc:
        raise ConfigError(BAD_CRON.format(cron=cron, error=exc)) from exc
    scheduler = (BlockingScheduler if blocking else BackgroundScheduler)(timezone=UTC)
    scheduler.add_job(
        run_scheduled_purge,
        trigger=trigger,
        kwargs={"settings": settings},
        id=JOB_ID,
        name="retention purge",
        # A purge missed while the machine slept is still due, once.
        misfire_grace_time=24 * 3600,
        coalesce=True,
        max_instances=1,
    )
    return scheduler
