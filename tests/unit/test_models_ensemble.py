"""The ensemble: weights from inner out-of-fold log-odds, exact contributions, failing members."""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import pandas as pd
import pytest
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.metrics import roc_auc_score

from greenscore.data.loading import encode_target, model_input
from greenscore.data.presets import load_preset
from greenscore.data.synthetic import generate
from greenscore.errors import ConfigError, ModelError
from greenscore.features.pipeline import build_feature_pipeline
from greenscore.models.calibration import CalibratedClassifier
from greenscore.models.ensemble import EnsembleClassifier, MemberContribution
from greenscore.models.ensemble_bag import FoldBag
from greenscore.models.ensemble_weights import (
    PRIOR_ROWS,
    choose,
    ensemble_selection,
    fast_auc,
    served_weights,
    shrink_to_equal,
    stacking,
    weighted_average,
)
from greenscore.models.forest import ForestCreditClassifier
from greenscore.models.gbm import LightGBMCreditClassifier
from greenscore.models.linear import SplineLogisticClassifier
from greenscore.models.scorecard import WoEScorecardClassifier

FAST_LGBM = {"n_estimators": 60, "early_stopping_rounds": None, "num_leaves": 7}


@lru_cache(maxsize=1)
def _data() -> tuple[pd.DataFrame, np.ndarray, pd.DataFrame, np.ndarray]:
    spec = load_preset("synthetic")
    frame = generate(1600, seed=11).applications
    X = model_input(frame, spec)  # noqa: N806
    y = encode_target(frame[spec.target], spec)
    features = build_feature_pipeline(spec)
    train = features.fit_transform(X.iloc[:1200], y[:1200])
    test = features.transform(X.iloc[1200:])
    keep = list(train.columns[:25])
    return train[keep], y[:1200], test[keep], y[1200:]


def _members() -> list[tuple[str, object]]:
    return [
        ("scorecard", WoEScorecardClassifier(max_features=10, max_characteristics=8)),
        ("lightgbm", LightGBMCreditClassifier(**FAST_LGBM)),
        ("logistic", SplineLogisticClassifier(C=0.01)),
    ]


@lru_cache(maxsize=1)
def _fitted() -> EnsembleClassifier:
    X, y, _, _ = _data()  # noqa: N806
    return EnsembleClassifier(_members(), method="auto", cv=3, random_state=0).fit(X, y)


# ---------------------------------------------------------------------- combiners
def _matrix(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    signal = rng.normal(size=3000)
    y = (rng.random(3000) < 1 / (1 + np.exp(-(signal - 1)))).astype(int)
    Z = np.column_stack(  # noqa: N806
        [signal + rng.normal(0, s, 3000) for s in (0.8, 1.0, 1.2)] + [rng.normal(size=3000)]
    )
    return Z, y


def test_weighted_average_weights_are_a_simplex_and_ignore_noise():
    Z, y = _matrix()  # noqa: N806
    coefficients, _ = weighted_average(Z, y)
    weights = coefficients / coefficients.sum()
    assert (weights >= 0).all() and weights.sum() == pytest.approx(1.0)
    assert weights[3] < 0.05  # the pure-noise member
    assert fast_auc(y, Z @ weights) > max(fast_auc(y, Z[:, m]) for m in range(4))
    ensemble = _fitted()
    assert sum(ensemble.weights_.values()) == pytest.approx(1.0)
    assert ensemble.temperature_ > 0


def test_stacking_slopes_are_non_negative_and_selection_counts_add_to_one():
    Z, y = _matrix(1)  # noqa: N806
    weights, _ = stacking(Z, y, C=1.0)
    assert (weights >= 0).all() and weights[:3].min() > weights[3]
    weights, _ = ensemble_selection(Z, y, n_bags=5, max_steps=10, seed=0)
    assert (weights >= 0).all() and weights.sum() == pytest.approx(1.0)
    assert weights[3] == 0 and weights[0] > 0


def test_fast_auc_is_roc_auc():
    Z, y = _matrix(2)  # noqa: N806
    assert fast_auc(y, Z[:, 0]) == pytest.approx(roc_auc_score(y, Z[:, 0]), abs=1e-12)
    method, scores = choose(Z, y, seed=0)
    assert set(scores) == {"single", "weighted", "stacking", "selection"}
    assert scores[method] == max(scores.values())


def test_learnt_weights_are_pulled_toward_equal_weights_over_the_members_they_use():
    Z, y = _matrix(3)  # noqa: N806
    few = np.r_[np.ones(100), np.zeros(Z.shape[0] - 100)].astype(int)
    learnt = np.array([0.7, 0.3, 0.0, 0.0])
    for outcomes, rarer in ((few, 100), (y, np.bincount(y).min())):
        coefficients, _ = shrink_to_equal(Z, outcomes, learnt)
        keep = rarer / (rarer + PRIOR_ROWS)
        # The left-out members stay out; the others move toward an even split.
        expected = keep * learnt + (1 - keep) * np.array([0.5, 0.5, 0, 0])
        np.testing.assert_allclose(coefficients / coefficients.sum(), expected)
    assert np.bincount(y).min() > PRIOR_ROWS  # so there the learnt shares kept most say


def test_shrunk_weights_score_new_rows_better_when_learnt_from_few_defaults():
    """Four members equally informative, weights learnt on 300 rows: the learnt weights
    chase noise, the shrunk ones rank fresh rows better (on average over draws)."""
    raw, shrunk = [], []
    for seed in range(12):
        rng = np.random.default_rng(seed)
        signal = rng.normal(size=20_300)
        y = (rng.random(20_300) < 1 / (1 + np.exp(-(signal - 1)))).astype(int)
        Z = np.column_stack([signal + rng.normal(0, 1.5, 20_300) for _ in range(4)])  # noqa: N806
        fit, new = slice(0, 300), slice(300, None)
        learnt, _ = weighted_average(Z[fit], y[fit])
        served = served_weights("weighted", Z[fit], y[fit])
        assert not served.fell_back
        raw.append(fast_auc(y[new], Z[new] @ learnt))
        shrunk.append(fast_auc(y[new], Z[new] @ served.weights))
    assert np.mean(shrunk) > np.mean(raw)


# ---------------------------------------------------------------------- the estimator
def test_ensemble_learns_weights_from_inner_out_of_fold_log_odds():
    ensemble = _fitted()
    X, y, X_test, y_test = _data()  # noqa: N806
    assert set(ensemble.members_) == {"scorecard", "lightgbm", "logistic"}
    assert all(w >= 0 for w in ensemble.weights_.values())
    assert ensemble.method_ in {"single", "weighted", "stacking", "selection"}
    assert len(ensemble.oof_log_odds_) == len(y) and np.isfinite(ensemble.oof_log_odds_).all()
    # Out-of-fold log-odds are honest: below each member's in-sample AUC.
    for name, model in ensemble.members_.items():
        in_sample = roc_auc_score(y, model.predict_proba(X)[:, 1])
        assert ensemble.member_oof_auc_[name] < in_sample
    p = ensemble.predict_proba(X_test)[:, 1]
    assert 0.6 < roc_auc_score(y_test, p) <= 1.0


def test_a_memoriser_does_not_fool_the_weights():
    """A member that only memorises the training rows looks perfect in sample; on inner
    out-of-fold rows it is chance, so it gets no weight."""
    X, y, _, _ = _data()  # noqa: N806
    rng = np.random.default_rng(0)
    noise = X.assign(**{c: rng.permutation(X[c].to_numpy()) for c in X.columns})
    members = [
        ("logistic", SplineLogisticClassifier(C=0.01)),
        ("memoriser", ForestCreditClassifier(n_estimators=30, min_samples_leaf=1)),
    ]
    ensemble = EnsembleClassifier(members, method="stacking", cv=3).fit(noise, y)
    assert roc_auc_score(y, ensemble.members_["memoriser"].predict_proba(noise)[:, 1]) > 0.95
    assert ensemble.member_oof_auc_["memoriser"] < 0.6


def test_contributions_are_the_weighted_sum_of_the_members():
    ensemble = _fitted()
    _, _, X_test, _ = _data()  # noqa: N806
    rows = X_test.iloc[:30]
    parts = ensemble.member_contributions(rows)
    assert all(isinstance(p, MemberContribution) and p.exact for p in parts)
    values, base = ensemble.log_odds_contributions(rows)
    np.testing.assert_allclose(values, sum(p.weight * p.values for p in parts), atol=1e-12)
    np.testing.assert_allclose(
        base, ensemble.intercept_ + sum(p.weight * p.base for p in parts), atol=1e-12
    )
    logit = ensemble.decision_function(rows)
    np.testing.assert_allclose(values.sum(axis=1) + base, logit, atol=1e-6)
    # Each member's part of the log-odds, and the shares add up to them too.
    shares = ensemble.member_shares(rows)
    np.testing.assert_allclose(shares.sum(axis=1) + ensemble.intercept_, logit, atol=1e-6)
    for part in parts:
        np.testing.assert_allclose(part.log_odds, shares[part.name], atol=1e-6)


def test_calibrated_ensemble_uses_its_own_out_of_fold_log_odds():
    X, y, X_test, _ = _data()  # noqa: N806
    model = CalibratedClassifier(
        EnsembleClassifier(_members(), method="weighted", cv=3), random_state=0
    ).fit(X, y)
    np.testing.assert_array_equal(model.oof_log_odds_, model.estimator_.oof_log_odds_)
    values, base = model.log_odds_contributions(X_test.iloc[:20])
    np.testing.assert_allclose(
        values.sum(axis=1) + base, model.decision_function(X_test.iloc[:20]), atol=1e-8
    )
    # The members, restated on the calibrated scale, add up to the calibrated contributions.
    parts = model.member_contributions(X_test.iloc[:20])
    assert len(parts) >= 1
    np.testing.assert_allclose(sum(p.weight * p.values for p in parts), values, atol=1e-9)


def test_the_spline_logistic_transforms_column_by_column_as_its_column_transformer():
    X, y, X_test, _ = _data()  # noqa: N806
    holes = X_test.copy()
    holes.iloc[::3, :5] = np.nan  # missing values where training had none, too
    model = SplineLogisticClassifier(C=0.01).fit(X, y)
    np.testing.assert_allclose(
        model._transform(holes), model.transformer_.transform(model._prepare(holes)), atol=1e-12
    )


def test_an_ensemble_entry_names_its_members():
    from greenscore.models.registry import ensemble_members, parse_models

    spec = load_preset("synthetic")
    text = "lightgbm,ensemble:scorecard+lightgbm+logistic"
    assert parse_models(text, spec=spec, n_rows=100, has_relations=False) == [
        "lightgbm",
        "ensemble",
    ]
    assert ensemble_members(text) == ["scorecard", "lightgbm", "logistic"]
    assert ensemble_members("ensemble") is None
    for bad in ("ensemble:", "ensemble:scorecard+forest", "ensemble:lightgbm+lightgbm"):
        with pytest.raises(ConfigError, match="must name distinct members"):
            parse_models(bad, spec=spec, n_rows=100, has_relations=False)


def test_an_inexact_member_is_approximated_additively_and_named():
    X, y, X_test, _ = _data()  # noqa: N806
    members = [
        ("logistic", SplineLogisticClassifier(C=0.01)),
        ("extratrees", ForestCreditClassifier(n_estimators=40)),
    ]
    ensemble = EnsembleClassifier(members, method="weighted", cv=3).fit(X, y)
    if ensemble.weights_["extratrees"] == 0:
        pytest.skip("the forest got no weight on this draw")
    assert ensemble.inexact_members_ == ["extratrees"]
    parts = {p.name: p for p in ensemble.member_contributions(X_test.iloc[:10])}
    assert parts["extratrees"].exact is False and parts["extratrees"].method == "occlusion"
    values, base = ensemble.log_odds_contributions(X_test.iloc[:10])
    np.testing.assert_allclose(
        values.sum(axis=1) + base, ensemble.decision_function(X_test.iloc[:10]), atol=1e-6
    )


class _Broken(ClassifierMixin, BaseEstimator):
    def fit(self, X, y):  # noqa: N803
        raise ValueError("too few rows for this net")


def test_a_failing_member_is_dropped_with_its_reason(caplog):
    X, y, _, _ = _data()  # noqa: N806
    members = [("logistic", SplineLogisticClassifier(C=0.01)), ("net", _Broken())]
    ensemble = EnsembleClassifier(members, cv=3).fit(X, y)
    assert list(ensemble.members_) == ["logistic"]
    assert ensemble.dropped_ == {"net": "ValueError: too few rows for this net"}
    assert "ensemble member dropped" in caplog.text
    with pytest.raises(ModelError, match="every ensemble member failed"):
        EnsembleClassifier([("net", _Broken())], cv=3).fit(X, y)


def test_blending_weighs_on_a_hold_out_slice():
    X, y, X_test, y_test = _data()  # noqa: N806
    ensemble = EnsembleClassifier(_members(), method="blending", holdout=0.3).fit(X, y)
    assert ensemble.method_ == "blending"
    scored = np.isfinite(ensemble.oof_log_odds_)
    assert 0.25 < scored.mean() < 0.35
    assert roc_auc_score(y_test, ensemble.predict_proba(X_test)[:, 1]) > 0.6


def test_bad_parameters_are_refused():
    X, y, _, _ = _data()  # noqa: N806
    with pytest.raises(ConfigError):
        EnsembleClassifier(_members(), method="voting").fit(X, y)
    with pytest.raises(ConfigError, match="unique"):
        EnsembleClassifier([("a", _Broken()), ("a", _Broken())]).fit(X, y)


def test_selection_never_ranks_its_rows_below_its_best_member():
    """Caruana's selection starts from the best member and keeps its best prefix; the bags
    always hold that member, and an average that still fell below it is replaced by it."""
    for seed in range(4):
        Z, y = _matrix(seed)  # noqa: N806
        Z = Z[:400]  # noqa: N806 - few rows: where noise could pull a bag below the best
        y = y[:400]
        best = max(fast_auc(y, Z[:, m]) for m in range(Z.shape[1]))
        for bags in (1, 5):
            weights, _ = ensemble_selection(Z, y, n_bags=bags, bag_fraction=0.5, seed=seed)
            assert fast_auc(y, Z @ weights) >= best - 1e-12


def test_a_combination_worse_than_its_best_member_falls_back_to_it(monkeypatch, caplog):
    import greenscore.models.ensemble_weights as weights_module

    def worst_only(method, Z, y, **_):  # noqa: N803 - all weight on the weakest member
        aucs = [fast_auc(y, Z[:, m]) for m in range(Z.shape[1])]
        weights = np.zeros(Z.shape[1])
        weights[int(np.argmin(aucs))] = 1.0
        return weights, 0.0

    monkeypatch.setattr(weights_module, "fit_combiner", worst_only)
    X, y, _, _ = _data()  # noqa: N806
    ensemble = EnsembleClassifier(_members(), method="weighted", cv=3).fit(X, y)
    best = max(ensemble.member_oof_auc_, key=ensemble.member_oof_auc_.get)
    assert ensemble.method_ == "single"
    assert ensemble.weights_[best] == pytest.approx(1.0)
    assert ensemble.fallback_ is not None and best in ensemble.fallback_
    assert "falls back to its best member" in caplog.text
    assert fast_auc(y, ensemble.oof_log_odds_) == pytest.approx(ensemble.member_oof_auc_[best])


def test_members_are_refitted_on_all_rows_but_a_forest_is_served_as_its_bag():
    X, y, X_test, _ = _data()  # noqa: N806
    members = [
        ("lightgbm", LightGBMCreditClassifier(**FAST_LGBM)),
        ("extratrees", ForestCreditClassifier(n_estimators=40)),
    ]
    ensemble = EnsembleClassifier(members, method="weighted", cv=3, random_state=0).fit(X, y)
    booster, forest = ensemble.members_["lightgbm"], ensemble.members_["extratrees"]
    # The booster is the one fitted on every row (the same as fitting it here), not a bag.
    assert isinstance(booster, LightGBMCreditClassifier)
    on_all_rows = LightGBMCreditClassifier(**FAST_LGBM).fit(X, y)
    np.testing.assert_array_equal(booster.predict_proba(X_test), on_all_rows.predict_proba(X_test))
    # The forest is the bag of its three inner-fold forests.
    assert isinstance(forest, FoldBag) and len(forest.estimators_) == 3


def test_the_spline_logistic_codes_levels_as_its_one_hot_encoders_do():
    """Categories, few-valued numbers and missing values, with levels unseen at fit and
    levels too rare to get their own column: the one-hot tables code each value as the
    fitted encoders do, and the prepared text is the one the encoders were fitted on."""
    rng = np.random.default_rng(4)
    n = 1500
    frame = pd.DataFrame(
        {
            "housing": rng.choice(
                ["own", "rent", "mortgage", "boat"], n, p=[0.5, 0.3, 0.198, 0.002]
            ),
            "dependents": rng.choice([0, 1, 2, 3], n).astype(float),
            "grade": pd.Categorical(rng.choice(list("ABCD"), n)),
            "income": rng.lognormal(10, 0.4, n),
        }
    )
    frame.loc[rng.uniform(size=n) < 0.05, "housing"] = None
    frame.loc[rng.uniform(size=n) < 0.05, "dependents"] = np.nan
    y = (rng.uniform(size=n) < 0.2 + 0.2 * (frame["housing"] == "rent")).astype(int)
    model = SplineLogisticClassifier(C=0.1, min_frequency=0.01).fit(frame, y)
    assert {"housing", "dependents", "grade"} <= model.levels_
    scored = frame.head(40).astype({"housing": object, "grade": object}).copy()
    scored.loc[scored.index[::4], "housing"] = "houseboat"  # never seen
    scored.loc[scored.index[1::5], "housing"] = "boat"  # seen, but infrequent
    scored.loc[scored.index[2::6], "dependents"] = 7.0  # a level never seen
    scored.loc[scored.index[3::7], "grade"] = pd.NA
    expected = model.transformer_.transform(model._prepare(scored))
    np.testing.assert_array_equal(model._transform(scored), expected)
