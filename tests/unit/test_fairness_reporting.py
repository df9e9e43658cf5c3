"""How fairness figures are read (issue 11, item 6): groups in reading order against a
reference group, the names the reports show accepted back, mitigated models that approve
nobody said to do so, and gap intervals that are bias-corrected."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from lightgbm import LGBMClassifier
from sklearn.pipeline import Pipeline

from greenscore.data.presets import load_preset
from greenscore.data.synthetic import generate
from greenscore.errors import ConfigError
from greenscore.fairness import mitigation
from greenscore.fairness.bootstrap import GAP_INTERVAL, _gaps, _rates, bootstrap_intervals
from greenscore.fairness.groups import age_bands, group_order, resolve_attribute
from greenscore.fairness.html import fairness_html
from greenscore.fairness.metrics import attribute_report
from greenscore.fairness.report import fairness_files
from greenscore.fairness.tables import BELOW_FOUR_FIFTHS, REFERENCE, TOO_SMALL, group_table
from greenscore.features.coercion import TypeCoercer
from greenscore.models.bundle import ScoringBundle


@pytest.fixture(scope="module")
def synthetic():
    frame = generate(3000, seed=4).applications
    spec = load_preset("synthetic")
    train = frame.iloc[:1500]
    X = train[spec.feature_columns(list(train.columns))]  # noqa: N806
    model = LGBMClassifier(n_estimators=30, verbose=-1, n_jobs=1, random_state=0)
    pipeline = Pipeline([("coerce", TypeCoercer(spec=spec)), ("model", model)])
    pipeline.fit(X, train["default"])
    return ScoringBundle(name="lightgbm", spec=spec, pipeline=pipeline), frame.iloc[1500:]


def test_age_bands_and_quartiles_read_in_order():
    labels = ["25-34", "65+", "missing", "<25", "50-64", "35-49"]
    assert group_order(labels) == ["<25", "25-34", "35-49", "50-64", "65+", "missing"]
    quartiles = ["(33.0, 42.0]", "(-0.001, 25.0]", "(25.0, 33.0]"]
    assert group_order(quartiles) == ["(-0.001, 25.0]", "(25.0, 33.0]", "(33.0, 42.0]"]
    assert group_order(["male", "female"]) == ["female", "male"]


def test_groups_are_read_against_the_reference_group():
    ages = pd.Series([20] * 100 + [30] * 200 + [40] * 200 + [70] * 10)
    groups = age_bands(ages)
    approved = np.r_[np.ones(40), np.zeros(60), np.ones(150), np.zeros(50)]
    approved = np.r_[approved, np.ones(160), np.zeros(40), np.ones(10)]
    y = np.zeros(len(ages), dtype=int)
    y[::5] = 1
    result = attribute_report(y, approved, groups, n_boot=0)
    assert list(result["groups"]) == ["<25", "25-34", "35-49", "65+"]  # not "<25" last
    assert result["reference_group"] == "35-49"
    assert result["groups"]["<25"]["ratio_to_reference"] == pytest.approx(0.4 / 0.8)
    assert result["groups"]["25-34"]["ratio_to_reference"] == pytest.approx(0.75 / 0.8)
    table = group_table(result)
    assert table["group"].tolist() == ["<25", "25-34", "35-49", "65+"]
    verdicts = dict(zip(table["group"], table["verdict"], strict=True))
    assert verdicts["35-49"] == REFERENCE and verdicts["65+"] == TOO_SMALL
    assert BELOW_FOUR_FIFTHS in verdicts["<25"] and verdicts["25-34"] == "ok"
    assert set(table.columns) >= {"n", "approval rate", "ratio to reference", "AUC", "TPR gap"}


def test_gap_intervals_are_bias_corrected_and_hold_the_estimate():
    # Four groups with the same true approval rate: resampling only widens the max-min gap.
    rng = np.random.default_rng(0)
    groups = rng.choice(list("abcd"), 2000)
    y_good = 1 - rng.integers(0, 2, 2000)
    approved = (rng.random(2000) < 0.6).astype(int)
    result = bootstrap_intervals(y_good, approved, groups, n_boot=300, seed=1)
    _, codes = np.unique(groups, return_inverse=True)
    estimate = _gaps(_rates(codes, approved.astype(float), y_good.astype(float), 4))
    assert result["gap_bias"]["demographic_parity_difference"] > 0
    for name, (low, high) in result["gaps"].items():
        assert low <= float(estimate[name]) <= high, name
    assert result["methods"]["gaps"] == GAP_INTERVAL and "bias-corrected" in GAP_INTERVAL


def test_the_name_the_report_shows_is_accepted_back(synthetic):
    bundle, frame = synthetic
    assert resolve_attribute("age_band", frame, bundle.spec) == "age"
    assert resolve_attribute("age", frame, bundle.spec) == "age"
    with pytest.raises(ConfigError, match="unknown protected attribute 'age_bnad'.*age_band"):
        resolve_attribute("age_bnad", frame, bundle.spec)


def test_mitigate_for_takes_the_report_label(tmp_path, synthetic):
    bundle, frame = synthetic
    report = fairness_files(
        bundle, frame, tmp_path, mitigate=["reweighing"], mitigate_for="age_band", n_boot=0
    )
    assert report["mitigation"]["attribute"] == "age_band"
    assert list(report["mitigation"]["before"]["selection_rate_by_group"])[:2] == ["<25", "25-34"]


def test_a_model_that_approves_nobody_is_reported_as_such(tmp_path, synthetic, monkeypatch):
    bundle, frame = synthetic

    def decline_everyone(split):
        score = split.baseline.predict_proba(split.X_test)[:, 1]
        return score, np.ones(len(score), dtype=bool), []

    monkeypatch.setitem(mitigation._RUNNERS, "reweighing", decline_everyone)
    report = fairness_files(bundle, frame, tmp_path, mitigate=["reweighing"], mitigate_for="sex")
    result = report["mitigation"]["methods"]["reweighing"]
    assert report["mitigation"]["before"]["demographic_parity_difference"] > 0
    assert result["approval_rate"] == 0 and result["demographic_parity_difference"] == 0
    assert result["degenerate"] == mitigation.APPROVES_NONE
    assert result["dp_reduction"] is None and not result["meets_target"]
    assert result["notes"][0] == "the mitigated model approves no applicants"
    page = fairness_html(report)
    assert "approves no applicants" in page and "+100%" not in page
