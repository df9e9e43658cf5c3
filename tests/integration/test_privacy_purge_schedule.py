"""Scheduled retention purges (issue 21, point 5): ``greenscore gdpr purge --schedule``'s job."""

from __future__ import annotations

import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from greenscore import cli
from greenscore.config import Settings, get_settings, use_settings
from greenscore.errors import ConfigError
from greenscore.privacy.purge_schedule import JOB_ID, build_purge_scheduler
from greenscore.privacy.retention import set_retention
from greenscore.security.audit import find_events
from greenscore.store import database
from greenscore.store.predictions import predictions_for_subject, record_prediction


@pytest.fixture(autouse=True)
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv("GREENSCORE_HOME", raising=False)
    monkeypatch.delenv("GREENSCORE_DATABASE_URL", raising=False)
    monkeypatch.setenv("GREENSCORE_MASTER_KEY", "0a" * 32)
    use_settings(Settings(home=tmp_path, environment="test"))
    yield tmp_path
    use_settings(None)


def test_the_job_fires_on_the_cron_line_and_purges_as_the_scheduler() -> None:
    settings = get_settings()
    db = database(settings)
    record_prediction(
        request_id="old",
        subject_hash="a" * 64,
        model_name="m",
        model_version="1",
        input_hash="f" * 64,
        decision="approve",
        probability=0.1,
        created_at=datetime.now(UTC) - timedelta(days=3),
        db=db,
    )
    set_retention("predictions", 1, db=db)
    scheduler = build_purge_scheduler(settings=settings, blocking=False)
    job = scheduler.get_job(JOB_ID)
    after = datetime(2026, 12, 3, 21, 0, tzinfo=UTC)
    assert job.trigger.get_next_fire_time(None, after) == datetime(2026, 12, 4, 3, 0, tzinfo=UTC)

    scheduler.start(paused=True)
    try:
        job.modify(next_run_time=datetime.now(UTC))  # due now instead of at 03:00
        scheduler.resume()
        deadline = time.monotonic() + 30
        while not find_events(settings=settings, action="gdpr.purge"):
            assert time.monotonic() < deadline, "the scheduled purge never ran"
            time.sleep(0.1)
    finally:
        scheduler.shutdown(wait=True)
    (event,) = find_events(settings=settings, action="gdpr.purge")
    assert event["actor"] == "scheduler" and event["details"]["deleted"]["predictions"] == 1
    assert predictions_for_subject("a" * 64, db=db) == []


def test_a_bad_cron_line_or_mixed_options_are_refused(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = get_settings()
    settings.privacy.purge_schedule = "every night"
    with pytest.raises(ConfigError, match="privacy.purge_schedule 'every night' is not a cron"):
        build_purge_scheduler(settings=settings)
    monkeypatch.setattr(sys, "argv", ["greenscore", "gdpr", "purge", "--schedule", "--dry-run"])
    with pytest.raises(SystemExit) as exit_:
        cli.main()
    assert exit_.value.code == 2 and "--schedule purges as 'scheduler'" in capsys.readouterr().err
