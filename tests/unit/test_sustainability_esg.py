"""ESG score: every component shown with its value and basis; n/a never scored; recommendations."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import pytest

from greenscore.sustainability import esg
from greenscore.sustainability import recommendations as rec
from greenscore.sustainability.decisions import DecisionSummary
from greenscore.sustainability.intensity import grid_factor
from greenscore.sustainability.runs import ModelFigures, TrainingRun

GBR = grid_factor("GBR")
T0 = datetime(2026, 11, 2, 9, tzinfo=UTC)


def _fairness(dp: float, eo: float) -> dict:
    return {
        "attributes": {
            "sex": {"demographic_parity_difference": dp, "equalized_odds_difference": eo / 2},
            "age_band": {"demographic_parity_difference": dp / 2, "equalized_odds_difference": eo},
        }
    }


def _run(name: str, *, started: datetime = T0, fairness: dict | None = None) -> TrainingRun:
    models = {
        "scorecard": ModelFigures("scorecard", 0.7968, 0.006, 6, 1e-6, 1.0),
        "lightgbm": ModelFigures("lightgbm", 0.8000, 0.024, 6, 3e-6, 2.0),
    }
    return TrainingRun(name, name, started, "FINISHED", models, "lightgbm", 1000, fairness)


def test_each_component_is_computed_from_its_data_and_shown() -> None:
    runs = [_run("a", fairness=_fairness(0.05, 0.11))]
    decisions = DecisionSummary(total=200, with_reasons=150, declines=40, declines_with_reasons=40)
    score = esg.esg_score(runs=runs, decisions=decisions, factor=GBR)
    c = {x.name: x for x in score.components}
    assert [x.name for x in score.components] == [spec[0] for spec in esg.COMPONENTS]
    # 0.03 kWh for 30 AUC points above chance: 1e-3 kWh per point, halfway on the log scale.
    assert c["energy_per_auc_point"].value == pytest.approx(0.03 / 30)
    assert c["energy_per_auc_point"].score == pytest.approx(200 / 3)
    assert c["co2_per_1k_decisions"].value == pytest.approx(3e-6 * GBR.g_co2e_per_kwh)
    assert GBR.citation in c["co2_per_1k_decisions"].basis
    assert c["fairness_gap"].value == pytest.approx(0.11)
    assert "equalized odds difference of age_band" in c["fairness_gap"].basis
    assert c["fairness_gap"].score == pytest.approx(100 * (0.20 - 0.11) / 0.18)
    assert c["explanation_coverage"].value == 1.0 and c["explanation_coverage"].score == 100
    assert c["decisions_with_reasons"].value == 0.75
    expected = sum(x.score for x in score.components) / 5
    assert score.score == pytest.approx(expected)
    assert score.grade == next(g for floor, g in esg.GRADES if expected >= floor)
    assert score.to_dict()["components"][0]["basis"].startswith("0.03 kWh over 1 run(s)")


def test_missing_data_is_n_a_and_left_out_of_the_mean() -> None:
    score = esg.esg_score(runs=[_run("a")], decisions=DecisionSummary(), factor=GBR)
    c = {x.name: x for x in score.components}
    for name in ("fairness_gap", "explanation_coverage", "decisions_with_reasons"):
        assert not c[name].available and c[name].value is None and c[name].score is None
    assert c["decisions_with_reasons"].basis == "no decisions recorded in the period"
    present = [x.score for x in score.components if x.available]
    assert score.score == pytest.approx(sum(present) / len(present))
    empty = esg.esg_score(runs=[], decisions=DecisionSummary(), factor=GBR)
    assert empty.score is None and empty.grade is None


@pytest.mark.parametrize(
    ("value", "scale", "best", "worst", "expected"),
    [
        (1e-4, "log", 1e-4, 1e-1, 100.0),
        (1e-1, "log", 1e-4, 1e-1, 0.0),
        (1e-7, "log", 1e-4, 1e-1, 100.0),
        (0.11, "linear", 0.02, 0.20, 50.0),
        (0.5, "linear", 0.02, 0.20, 0.0),
        (0.0, "linear", 1.0, 0.0, 0.0),
    ],
)
def test_sub_score_between_anchors(value, scale, best, worst, expected) -> None:  # noqa: ANN001
    assert esg.sub_score(value, best=best, worst=worst, scale=scale) == pytest.approx(expected)


def test_cheaper_model_is_recommended_with_measured_figures() -> None:
    found = rec.cheaper_model(_run("r"))
    assert found is not None
    # 0.7968 / 0.8 = 99.6 % of the AUC, 1e-6 / 3e-6 = 1/3 of the energy per 1k predictions.
    assert found.text.startswith("scorecard reaches 99.6% of lightgbm's AUC")
    assert "at 1/3 of its energy per 1k predictions" in found.text


def test_no_recommendation_when_the_cheaper_model_loses_too_much_auc() -> None:
    run = _run("r")
    run.models["scorecard"].auc = 0.75
    assert rec.cheaper_model(run) is None


def test_budget_pace_projects_the_period() -> None:
    from greenscore.sustainability.budgets import BudgetStatus
    from greenscore.sustainability.periods import budget_period

    class _Budget:
        id, scope, name, period, limit_kg = "b", "project", "greenscore", "quarter", 1.0

    period = budget_period("quarter", T0)
    status = BudgetStatus(_Budget(), period, 0.5, 0.5)  # half used a third of the way in
    now = period.start + (period.end - period.start) / 3
    found = rec.budget_pace(status, now)
    assert found is not None and "ends the period at 150%" in found.text
    assert rec.budget_pace(status, period.end - timedelta(hours=1)) is None


def test_fairness_recommendation_only_above_the_limit() -> None:
    assert rec.fairness(_run("r", fairness=_fairness(0.05, 0.08))) is None
    found = rec.fairness(_run("r", fairness=_fairness(0.05, 0.12)))
    assert found is not None and "0.120" in found.text


def test_energy_nan_is_not_scored() -> None:
    run = _run("a")
    for m in run.models.values():
        m.kwh_per_1k = math.nan
    score = esg.esg_score(runs=[run], decisions=DecisionSummary(), factor=GBR)
    assert not next(c for c in score.components if c.name == "co2_per_1k_decisions").available
