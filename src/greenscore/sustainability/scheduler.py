"""Carbon-aware scheduling: start deferrable work in the cleanest window before its deadline.

Training, batch scoring and (later) federated rounds can often wait a few hours. A
:class:`DeferrableJob` says how long it runs and by when it must be finished; :func:`place`
asks the intensity provider (:mod:`greenscore.sustainability.intensity`: by default the
region's annual factor times its typical hourly profile) for every hour up to the deadline,
and picks the start whose window has the lowest mean intensity -- the earliest such start
when several tie, and *now* when the deadline leaves no room to wait. The saving is
reported per job: the window's intensity against starting now, and in kg CO2e when the
job's energy is known (e.g. from :func:`greenscore.sustainability.budgets.estimate_training_kwh`).

:func:`schedule` stores the placement (``carbon_schedule``); :func:`due` lists the jobs
whose start has come, for the operator's runner (cron, a systemd timer) to start.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from greenscore.config import Settings, get_settings
from greenscore.errors import ConfigError
from greenscore.store import sustainability as ledger
from greenscore.sustainability.intensity import (
    IntensityPoint,
    IntensityProvider,
    hour_floor,
    provider_from_settings,
)

KINDS = ("training", "batch_scoring", "federated_round", "other")
BAD_KIND = "job kind must be one of {allowed}, got '{kind}'"
BAD_DURATION = "job duration must be a positive number of hours, got {hours}"
SHORT_FORECAST = "intensity provider '{name}' returned {got} hours, {wanted} were asked for"
PAST_DEADLINE = (
    "job '{job}': deadline {deadline:%Y-%m-%d %H:%M} UTC has already passed "
    "(now {now:%Y-%m-%d %H:%M} UTC)"
)


@dataclass(frozen=True)
class DeferrableJob:
    """Work that may start later, as long as it ends by ``deadline``.

    Attributes
    ----------
    name : what it is (``retrain german-pd``, a batch job id).
    kind : one of :data:`KINDS`.
    duration_hours : expected run time.
    deadline : when it must be finished (aware; naive values are taken as UTC).
    kwh : expected energy, if known (for the saving in kg CO2e).
    """

    name: str
    kind: str
    duration_hours: float
    deadline: datetime
    kwh: float | None = None


@dataclass(frozen=True)
class Placement:
    """Where a job goes and what that saves.

    Attributes
    ----------
    job : the job.
    start, end : the chosen window.
    runs_now : True when it starts at once (no cleaner window, or no room to wait).
    intensity_now : mean g CO2e/kWh over the window if it started now.
    intensity_planned : mean g CO2e/kWh over the chosen window.
    saving_share : ``1 - planned / now``.
    saving_kg : kg CO2e saved (None without the job's kWh).
    candidates : starts compared.
    source : where the intensities come from.
    late_hours : how long after the deadline the job ends, started now (0.0 when it ends
        in time): a deadline too close for the job's duration is still placed now, since
        waiting would only make it later, and the caller is told by how much.
    """

    job: DeferrableJob
    start: datetime
    end: datetime
    runs_now: bool
    intensity_now: float
    intensity_planned: float
    saving_share: float
    saving_kg: float | None
    candidates: int
    source: str
    late_hours: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        """Plain data for JSON."""
        data = asdict(self)
        data["job"]["deadline"] = self.job.deadline.isoformat()
        data["start"], data["end"] = self.start.isoformat(), self.end.isoformat()
        return data


def _utc(moment: datetime) -> datetime:
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).astimezone(UTC)


def _window_mean(hours: dict[datetime, float], start: datetime, duration: timedelta) -> float:
    """Mean of the hourly intensity over ``[start, start + duration)``, by time covered."""
    end = start + duration
    total, at = 0.0, start
    while at < end:
        hour = hour_floor(at)
        step = min(hour + timedelta(hours=1), end) - at
        total += hours[hour] * step.total_seconds()
        at += step
    return total / duration.total_seconds()


def place(
    job: DeferrableJob,
    *,
    country: str | None = None,
    region: str | None = None,
    now: datetime | None = None,
    provider: IntensityProvider | None = None,
    settings: Settings | None = None,
) -> Placement:
    """Choose the start of ``job`` with the lowest mean intensity before its deadline.

    Candidates are now and every following top of the hour whose window still ends by
    the deadline. A deadline too close to wait starts the job now, and ``late_hours`` says
    how far past the deadline it will end.

    Parameters
    ----------
    job : DeferrableJob
    country, region : where it runs (default ``settings.energy``).
    now : the current time (default: the clock).
    provider : intensity source (default ``sustainability.intensity_provider``).

    Raises
    ------
    ConfigError
        If the job's kind or duration is invalid, its deadline has passed, or the provider
        answers too few hours.
    """
    settings = settings or get_settings()
    if job.kind not in KINDS:
        raise ConfigError(BAD_KIND.format(allowed=", ".join(KINDS), kind=job.kind))
    if not math.isfinite(job.duration_hours) or job.duration_hours <= 0:
        raise ConfigError(BAD_DURATION.format(hours=job.duration_hours))
    if country is None:
        country, region = settings.energy.country_iso_code, settings.energy.region
    provider = provider or provider_from_settings(settings)
    now = _utc(now or datetime.now(UTC))
    deadline = _utc(job.deadline)
    if deadline <= now:  # a typo in the date, most likely: nothing can be placed before it
        raise ConfigError(PAST_DEADLINE.format(job=job.name, deadline=deadline, now=now))
    duration = timedelta(hours=float(job.duration_hours))
    latest = deadline - duration
    starts = [now]
    at = hour_floor(now) + timedelta(hours=1)
    while at <= latest:
        starts.append(at)
        at += timedelta(hours=1)
    span_end = max(starts) + duration
    wanted = math.ceil((span_end - hour_floor(now)).total_seconds() / 3600)
    points: list[IntensityPoint] = provider.forecast(
        country=country, region=region, start=now, hours=wanted
    )
    if len(points) < wanted:
        raise ConfigError(SHORT_FORECAST.format(name=provider.name, got=len(points), wanted=wanted))
    hours = {hour_floor(p.start): p.g_co2e_per_kwh for p in points}
    means = [(_window_mean(hours, s, duration), k, s) for k, s in enumerate(starts)]
    best_mean, _, best = min(means)  # ties go to the earliest start (the lower index)
    now_mean = means[0][0]
    saving = 1.0 - best_mean / now_mean if now_mean > 0 else 0.0
    saving_kg = job.kwh * (now_mean - best_mean) / 1000.0 if job.kwh is not None else None
    return Placement(
        job=job,
        start=best,
        end=best + duration,
        runs_now=best == now,
        intensity_now=now_mean,
        intensity_planned=best_mean,
        saving_share=saving,
        saving_kg=saving_kg,
        candidates=len(starts),
        source=points[0].source.split(" x typical")[0] + f" ({provider.name} provider)",
        late_hours=max(0.0, (best + duration - deadline).total_seconds() / 3600),
    )


def schedule(
    job: DeferrableJob,
    *,
    now: datetime | None = None,
    settings: Settings | None = None,
) -> tuple[Placement, ledger.ScheduledJob]:
    """Place ``job`` at the configured location and store the placement."""
    settings = settings or get_settings()
    placement = place(job, now=now, settings=settings)
    row = ledger.add_scheduled(
        {
            "job": job.name,
            "kind": job.kind,
            "country": settings.energy.country_iso_code,
            "region": settings.energy.region,
            "created_at": _utc(now or datetime.now(UTC)),
            "deadline": _utc(job.deadline),
            "duration_hours": float(job.duration_hours),
            "planned_start": placement.start,
            "kwh": job.kwh,
            "intensity_now": placement.intensity_now,
            "intensity_planned": placement.intensity_planned,
            "saving_kg": placement.saving_kg,
            "source": placement.source,
            "status": "planned",
        }
    )
    return placement, row


def due(*, now: datetime | None = None) -> list[ledger.ScheduledJob]:
    """Planned jobs whose start has come (their runner should start them now)."""
    now = _utc(now or datetime.now(UTC))
    return [j for j in ledger.scheduled(status="planned") if _utc(j.planned_start) <= now]
