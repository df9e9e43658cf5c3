"""Pieces of ``greenscore.workflows.train`` that need no training: the model comparisons
(DeLong on pooled out-of-fold predictions, beside the AUCs it compared) and the auto plan's
probe energy, charged once to the ensemble so the carbon ledger records all of it."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from greenscore.models.ensemble_plan import AutoPlan
from greenscore.workflows.train import ModelResult, _charge_plan_probes, _comparisons


def _result(name: str, oof: np.ndarray, fold_auc: float) -> ModelResult:
    return ModelResult(name, oof, [], {"auc": fold_auc}, None, {})  # type: ignore[arg-type]


def test_comparisons_show_the_pooled_aucs_the_delong_test_compared() -> None:
    rng = np.random.default_rng(0)
    y = rng.binomial(1, 0.3, 400)
    a = 1 / (1 + np.exp(-(1.5 * y + rng.normal(0, 1, 400))))
    b = 1 / (1 + np.exp(-(1.0 * y + rng.normal(0, 1, 400))))
    a[:20] = np.nan  # a time fold never validated: left out of both AUCs and the test
    # Mean fold AUCs that differ from the pooled ones, as they do in a real run.
    results = {"scorecard": _result("scorecard", a, 0.91), "lightgbm": _result("lightgbm", b, 0.6)}
    comparison = _comparisons(results, y)["scorecard_vs_lightgbm"]
    assert comparison["pooled_auc_a"] == pytest.approx(roc_auc_score(y[20:], a[20:]), abs=1e-12)
    assert comparison["pooled_auc_b"] == pytest.approx(roc_auc_score(y[20:], b[20:]), abs=1e-12)
    assert comparison["rows"] == 380
    # The fold means are in metrics.json's models section, never beside the z.
    assert "auc_a" not in comparison and "auc_b" not in comparison
    assert comparison["delong_z"] > 0 and 0 <= comparison["delong_p"] <= 1


def _plan(kwh: float, co2: float) -> AutoPlan:
    return AutoPlan(
        members=["scorecard", "logistic"],
        trials={},
        skipped={},
        estimates={},
        budget_s=300.0,
        probe_s=2.0,
        planned_s=60.0,
        probe_kwh=kwh,
        probe_co2_kg=co2,
    )


def _ensemble_summary() -> dict[str, Any]:
    return {
        "auc": 0.8,
        "n_folds": 2,
        "energy_kwh": 0.003,
        "final_energy_kwh": 0.004,
        "total_energy_kwh": 0.01,
        "total_co2_kg": 0.002,
    }


def test_plan_probes_are_charged_once_to_the_ensemble_and_reach_the_ledger(
    greenscore_home: Path,
) -> None:
    from greenscore.sustainability.budgets import record_training

    summary = _ensemble_summary()
    _charge_plan_probes(summary, _plan(0.004, 0.001))
    assert summary["total_energy_kwh"] == pytest.approx(0.014)
    assert summary["total_co2_kg"] == pytest.approx(0.003)
    assert summary["plan_probe_kwh"] == 0.004
    # The scorecard fallback's fits are the ensemble's member's: counted there, not here.
    fallback = {"auc": 0.7, "n_folds": 2, "energy_kwh": 0.001, "total_energy_kwh": 0.0}
    metrics = {"models": {"ensemble": summary, "scorecard": fallback}}
    recorded = record_training(metrics, run_id=None, rows=500, sinks=[])
    assert sum(r.usage.kwh for r in recorded if r.usage) == pytest.approx(0.014)


def test_unmetered_probes_or_no_plan_change_nothing() -> None:
    for plan in (None, _plan(math.nan, math.nan)):
        summary = _ensemble_summary()
        _charge_plan_probes(summary, plan)
        assert summary == _ensemble_summary()
