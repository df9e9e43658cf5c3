"""Carbon budgets: the ledger, alerts exactly once at 80 % and 100 %, estimates, refusal."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from greenscore.config import Settings, SustainabilitySettings, use_settings
from greenscore.errors import ConfigError
from greenscore.monitoring.alerts import CRITICAL, WARNING, LogSink, WebhookSink
from greenscore.sustainability import budgets as bu
from greenscore.sustainability.intensity import grid_factor
from greenscore.sustainability.periods import budget_period, parse_period

GBR = grid_factor("GBR")


def _settings(tmp_path: Path, **sus: Any) -> Settings:
    return Settings(home=tmp_path, sustainability=SustainabilitySettings(**sus))


@pytest.fixture
def home(tmp_path: Path) -> Iterator[Settings]:
    settings = _settings(tmp_path, prometheus_textfile=tmp_path / "carbon.prom")
    use_settings(settings)
    yield settings
    use_settings(None)


def _kwh_for(kg: float) -> float:
    """kWh that make ``kg`` CO2e at the UK factor (the default location)."""
    return kg / GBR.kg_per_kwh


class _Hook:
    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []

    def __call__(self, body: dict[str, Any]) -> int:
        self.bodies.append(body)
        return 200


def test_alert_fires_exactly_once_at_80_and_once_at_100_percent(home: Settings) -> None:
    bu.set_budget(scope="model", name="lightgbm", limit_kg=1.0, period="quarter")
    hook = _Hook()
    sinks = [LogSink(), WebhookSink(hook), bu.BudgetGauges(home.sustainability.prometheus_textfile)]
    fired = []
    for k, kg in enumerate([0.5, 0.35, 0.05, 0.2, 0.1]):  # 50 %, 85 %, 90 %, 110 %, 120 %
        recorded = bu.record_usage(
            source_key=f"run{k}", kind="training", kwh=_kwh_for(kg), model="lightgbm", sinks=sinks
        )
        fired.append([(a.threshold, a.severity) for a in recorded.alerts])
    assert fired == [[], [(0.8, WARNING)], [], [(1.0, CRITICAL)], []]
    # The webhook got one body per firing run, each with its one alert.
    assert [[a["threshold"] for a in b["alerts"]] for b in hook.bodies] == [[0.8], [1.0]]
    assert hook.bodies[0]["alerts"][0]["kind"] == bu.ALERT_KIND
    assert "237.6 gCO2e/kWh" in hook.bodies[0]["alerts"][0]["message"]
    gauges = home.sustainability.prometheus_textfile.read_text()
    assert 'greenscore_carbon_budget_used_ratio{name="lightgbm",period=' in gauges
    assert 'greenscore_monitor_alerts{kind="carbon_budget"' in gauges
    status = bu.budget_status()[0]
    assert status.used_kg == pytest.approx(1.2) and status.fired == [0.8, 1.0]


def test_one_run_crossing_both_thresholds_fires_both_once(home: Settings) -> None:
    bu.set_budget(scope="project", name="greenscore", limit_kg=1.0)
    first = bu.record_usage(source_key="big", kind="training", kwh=_kwh_for(1.5), sinks=[])
    again = bu.record_usage(source_key="more", kind="training", kwh=_kwh_for(0.5), sinks=[])
    assert [a.threshold for a in first.alerts] == [0.8, 1.0] and again.alerts == []


def test_recording_the_same_work_twice_adds_nothing(home: Settings) -> None:
    bu.set_budget(scope="project", name="greenscore", limit_kg=1.0)
    assert bu.record_usage(source_key="same", kind="training", kwh=_kwh_for(0.9), sinks=[]).alerts
    repeat = bu.record_usage(source_key="same", kind="training", kwh=_kwh_for(0.9), sinks=[])
    assert repeat.usage is None and repeat.alerts == []
    assert bu.budget_status()[0].used_kg == pytest.approx(0.9)


def test_a_new_period_starts_from_zero_and_can_fire_again(home: Settings) -> None:
    bu.set_budget(scope="team", name="risk", limit_kg=1.0, period="month")
    use_settings(_settings(home.home, team="risk"))
    nov = datetime(2026, 11, 20, tzinfo=UTC)
    dec = datetime(2026, 12, 2, tzinfo=UTC)
    a = bu.record_usage(
        source_key="a", kind="training", kwh=_kwh_for(0.9), recorded_at=nov, sinks=[]
    )
    b = bu.record_usage(
        source_key="b", kind="training", kwh=_kwh_for(0.9), recorded_at=dec, sinks=[]
    )
    assert [x.window for x in a.alerts] == ["2026-11"] and [x.window for x in b.alerts] == [
        "2026-12"
    ]


def test_usage_of_other_scopes_does_not_count(home: Settings) -> None:
    bu.set_budget(scope="model", name="scorecard", limit_kg=1.0)
    out = bu.record_usage(
        source_key="x", kind="training", kwh=_kwh_for(5), model="lightgbm", sinks=[]
    )
    assert out.alerts == [] and bu.budget_status()[0].used_kg == 0


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"scope": "galaxy", "name": "x", "limit_kg": 1}, "budget scope must be one of"),
        ({"scope": "model", "name": "x", "limit_kg": 0}, "budget limit must be a positive"),
        ({"scope": "model", "name": "x", "limit_kg": 1, "period": "week"}, "budget period"),
    ],
)
def test_bad_budgets_are_refused(home: Settings, kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        bu.set_budget(**kwargs)


def test_duplicate_budget_is_refused_naming_the_existing_one(home: Settings) -> None:
    first = bu.set_budget(scope="model", name="x", limit_kg=1)
    with pytest.raises(ConfigError, match=first.id):
        bu.set_budget(scope="model", name="x", limit_kg=2)


def _metrics(kwh_per_fold: float, final: float) -> dict[str, Any]:
    return {
        "models": {
            "lightgbm": {"n_folds": 5, "energy_kwh": kwh_per_fold, "final_energy_kwh": final},
        }
    }


def test_training_is_recorded_per_model_with_all_its_fits(home: Settings) -> None:
    recorded = bu.record_training(_metrics(0.01, 0.02), run_id="r1", rows=1000, sinks=[])
    assert recorded[0].usage.kwh == pytest.approx(0.07) and recorded[0].usage.fits == 6
    assert recorded[0].usage.factor_source == GBR.citation
    # A run that records its total (tuning included) is charged that total.
    metrics = {"models": {"nn": {"n_folds": 5, "energy_kwh": 0.01, "total_energy_kwh": 0.5}}}
    assert bu.record_training(metrics, run_id="r2", rows=10, sinks=[])[0].usage.kwh == 0.5


def test_estimate_comes_from_measured_fits(home: Settings) -> None:
    assert bu.estimate_training_kwh(["lightgbm"], rows=1000, fits=6).kwh is None
    bu.record_training(_metrics(0.01, 0.02), run_id="r1", rows=1000, sinks=[])
    estimate = bu.estimate_training_kwh(["lightgbm", "scorecard"], rows=2000, fits=6)
    # 0.07 kWh for 1000 rows x 6 fits: twice the rows is twice the energy, per model.
    assert estimate.per_model["lightgbm"] == pytest.approx(0.14)
    assert estimate.per_model["scorecard"] == pytest.approx(0.14)  # median of all models
    assert "none measured" in estimate.basis


def test_refuse_mode_refuses_a_training_that_would_exceed(tmp_path: Path) -> None:
    use_settings(_settings(tmp_path, budget_mode="refuse"))
    try:
        bu.set_budget(scope="project", name="greenscore", limit_kg=0.1)
        bu.record_usage(source_key="a", kind="training", kwh=_kwh_for(0.05), sinks=[])
        assert bu.check_training_budget(_kwh_for(0.04)).ok
        with pytest.raises(bu.CarbonBudgetExceeded) as err:
            bu.check_training_budget(_kwh_for(0.06), models=["lightgbm"])
        assert err.value.exit_code == 7
        assert "project 'greenscore'" in err.value.message and "0.11 of 0.1 kg" in err.value.message
        # Without an estimate nothing is refused.
        assert bu.check_training_budget(None).ok
    finally:
        use_settings(None)


def test_warn_mode_lets_training_go_ahead(home: Settings) -> None:
    bu.set_budget(scope="project", name="greenscore", limit_kg=0.1)
    check = bu.check_training_budget(_kwh_for(0.5))
    assert not check.ok and check.over[0]["after_kg"] == pytest.approx(0.5)


def test_periods() -> None:
    at = datetime(2026, 12, 3, 15, tzinfo=UTC)
    assert budget_period("quarter", at).key == "2026-Q4"
    assert budget_period("month", at).end == datetime(2027, 1, 1, tzinfo=UTC)
    q4 = parse_period("2026-Q4")
    assert (q4.start, q4.end) == (
        datetime(2026, 10, 1, tzinfo=UTC),
        datetime(2027, 1, 1, tzinfo=UTC),
    )
    assert parse_period("2026").contains(at) and not parse_period("2026-11").contains(at)
    with pytest.raises(ConfigError, match="period must look like"):
        parse_period("Q4-2026")


def test_budget_status_serialises(home: Settings) -> None:
    bu.set_budget(scope="project", name="greenscore", limit_kg=2.0)
    bu.record_usage(source_key="a", kind="training", kwh=_kwh_for(0.5), sinks=[])
    data = json.loads(json.dumps(bu.budget_status()[0].to_dict()))
    assert data["share"] == pytest.approx(0.25) and len(data["series"]) == 1
