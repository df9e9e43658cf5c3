"""The scoring service feeds the monitor: a sample of its applicants per window, sealed in the
database once per window (closed windows when a flush is due, the open one at shutdown),
holding only the monitored columns, reachable by erasure and retention, and merged across
units in proportion to the decisions each stands for."""

from __future__ import annotations

import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parents[1] / "unit"))
from serving_bundle import applicant, shared  # noqa: E402

from greenscore.config import MonitoringSettings, Settings, use_settings  # noqa: E402
from greenscore.monitoring.live import KIND, LiveSamples, load_samples  # noqa: E402
from greenscore.privacy import sealed  # noqa: E402
from greenscore.privacy.retention import purge, set_retention  # noqa: E402
from greenscore.security.pseudonym import subject_hash  # noqa: E402
from greenscore.serving.model_store import ModelStore  # noqa: E402
from greenscore.serving.service import ScoringService  # noqa: E402
from greenscore.store import database  # noqa: E402

DAY = datetime(2024, 5, 6, 12, tzinfo=UTC)


@pytest.fixture
def settings(tmp_path: Path):
    s = Settings(home=tmp_path, environment="test")
    use_settings(s)
    yield s
    use_settings(None)


def test_the_service_seals_its_sample_at_shutdown_with_monitored_columns_only(settings) -> None:
    ds, bundle = shared()
    store = ModelStore(settings.serving, loader=lambda uri: bundle)
    store.load("good")
    svc = ScoringService(settings, store)
    db = database(settings)
    # A protected attribute the model does not read is kept for the monitor when sent.
    payloads = [{**applicant(ds, i), "sex": str(ds.frame["sex"].iloc[i])} for i in range(40)]
    outcomes = svc.decide_payloads(payloads, actor="key-1", route="/v1/score/batch")
    assert all(not isinstance(o, BaseException) for o in outcomes)
    # No write per request: nothing is sealed while the day's window is open.
    assert sealed.refs(KIND, "", db=db) == []
    svc.close()
    (ref,) = sealed.refs(KIND, f"{bundle.model_name}/", db=db)
    assert ref.startswith(f"{bundle.model_name}/day/{datetime.now(UTC):%Y-%m-%d}/")
    rows = sealed.unseal(KIND, ref, db=db)
    assert len(rows) == 40 and {r["weight"] for r in rows} == {1.0}
    kept = rows[0]["row"]
    features = ds.spec.feature_columns(list(ds.frame.columns))
    assert set(kept) == {*features, "sex"}  # no id, no email, no protected field not sent
    assert [r["row"]["sex"] for r in rows] == [p["sex"] for p in payloads]
    assert sorted(r["pd"] for r in rows) == sorted(
        o.result.probability_of_default for o in outcomes
    )

    # Erasure reaches a sampled applicant through the subject index.
    who = subject_hash(payloads[0][ds.spec.id_column], settings=settings)
    assert sealed.erase_subject(who, db=db) == {KIND: 1}
    loaded = load_samples(bundle.model_name, db=db)
    assert loaded is not None and len(loaded.scores) == 39
    # Retention purges the samples like the service's other sealed rows.
    set_retention(KIND, 0, db=db)
    report = purge(settings=settings, now=datetime.now(UTC) + timedelta(days=1))
    assert report.deleted[KIND] == 40  # rows, the erased one included
    assert load_samples(bundle.model_name, db=db) is None


def test_closed_windows_are_sealed_when_a_flush_is_due_and_the_open_one_waits(settings) -> None:
    db = database(settings)
    clock = [0.0]
    live = LiveSamples(
        MonitoringSettings(live_sample_size=5, live_flush_seconds=60),
        db=db,
        seed=0,
        clock=lambda: clock[0],
    )
    live.offer("m", [{"x": 1, "id": 9}] * 20, [0.1] * 20, columns=["x"], at=DAY)
    live.offer("m", [{"x": 2}] * 3, [0.2] * 3, columns=["x"], at=DAY + timedelta(days=1))
    assert sealed.refs(KIND, "", db=db) == []  # not due yet
    clock[0] = 61.0  # the next offer finds a flush due
    live.offer("m", [{"x": 3}], [0.3], columns=["x"], at=DAY + timedelta(days=1))
    (ref,) = sealed.refs(KIND, "m/", db=db)
    assert ref.startswith("m/day/2024-05-06/")
    rows = sealed.unseal(KIND, ref, db=db)
    assert [r["row"] for r in rows] == [{"x": 1}] * 5 and rows[0]["weight"] == 4.0
    assert live.flush(everything=True) == 4
    assert [r.split("/")[2] for r in sealed.refs(KIND, "m/", db=db)] == [
        "2024-05-06",
        "2024-05-07",
    ]


def test_units_of_one_window_merge_in_proportion_to_the_decisions_they_stand_for(
    settings,
) -> None:
    db = database(settings)
    # Two replicas in one window: a busy one (1000 decisions, 100 kept) and a quiet one
    # (100 decisions, all kept). A uniform sample of the 1100 holds ten busy rows per quiet one.
    busy = LiveSamples(MonitoringSettings(live_sample_size=100), db=db, seed=1)
    quiet = LiveSamples(MonitoringSettings(live_sample_size=100), db=db, seed=2)
    busy.offer("m", [{"x": 0}] * 1000, [0.1] * 1000, columns=["x"], at=DAY)
    quiet.offer("m", [{"x": 1}] * 100, [0.9] * 100, columns=["x"], at=DAY + timedelta(hours=1))
    busy.flush(everything=True)
    quiet.flush(everything=True)
    busy.offer("m-other", [{"x": 5}], [0.5], columns=["x"], at=DAY)
    busy.flush(everything=True)
    loaded = load_samples("m", window="week", db=db)
    assert loaded is not None
    assert loaded.units == 2 and loaded.decisions == 1100 and loaded.windows == ["2024-W19"]
    assert (loaded.frame["x"] == 0).sum() == 100 and (loaded.frame["x"] == 1).sum() == 10
    assert set(loaded.times) == {datetime(2024, 5, 6)}
