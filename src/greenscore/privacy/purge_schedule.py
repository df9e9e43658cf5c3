"""Scheduled retention purges: an APScheduler cron job that runs :func:`~greenscore.privacy.retention.purge`.

``greenscore gdpr purge --schedule`` runs in the foreground (under systemd, a container or
``nohup``) and purges, at each ``privacy.purge_schedule`` (cron, UTC; default ``0 3 * * *``,
03:00 every day), every store of personal data past its retention period. Each run is one
``gdpr.purge`` audit event by the actor ``scheduler``, like a manual purge; a run that
fails is logged and the next one is still made. A machine that already has cron or
systemd timers can run ``greenscore gdpr purge`` from there instead.
"""

from __future__ import annotations

from typing import Any

from greenscore.config import Settings
from greenscore.logging import get_logger
from greenscore.privacy.retention import PurgeReport, purge
from greenscore.scheduling import cron_scheduler

log = get_logger(__name__)

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
    return cron_scheduler(
        run_scheduled_purge,
        cron=settings.privacy.purge_schedule,
        setting="privacy.purge_schedule",
        kwargs={"settings": settings},
        job_id=JOB_ID,
        name="retention purge",
        blocking=blocking,
    )
