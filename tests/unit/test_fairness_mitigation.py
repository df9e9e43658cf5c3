"""Bias mitigation before/after: reweighing, exponentiated gradient, adversarial, thresholds."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from lightgbm import LGBMClassifier
from sklearn.pipeline import Pipeline

from greenscore.data.presets import load_preset
from greenscore.data.synthetic import generate
from greenscore.errors import ConfigError
from greenscore.fairness.adversarial import AdversarialDebiasingClassifier
from greenscore.fairness.mitigation import kamiran_calders_weights, mitigation_report
from greenscore.fairness.report import fairness_files, parse_methods
from greenscore.features.coercion import TypeCoercer
from greenscore.models.bundle import ScoringBundle


def _bundle(frame: pd.DataFrame, n_estimators: int = 80) -> ScoringBundle:
    spec = load_preset("synthetic")
    X = frame[spec.feature_columns(list(frame.columns))]  # noqa: N806
    model = LGBMClassifier(
        n_estimators=n_estimators,
        learning_rate=0.05,
        num_leaves=15,
        verbose=-1,
        n_jobs=1,
        random_state=0,
    )
    pipeline = Pipeline([("coerce", TypeCoercer(spec=spec)), ("model", model)]).fit(
        X, frame["default"]
    )
    return ScoringBundle(name="lightgbm", spec=spec, pipeline=pipeline)


@pytest.fixture(scope="module")
def synthetic():
    frame = generate(16000, seed=3).applications
    return _bundle(frame.iloc[:2000], n_estimators=60), frame


def test_reweighing_weights_make_group_and_label_independent():
    rng = np.random.default_rng(0)
    groups = rng.choice(["f", "m"], 1000, p=[0.3, 0.7])
    y = (rng.random(1000) < np.where(groups == "f", 0.3, 0.1)).astype(int)
    w = kamiran_calders_weights(groups, y)
    for g in ("f", "m"):
        for label in (0, 1):
            joint = w[(groups == g) & (y == label)].sum() / w.sum()
            assert joint == pytest.approx((groups == g).mean() * (y == label).mean())


def test_one_method_halves_the_parity_gap_at_small_auc_cost(synthetic):
    bundle, frame = synthetic
    report = mitigation_report(
        bundle, frame, attribute="sex", methods=("reweighing", "threshold_optimizer"), seed=0
    )
    before = report["before"]
    assert before["demographic_parity_difference"] > 0.01
    assert before["selection_rate_by_group"]["female"] < before["selection_rate_by_group"]["male"]
    assert set(report["methods"]) == {"reweighing", "threshold_optimizer"}
    for result in report["methods"].values():
        assert 0.5 < result["auc"] < 1.0
        assert result["auc_cost"] == pytest.approx(before["auc"] - result["auc"], abs=1e-6)
    winner = report["methods"][report["best"]]
    assert winner["meets_target"]
    assert winner["dp_reduction"] >= 0.5 and winner["auc_cost"] <= 0.02
    assert report["split"]["train"] + report["split"]["test"] == len(frame)
    json.dumps(report)


def test_exponentiated_gradient_reports_before_after(synthetic):
    bundle, frame = synthetic
    small = _bundle(frame.iloc[:1000], n_estimators=20)
    report = mitigation_report(
        small, frame.iloc[:1600], attribute="sex", methods=("exponentiated_gradient",), seed=1
    )
    result = report["methods"]["exponentiated_gradient"]
    assert 0.5 < result["auc"] < 1.0
    assert 0 < result["approval_rate"] < 1
    assert result["demographic_parity_difference"] is not None
    assert "constituent models" in result["notes"][0]


def test_adversary_reduces_score_dependence_on_the_group():
    rng = np.random.default_rng(0)
    n = 2000
    group = rng.choice(["a", "b"], n)
    proxy = rng.normal(size=n) + (group == "b") * 1.5
    signal = rng.normal(size=n)
    X = pd.DataFrame({"proxy": proxy, "signal": signal, "kind": rng.choice(["x", "y"], n)})  # noqa: N806
    y = (rng.random(n) < 1 / (1 + np.exp(-(proxy + signal - 1)))).astype(int)

    def gap(model: AdversarialDebiasingClassifier) -> float:
        p = model.fit(X, y, sensitive_features=group).predict_proba(X)[:, 1]
        return abs(p[group == "a"].mean() - p[group == "b"].mean())

    plain = gap(AdversarialDebiasingClassifier(alpha=0.0, epochs=15, random_state=0))
    debiased = gap(AdversarialDebiasingClassifier(alpha=30.0, epochs=15, random_state=0))
    assert debiased < 0.6 * plain
    model = AdversarialDebiasingClassifier(epochs=2).fit(X, y, sensitive_features=group)
    assert model.predict_proba(X).shape == (n, 2) and set(model.predict(X)) <= {0, 1}
    assert model.get_params()["alpha"] == 30.0


def test_fairness_files_write_the_figures(tmp_path, synthetic):
    bundle, frame = synthetic
    report = fairness_files(
        bundle,
        frame.iloc[2000:8000],
        tmp_path,
        mitigate=["adversarial"],
        mitigate_for="sex",
        n_boot=20,
        seed=0,
    )
    saved = json.loads((tmp_path / "fairness.json").read_text())
    assert saved["mitigation"]["attribute"] == report["mitigation"]["attribute"]
    adversarial = saved["mitigation"]["methods"]["adversarial"]
    assert adversarial["dp_reduction"] is not None and 0.5 < adversarial["auc"] < 1
    assert "sex" in saved["flagged"]
    assert (tmp_path / "fairness.html").stat().st_size > 1_000
    assert parse_methods("all") == [
        "reweighing",
        "exponentiated_gradient",
        "adversarial",
        "threshold_optimizer",
    ]
    with pytest.raises(ConfigError, match="unknown"):
        parse_methods("reweighing,magic")


def test_threshold_optimizer_leaves_a_group_the_bundle_approves_entirely(synthetic):
    # The 60 applicants of lowest PD form their own group: the bundle approves them all,
    # which Fairlearn refuses to fit ("degenerate labels"); they keep the bundle's
    # decisions and the other groups are still thresholded.
    bundle, frame = synthetic
    frame = frame.iloc[2000:5000].reset_index(drop=True)
    features = bundle.spec.feature_columns(list(frame.columns))
    pd_ = bundle.pipeline.predict_proba(frame[features])[:, 1]
    safest = np.argsort(pd_)[:60]
    assert (pd_[safest] < bundle.scoring.decline_above).all()
    frame.loc[safest, "sex"] = "undisclosed"
    report = mitigation_report(
        bundle, frame, attribute="sex", methods=("threshold_optimizer",), seed=0
    )
    result = report["methods"]["threshold_optimizer"]
    assert any("keep its decisions: ['undisclosed']" in note for note in result["notes"])
    assert result["selection_rate_by_group"]["undisclosed"] == 1.0


def test_parity_shifts_meet_the_gap_on_tied_scores():
    """PDs with ties (rounded to 0.001): a group's rate set by a quantile lands a little off
    its target, and the shifts must still meet the gap. Before the narrower bands, 48 of
    these 90 cases ended above it, by 0.00005-0.004 (and 0.02003 against 0.02 on 4,000
    generated rows); PDs rounded to 0.01 can hold more applicants on one value than the gap
    allows, where no shift can meet it and ``after`` says so."""
    from greenscore.fairness.mitigation import decision_gap, group_shifts

    missed = []
    for seed in range(30):
        rng = np.random.default_rng(seed)
        n = 2000
        groups = np.where(rng.uniform(size=n) < 0.5, "a", "b")
        score = rng.normal(size=n) + np.where(groups == "a", 0.4, 0.0)
        pd_ = np.clip(np.round(1 / (1 + np.exp(-(score - 1.0))), 3), 1e-3, 1 - 1e-3)
        y = (rng.uniform(size=n) < pd_).astype(int)
        for max_gap in (0.01, 0.02, 0.05):
            shifts, before, after = group_shifts(
                pd_, y, groups, constraint="demographic_parity", max_gap=max_gap, cut=0.3
            )
            z = np.log(pd_ / (1 - pd_)) + np.array([shifts[g] for g in groups])
            gap = decision_gap("demographic_parity", y, z > np.log(0.3 / 0.7), groups)
            assert gap == pytest.approx(after)
            if before > max_gap and after > max_gap:
                missed.append((seed, max_gap, before, after))
    assert not missed, missed


def test_the_constraint_summary_says_whether_the_model_reads_the_group(synthetic):
    from greenscore.fairness.mitigation import FairnessConstrainedClassifier

    frame = synthetic[1].iloc[:3000]
    columns = ["income", "loan_amount", "credit_utilization", "num_delinquencies_2y", "sex"]
    X, y = frame[columns], frame["default"].to_numpy()  # noqa: N806
    spec = load_preset("synthetic")

    def fitted(method: str) -> FairnessConstrainedClassifier:
        return FairnessConstrainedClassifier(
            LGBMClassifier(n_estimators=30, verbose=-1),
            spec=spec,
            attribute="sex",
            max_gap=0.01,
            cut=0.3,
            method=method,
        ).fit(X, y)

    summary = fitted("threshold").summary()
    json.dumps(summary)  # plain data, group names as text
    assert summary["method"] in {"threshold", "none"}
    assert summary["reads_group_at_decision"] == any(summary["shifts"].values())
    assert summary["met"] == (summary["gap_after"] <= 0.01)
    reweighed = fitted("reweighing")
    assert reweighed.summary()["method"] == "reweighing"
    assert reweighed.summary()["reads_group_at_decision"] is False
