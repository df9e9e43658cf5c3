"""``greenscore train`` measures fairness on out-of-fold decisions and reports it as tables,
with a cut-off strategy table per model and LightGBM's monotone constraints (issue 11,
items 6 and 10)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from greenscore.config import Settings, TrackingSettings, use_settings
from greenscore.data.loading import load_dataset
from greenscore.fairness.groups import age_bands
from greenscore.workflows.train import TrainOptions, TrainResult, train

GERMAN = "/work/shared/data/german_credit.csv"


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TrainResult]:
    use_settings(
        Settings(home=tmp_path_factory.mktemp("home"), tracking=TrackingSettings(enabled=False))
    )
    try:
        dataset = load_dataset(GERMAN, preset="german")
        options = TrainOptions(models=["lightgbm"], cv=3, out=tmp_path_factory.mktemp("out"))
        yield train(dataset, options)
    finally:
        use_settings(None)


@pytest.fixture(scope="module")
def report(trained: TrainResult) -> str:
    return (trained.out / "report.html").read_text("utf-8")


def test_fairness_is_measured_on_out_of_fold_decisions(trained: TrainResult) -> None:
    fairness = json.loads((trained.out / "metrics.json").read_text("utf-8"))["fairness"]
    dataset = load_dataset(GERMAN, preset="german")
    oof = trained.results["lightgbm"].oof
    assert fairness["decisions"].startswith("out-of-fold")
    assert fairness["overall"]["auc"] == pytest.approx(roc_auc_score(dataset.y, oof), abs=1e-6)
    final = trained.results["lightgbm"].bundle.predict_pd(dataset.X)
    assert roc_auc_score(dataset.y, final) > fairness["overall"]["auc"] + 0.05  # in-sample flatters
    bundle = trained.results["lightgbm"].bundle
    age = fairness["attributes"]["age_band"]["groups"]
    approved = bundle.decisions(oof) != "decline"
    bands = age_bands(dataset.frame["age"]).to_numpy()
    assert age["<25"]["selection_rate"] == pytest.approx(approved[bands == "<25"].mean(), abs=1e-6)
    assert list(age) == ["<25", "25-34", "35-49", "50-64", "65+"]  # age order


def test_fairness_section_is_a_table_per_attribute(report: str) -> None:
    section = report[report.index("Fairness — lightgbm") :]
    assert "out-of-fold" in section
    for header in ("group", "approval rate", "ratio to reference", "AUC", "TPR gap", "verdict"):
        assert f"<th>{header}</th>" in section
    assert "<pre" not in section  # no JSON dump
    rows = re.findall(r"<tr>\s*<td>(&lt;25|25-34|35-49|50-64|65\+)</td>", section)
    assert rows == ["&lt;25", "25-34", "35-49", "50-64", "65+"]
    assert "reference" in section


def test_cut_off_strategy_and_constraints_are_reported(report: str, trained: TrainResult) -> None:
    assert "Cut-off strategy — lightgbm" in report and "Suggested cut-offs — lightgbm" in report
    assert "decline above 0.3" in report and "bad rate among approved" in report
    assert "approve 70%" in report
    constraints = trained.results["lightgbm"].bundle.estimator.monotone_constraints_
    assert "Monotone constraints — lightgbm" in report
    for feature in constraints:
        assert f"<td>{feature}</td>" in report
    assert np.isfinite(trained.results["lightgbm"].oof).all()
