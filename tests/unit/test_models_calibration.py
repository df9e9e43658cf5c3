"""Calibration as a bundle step: monotone maps chosen on inner folds, ECE after calibration."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.special import expit
from sklearn.model_selection import StratifiedKFold

from greenscore.errors import ConfigError, ModelError
from greenscore.evaluation.metrics import ece
from greenscore.models.calibration import (
    METHODS,
    CalibratedClassifier,
    LogOddsCalibrator,
    calibrated_contributions,
    split_calibrated,
)
from greenscore.models.linear import SplineLogisticClassifier

TAIWAN = "/work/shared/data/UCI_Credit_Card.csv"


def _scores(n: int = 4000, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Raw log-odds that are over-confident and shifted: true log-odds 0.4 z - 1."""
    rng = np.random.default_rng(seed)
    z = rng.normal(0, 2.5, n)
    y = (rng.random(n) < expit(0.4 * z - 1.0)).astype(int)
    return z, y


@pytest.mark.parametrize("method", METHODS)
def test_every_map_is_strictly_increasing_and_calibrates(method):
    z, y = _scores()
    calibrator = LogOddsCalibrator(method=method).fit(z[:2000], y[:2000])
    grid = np.linspace(-15, 15, 3001)
    assert np.all(np.diff(calibrator.transform(grid)) > 0)
    raw, calibrated = expit(z[2000:]), calibrator.predict_proba(z[2000:])
    assert ece(y[2000:], calibrated) < 0.03 < ece(y[2000:], raw)
    # Strictly increasing: the ranking, hence AUC, is the raw scores' exactly.
    assert np.array_equal(np.argsort(raw, kind="stable"), np.argsort(calibrated, kind="stable"))


def test_auto_chooses_the_lowest_cross_validated_log_loss():
    z, y = _scores(seed=1)
    calibrator = LogOddsCalibrator(method="auto").fit(z, y)
    assert set(calibrator.losses_) == set(METHODS)
    assert calibrator.method_ == min(calibrator.losses_, key=calibrator.losses_.get)
    # The data are logistic in z: Platt (or beta, which nests it) must beat isotonic.
    assert calibrator.method_ in ("platt", "beta")


def test_bad_parameters_and_one_class_are_refused():
    z, y = _scores(200)
    with pytest.raises(ConfigError):
        LogOddsCalibrator(method="spline").fit(z, y)
    with pytest.raises(ModelError):
        LogOddsCalibrator().fit(z, np.zeros_like(y))


def test_calibrated_contributions_add_up_and_keep_order():
    rng = np.random.default_rng(2)
    values = rng.normal(0, 0.5, (50, 6))
    base = np.full(50, -1.2)
    z, y = _scores(seed=3)
    calibrator = LogOddsCalibrator(method="isotonic").fit(z, y)
    out, new_base = calibrated_contributions(values, base, calibrator)
    expected = calibrator.transform(base + values.sum(axis=1))
    np.testing.assert_allclose(out.sum(axis=1) + new_base, expected, atol=1e-10)
    assert np.array_equal(np.argsort(-values, axis=1), np.argsort(-out, axis=1))
    assert np.array_equal(np.sign(values), np.sign(out))


def _taiwan_sample(rows: int) -> tuple[pd.DataFrame, np.ndarray]:
    from greenscore.data.loading import load_dataset
    from greenscore.features.pipeline import build_feature_pipeline

    dataset = load_dataset(TAIWAN, preset="taiwan")
    rng = np.random.default_rng(0)
    keep = np.sort(rng.choice(len(dataset.y), rows, replace=False))
    X, y = dataset.X.iloc[keep], dataset.y[keep]  # noqa: N806
    return build_feature_pipeline(dataset.spec).fit_transform(X, y), y


def _out_of_fold_pd(model, X, y):  # noqa: N803
    out = np.empty(len(y))
    for train, valid in StratifiedKFold(2, shuffle=True, random_state=0).split(X, y):
        fitted = model.fit(X.iloc[train], y[train])
        out[valid] = fitted.predict_proba(X.iloc[valid])[:, 1]
    return out


def test_a_net_is_calibrated_on_a_taiwan_sample():
    """The nets' PDs were the worst calibrated (ECE 0.2-0.3 when weighted): after the
    calibration step their ECE on held-out rows is within 0.02, and the ranking is kept."""
    from greenscore.models.torch import DNNClassifier

    X, y = _taiwan_sample(6000)  # noqa: N806
    net = DNNClassifier(max_epochs=4, class_weight="balanced", random_state=0, n_jobs=1)
    raw = _out_of_fold_pd(net, X, y)
    calibrated = _out_of_fold_pd(CalibratedClassifier(net, cv=2), X, y)
    assert ece(y, raw) > 0.1
    assert ece(y, calibrated) <= 0.02


def test_calibration_keeps_the_ranking_and_wraps_without_changing_it():
    X, y = _taiwan_sample(3000)  # noqa: N806
    model = CalibratedClassifier(SplineLogisticClassifier(), cv=3).fit(X, y)
    inner, calibrator = split_calibrated(model)
    raw = inner.decision_function(X)
    calibrated = model.decision_function(X)
    np.testing.assert_allclose(calibrated, calibrator.transform(raw))
    assert np.array_equal(np.argsort(raw, kind="stable"), np.argsort(calibrated, kind="stable"))
    assert model.method_ in METHODS and len(model.oof_log_odds_) == len(y)
    assert model.summary()["fitted_on"] == "3 inner folds of the training rows"
    values, base = model.log_odds_contributions(X.iloc[:40])
    np.testing.assert_allclose(values.sum(axis=1) + base, calibrated[:40], atol=1e-8)


def test_a_small_data_booster_is_calibrated_on_its_own_cross_validation(monkeypatch):
    """Below ``cv_below`` rows LightGBM picks its rounds by internal k-fold CV and keeps the
    folds' out-of-fold scores: the calibration fits it once, not once per inner fold plus
    a refit, and its held-out PDs are as well calibrated as the inner folds made them."""
    from greenscore.models.gbm import LightGBMCreditClassifier

    X, y = _taiwan_sample(4000)  # noqa: N806
    fits: list[int] = []
    real_fit = LightGBMCreditClassifier.fit

    def counted(self, *args, **kwargs):
        fits.append(len(args[1]))
        return real_fit(self, *args, **kwargs)

    monkeypatch.setattr(LightGBMCreditClassifier, "fit", counted)
    # Class weights make the raw PDs far too high: what the map has to undo.
    booster = LightGBMCreditClassifier(learning_rate=0.1, class_weight="balanced", n_jobs=1)
    model = CalibratedClassifier(booster).fit(X, y)
    assert fits == [len(y)]
    np.testing.assert_array_equal(model.oof_log_odds_, model.estimator_.oof_log_odds_)
    summary = model.summary()
    assert "own out-of-fold scores" in summary["fitted_on"] and summary["rows"] == len(y)
    assert summary["method"] == min(summary["log_loss"], key=summary["log_loss"].get)
    fits.clear()
    raw = _out_of_fold_pd(booster, X, y)
    calibrated = _out_of_fold_pd(CalibratedClassifier(booster), X, y)
    assert fits == [len(y) // 2] * 4
    assert ece(y, raw) > 0.1
    assert ece(y, calibrated) <= 0.03
