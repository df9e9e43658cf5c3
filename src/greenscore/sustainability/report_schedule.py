"""Scheduled ESG reports: an APScheduler cron job that writes the report into the home folder.

``greenscore report esg --schedule`` runs in the foreground (under systemd, a container
or ``nohup``) and writes, at each ``sustainability.report_schedule`` (cron, default
``0 6 1 * *``: 06:00 UTC on the first of each month), the report of the quarter that
contains the day before -- on 1 January the whole of Q4, on 1 December Q4 to date --
into ``<home>/reports/esg/``. A machine that already has cron or systemd timers can run
``greenscore report esg`` from there instead (README: "ESG reports on a schedule").
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from greenscore.config import Settings, get_settings
from greenscore.logging import get_logger
from greenscore.scheduling import cron_scheduler
from greenscore.sustainability.periods import Period, budget_period

log = get_logger(__name__)

JOB_ID = "greenscore-esg-report"


def report_folder(settings: Settings | None = None) -> Path:
    """Where scheduled reports go: ``<home>/reports/esg``."""
    settings = settings or get_settings()
    return settings.ensure_home() / "reports" / "esg"


def due_period(now: datetime) -> Period:
    """The quarter a run at ``now`` reports on: the one containing the day before."""
    return budget_period("quarter", now - timedelta(days=1))


def write_scheduled_report(
    *,
    settings: Settings | None = None,
    now: datetime | None = None,
    formats: list[str] | None = None,
) -> list[Path]:
    """Write the report that is due at ``now`` (one run of the scheduled job)."""
    from greenscore.sustainability.report_esg import FORMATS, build_report, write_report
    from greenscore.sustainability.snapshot import gather

    settings = settings or get_settings()
    now = now or datetime.now(UTC)
    period = due_period(now)
    report = build_report(gather(period, settings=settings, now=now), settings=settings)
    paths = write_report(report, out=report_folder(settings), formats=formats or list(FORMATS))
    log.warning(
        "ESG report written", extra={"period": period.key, "files": [str(p) for p in paths]}
    )
    return paths


def build_scheduler(
    *, settings: Settings | None = None, blocking: bool = True, formats: list[str] | None = None
) -> Any:
    """A scheduler holding the report job (not started).

    Parameters
    ----------
    blocking : bool
        ``BlockingScheduler`` (the command's foreground loop) or ``BackgroundScheduler``.
    """
    settings = settings or get_settings()
    return cron_scheduler(
        write_scheduled_report,
        cron=settings.sustainability.report_schedule,
        setting="sustainability.report_schedule",
        kwargs={"settings": settings, "formats": formats},
        job_id=JOB_ID,
        name="ESG report",
        blocking=blocking,
    )
