"""One recurring job on an APScheduler cron trigger (UTC): what the scheduled retention
purge (:mod:`greenscore.privacy.purge_schedule`) and the scheduled ESG report
(:mod:`greenscore.sustainability.report_schedule`) share.

A run missed while the machine slept is still made, once, within a day (coalesced), and
never two at a time.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC
from typing import Any

from greenscore.errors import ConfigError

BAD_CRON = "{setting} '{cron}' is not a cron line: {error}"


def cron_trigger(cron: str, *, setting: str) -> Any:
    """APScheduler's trigger for a five-field cron line, in UTC (``setting`` names where
    the line came from, for the error).

    Raises
    ------
    ConfigError
        If the line is not valid cron.
    """
    from apscheduler.triggers.cron import CronTrigger

    try:
        return CronTrigger.from_crontab(cron, timezone=UTC)
    except ValueError as exc:
        raise ConfigError(BAD_CRON.format(setting=setting, cron=cron, error=exc)) from exc


def cron_scheduler(
    job: Callable[..., Any],
    *,
    cron: str,
    setting: str,
    kwargs: Mapping[str, Any],
    job_id: str,
    name: str,
    blocking: bool = True,
) -> Any:
    """A scheduler holding ``job(**kwargs)`` at each ``cron`` (not started).

    ``blocking``: ``BlockingScheduler`` (a command's foreground loop) or
    ``BackgroundScheduler`` (inside another process).

    Raises
    ------
    ConfigError
        If ``cron`` is not a five-field cron line.
    """
    from apscheduler.schedulers.background import BackgroundScheduler
    from apscheduler.schedulers.blocking import BlockingScheduler

    trigger = cron_trigger(cron, setting=setting)
    scheduler = (BlockingScheduler if blocking else BackgroundScheduler)(timezone=UTC)
    scheduler.add_job(
        job,
        trigger=trigger,
        kwargs=dict(kwargs),
        id=job_id,
        name=name,
        # A run missed while the machine slept is still due, once.
        misfire_grace_time=24 * 3600,
        coalesce=True,
        max_instances=1,
    )
    return scheduler
