"""Fairness metrics by protected group: rates, gaps, four-fifths rule, bootstrap, flags."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from lightgbm import LGBMClassifier
from sklearn.pipeline import Pipeline

from greenscore.data.loading import load_dataset
from greenscore.data.presets import load_preset
from greenscore.data.synthetic import generate
from greenscore.errors import DataError
from greenscore.fairness.bootstrap import bootstrap_intervals
from greenscore.fairness.groups import age_bands, sensitive_features
from greenscore.fairness.metrics import attribute_report, fairness_report, fairness_summary
from greenscore.features.coercion import TypeCoercer
from greenscore.models.bundle import ScoringBundle

GERMAN = "/work/shared/data/german_credit.csv"


def _fit(spec, frame, y, n_estimators=100):
    X = frame[spec.feature_columns(list(frame.columns))]  # noqa: N806
    model = LGBMClassifier(
        n_estimators=n_estimators,
        learning_rate=0.05,
        num_leaves=15,
        verbose=-1,
        n_jobs=1,
        random_state=0,
    )
    pipeline = Pipeline([("coerce", TypeCoercer(spec=spec)), ("model", model)]).fit(X, y)
    return ScoringBundle(name="lightgbm", spec=spec, pipeline=pipeline)


@pytest.fixture(scope="module")
def synthetic():
    frame = generate(8000, seed=3).applications
    spec = load_preset("synthetic")
    train, test = frame.iloc[:3000], frame.iloc[3000:]
    return _fit(spec, train, train["default"].to_numpy()), test


def test_planted_proxy_bias_is_flagged(synthetic):
    bundle, test = synthetic
    report = fairness_summary(bundle, test, n_boot=100, seed=0)
    assert {"sex", "age_band", "marital_status"} == set(report["attributes"])
    sex = report["attributes"]["sex"]
    assert "sex" in report["flagged"] and sex["flagged"]
    assert sex["least_favoured_group"] == "female"
    assert sex["groups"]["female"]["selection_rate"] < sex["groups"]["male"]["selection_rate"]
    disparity = sex["score_disparity"]
    assert disparity["higher_risk"] == "female" and disparity["smd"] >= 0.1 and disparity["z"] > 2
    assert any("predicted risk of 'female'" in r for r in sex["flag_reasons"])
    json.dumps(report)  # JSON-ready, no numpy scalars


def test_rates_and_gaps_match_a_hand_count():
    y = np.array([0, 0, 0, 1, 1, 0, 0, 1, 1, 1] * 10)
    approved = np.array([1, 1, 0, 0, 1, 1, 0, 0, 0, 1] * 10)
    groups = pd.Series((["a"] * 5 + ["b"] * 5) * 10)
    report = attribute_report(y, approved, groups, n_boot=0, min_group=1)
    good = y == 0
    for g in ("a", "b"):
        m = (groups == g).to_numpy()
        entry = report["groups"][g]
        assert entry["selection_rate"] == pytest.approx(approved[m].mean())
        assert entry["tpr"] == pytest.approx(approved[m & good].mean())
        assert entry["fpr"] == pytest.approx(approved[m & ~good].mean())
    a, b = report["groups"]["a"], report["groups"]["b"]
    assert report["demographic_parity_difference"] == pytest.approx(
        abs(a["selection_rate"] - b["selection_rate"])
    )
    assert report["demographic_parity_ratio"] == pytest.approx(
        min(a["selection_rate"], b["selection_rate"])
        / max(a["selection_rate"], b["selection_rate"])
    )
    assert report["equalized_odds_difference"] == pytest.approx(
        max(abs(a["tpr"] - b["tpr"]), abs(a["fpr"] - b["fpr"]))
    )


def test_four_fifths_rule_verdict():
    groups = pd.Series(["a"] * 100 + ["b"] * 100)
    y = np.zeros(200, dtype=int)
    y[::4] = 1
    fails = np.r_[np.ones(80), np.zeros(20), np.ones(60), np.zeros(40)]  # 0.6 / 0.8 = 0.75
    passes = np.r_[np.ones(80), np.zeros(20), np.ones(70), np.zeros(30)]  # 0.7 / 0.8 = 0.875
    assert attribute_report(y, fails, groups, n_boot=0)["four_fifths_rule"] == "fail"
    verdict = attribute_report(y, passes, groups, n_boot=0)
    assert verdict["four_fifths_rule"] == "pass"
    assert verdict["demographic_parity_ratio"] == pytest.approx(0.875)


def test_small_groups_are_marked_and_left_out_of_the_gaps():
    groups = pd.Series(["a"] * 200 + ["b"] * 200 + ["tiny"] * 5)
    y = np.zeros(405, dtype=int)
    approved = np.r_[np.ones(180), np.zeros(20), np.ones(170), np.zeros(30), np.zeros(5)]
    report = attribute_report(y, approved, groups, n_boot=0)
    assert report["groups"]["tiny"]["small"] and not report["groups"]["a"]["small"]
    assert report["groups_compared"] == ["a", "b"]
    assert report["demographic_parity_difference"] == pytest.approx(0.05)


def test_bootstrap_is_seeded_and_brackets_the_estimate():
    rng = np.random.default_rng(0)
    groups = rng.choice(["a", "b", "c"], 3000)
    y = rng.integers(0, 2, 3000)
    approved = (rng.random(3000) < np.where(groups == "a", 0.8, 0.6)).astype(int)
    one = bootstrap_intervals(1 - y, approved, groups, n_boot=200, seed=5)
    two = bootstrap_intervals(1 - y, approved, groups, n_boot=200, seed=5)
    other = bootstrap_intervals(1 - y, approved, groups, n_boot=200, seed=6)
    assert one == two and one != other
    low, high = one["gaps"]["demographic_parity_difference"]
    report = attribute_report(y, approved, pd.Series(groups), n_boot=0)
    assert low < report["demographic_parity_difference"] < high
    for g in ("a", "b", "c"):
        lo, hi = one["groups"][g]["selection_rate"]
        assert lo < approved[groups == g].mean() < hi
    lo, hi = one["gaps"]["equalized_odds_difference"]
    assert 0 <= lo <= hi


def test_age_bands_and_german_groups_need_no_hand_edits():
    assert age_bands(pd.Series([19, 25, 34, 35, 64, 65, None])).tolist() == [
        "<25",
        "25-34",
        "25-34",
        "35-49",
        "50-64",
        "65+",
        "missing",
    ]
    dataset = load_dataset(GERMAN, preset="german")
    groups = sensitive_features(dataset.frame, dataset.spec, ["sex", "age", "foreign_worker"])
    assert list(groups.columns) == ["sex", "age_band", "foreign_worker"]
    assert set(groups["sex"]) == {"female", "male"}
    bundle = _fit(dataset.spec, dataset.frame, dataset.y, n_estimators=50)
    report = fairness_summary(bundle, dataset.frame, n_boot=50, seed=0)
    assert set(report["attributes"]) == {"personal_status", "age_band", "foreign_worker", "sex"}
    for result in report["attributes"].values():
        assert result["four_fifths_rule"] in ("pass", "fail")
        low, high = result["ci"]["demographic_parity_difference"]
        assert low <= result["demographic_parity_difference"] <= high or result["groups_compared"]


def test_bad_inputs_are_named():
    dataset = load_dataset(GERMAN, preset="german")
    with pytest.raises(DataError, match="religion"):
        sensitive_features(dataset.frame, dataset.spec, ["religion"])
    with pytest.raises(DataError, match="length"):
        fairness_report(
            np.zeros(3), np.zeros(3), np.array(["approve"] * 2), pd.DataFrame({"g": ["a"] * 3})
        )
