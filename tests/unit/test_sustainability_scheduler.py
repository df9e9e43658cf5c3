"""Carbon-aware scheduler: the cleanest window before the deadline, and now when no room."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from greenscore.config import Settings, use_settings
from greenscore.errors import ConfigError
from greenscore.sustainability import scheduler as sc
from greenscore.sustainability.grid import FORECAST
from greenscore.sustainability.hourly_profiles import typical_day
from greenscore.sustainability.intensity import IntensityPoint, grid_factor, hour_floor

NOW = datetime(2026, 12, 3, 14, 20, tzinfo=UTC)  # 14:20 in London (GMT in December)


@pytest.fixture(autouse=True)
def _home(tmp_path: Path) -> Iterator[None]:
    use_settings(Settings(home=tmp_path))
    yield
    use_settings(None)


def test_24h_deadline_is_placed_in_the_lowest_window_of_the_profile() -> None:
    job = sc.DeferrableJob("retrain", "training", 1.0, NOW + timedelta(hours=24), kwh=2.0)
    placement = sc.place(job, now=NOW)
    day = typical_day(grid_factor("GBR"))
    lowest = min(day)
    assert placement.intensity_planned == pytest.approx(lowest)
    # The earliest local hour with the lowest intensity after now: 03:00 the next morning.
    assert placement.start == datetime(2026, 12, 4, 3, tzinfo=UTC)
    assert placement.start.astimezone(ZoneInfo("Europe/London")).hour == day.index(lowest)
    assert placement.end <= job.deadline and not placement.runs_now
    # Started now, the 14:20-15:20 window mixes two-thirds of the 14:00 hour and a third of 15:00.
    assert placement.intensity_now == pytest.approx(day[14] * 2 / 3 + day[15] / 3)
    assert placement.saving_share == pytest.approx(1 - lowest / placement.intensity_now)
    assert placement.saving_kg == pytest.approx(2.0 * (placement.intensity_now - lowest) / 1000)
    assert placement.candidates == 24  # now, then 15:00 ... 13:00 the next day


def test_job_whose_deadline_is_too_close_runs_now_and_says_how_late() -> None:
    job = sc.DeferrableJob("score", "batch_scoring", 2.0, NOW + timedelta(minutes=30))
    placement = sc.place(job, now=NOW)
    assert placement.runs_now and placement.start == NOW and placement.candidates == 1
    assert placement.saving_share == 0.0 and placement.saving_kg is None
    assert placement.late_hours == pytest.approx(1.5)
    roomy = sc.place(
        sc.DeferrableJob("score", "batch_scoring", 2.0, NOW + timedelta(hours=3)), now=NOW
    )
    assert roomy.late_hours == 0.0


def test_multi_hour_job_window_is_compared_as_a_whole() -> None:
    job = sc.DeferrableJob("nightly", "training", 3.0, NOW + timedelta(hours=24))
    placement = sc.place(job, now=NOW)
    day = typical_day(grid_factor("GBR"))
    means = {h: sum(day[(h + k) % 24] for k in range(3)) / 3 for h in range(24)}
    assert placement.intensity_planned == pytest.approx(min(means.values()))


class _Spike:
    """A forecast that is dirty except one clean hour five hours from now."""

    name = "spike"

    def forecast(self, *, country, region, start, hours):  # noqa: ANN001, ANN201
        first = hour_floor(start)
        return [
            IntensityPoint(first + timedelta(hours=k), 50.0 if k == 5 else 300.0, FORECAST, "t")
            for k in range(hours)
        ]


def test_a_live_provider_drives_the_choice() -> None:
    job = sc.DeferrableJob("x", "federated_round", 1.0, NOW + timedelta(hours=12))
    placement = sc.place(job, now=NOW, provider=_Spike())
    assert placement.start == hour_floor(NOW) + timedelta(hours=5)
    assert placement.intensity_planned == 50.0 and "spike provider" in placement.source


def test_scheduled_jobs_are_stored_and_come_due() -> None:
    job = sc.DeferrableJob("retrain", "training", 1.0, NOW + timedelta(hours=24))
    placement, row = sc.schedule(job, now=NOW)
    assert row.planned_start == placement.start
    assert sc.due(now=NOW) == []
    assert [j.id for j in sc.due(now=placement.start)] == [row.id]


@pytest.mark.parametrize(
    ("job", "message"),
    [
        (sc.DeferrableJob("x", "party", 1.0, NOW), "job kind must be one of"),
        (sc.DeferrableJob("x", "training", 0.0, NOW), "job duration must be a positive"),
        # A deadline in the past (a mistyped year, say) is refused, not placed "now".
        (
            sc.DeferrableJob("x", "training", 1.0, datetime(2020, 1, 1, tzinfo=UTC)),
            r"job 'x': deadline 2020-01-01 00:00 UTC has already passed \(now 2026-12-03 14:20",
        ),
        (sc.DeferrableJob("x", "training", 1.0, NOW), "has already passed"),
    ],
)
def test_bad_jobs_are_refused(job: sc.DeferrableJob, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        sc.place(job, now=NOW)
