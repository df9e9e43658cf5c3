"""``train`` and carbon budgets: each model's training lands in the carbon ledger, the next
training is estimated from it, and ``budget_mode: refuse`` stops a training before any fit."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parents[1] / "unit"))
from serving_bundle import dataset  # noqa: E402

from greenscore.config import (  # noqa: E402
    Settings,
    SustainabilitySettings,
    TrackingSettings,
    use_settings,
)
from greenscore.store import sustainability as ledger  # noqa: E402
from greenscore.sustainability import budgets  # noqa: E402
from greenscore.sustainability.intensity import grid_factor  # noqa: E402
from greenscore.workflows.train import TrainOptions, train  # noqa: E402

ROWS = 400


@pytest.fixture
def home(tmp_path: Path) -> Iterator[Path]:
    use_settings(
        Settings(
            home=tmp_path / "home",
            tracking=TrackingSettings(enabled=False),
            sustainability=SustainabilitySettings(budget_mode="refuse"),
        )
    )
    yield tmp_path
    use_settings(None)


@pytest.mark.slow  # a whole train (fairness, reports, energy per 1k): a minute or more here
def test_training_is_charged_to_the_ledger_and_estimates_the_next(home: Path) -> None:
    result = train(dataset(ROWS), TrainOptions(models=["lightgbm"], cv=2, out=home / "run"))
    rows = ledger.usage()
    assert len(rows) == 1
    row = rows[0]
    summary = result.metrics["models"]["lightgbm"]
    assert row.model == "lightgbm" and row.kind == "training" and row.fits == 3
    assert row.rows == ROWS and row.kwh > 0
    assert row.kwh == pytest.approx(summary["energy_kwh"] * 2 + summary["final_energy_kwh"])
    assert row.co2_kg == pytest.approx(row.kwh * grid_factor("GBR").kg_per_kwh)
    estimate = budgets.estimate_training_kwh(["lightgbm"], rows=2 * ROWS, fits=3)
    assert estimate.kwh == pytest.approx(2 * row.kwh)


def test_refuse_mode_stops_a_training_before_it_fits(home: Path) -> None:
    # A measured history (so the training can be estimated) and a budget it has spent.
    budgets.record_usage(
        source_key="earlier",
        kind="training",
        kwh=0.01,
        model="lightgbm",
        rows=ROWS,
        fits=3,
        sinks=[],
    )
    budgets.set_budget(scope="project", name="greenscore", limit_kg=0.0025)
    out = home / "refused"
    with pytest.raises(budgets.CarbonBudgetExceeded) as err:
        train(dataset(ROWS), TrainOptions(models=["lightgbm"], cv=2, out=out))
    assert "training refused" in err.value.message and "project 'greenscore'" in err.value.message
    assert not (out / "metrics.json").exists() and len(ledger.usage()) == 1
