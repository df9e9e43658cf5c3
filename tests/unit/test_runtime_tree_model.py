"""The runtime compiles what ``greenscore train`` makes of LightGBM: a calibrated booster
refitted on all rows (earlier releases: a calibrated bag of inner-fold boosters), with PDs
equal to the pipeline's and contributions equal to the classifier's own
``log_odds_contributions``, both to 1e-9; or refuses it with a note."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.special import logit
from serving_bundle import applicant, dataset, fit_bundle
from sklearn.base import clone
from sklearn.pipeline import Pipeline

from greenscore.features.pipeline import build_feature_pipeline
from greenscore.models.bundle import ScoringBundle
from greenscore.models.calibration import CalibratedClassifier
from greenscore.models.ensemble_bag import FoldBag
from greenscore.models.gbm import LightGBMCreditClassifier
from greenscore.models.runtime import ScoringRuntime
from greenscore.models.runtime.tree_model import CompiledTrees, tree_model

ROWS = 120


def _lightgbm() -> LightGBMCreditClassifier:
    return LightGBMCreditClassifier(n_estimators=25, early_stopping_rounds=None, n_jobs=1)


@pytest.fixture(scope="module")
def ds():
    return dataset(700, seed=3)


class _BaggedLightGBM(LightGBMCreditClassifier):
    """LightGBM served as the bag of its inner-fold boosters, as calibration made it in
    the releases before the refit on all rows (their bundles still serve)."""

    served_as_bag = True


@pytest.fixture(scope="module", params=["platt", "isotonic"])
def calibrated(request, ds) -> ScoringBundle:
    return fit_bundle(
        ds,
        CalibratedClassifier(
            _BaggedLightGBM(**_lightgbm().get_params()), method=request.param, cv=3
        ),
        name="bag",
    )


@pytest.fixture(scope="module", params=["platt", "isotonic"])
def refitted(request, ds) -> ScoringBundle:
    """As ``greenscore train`` calibrates LightGBM now: one booster refitted on all rows."""
    model = CalibratedClassifier(_lightgbm(), method=request.param, cv=3)
    return fit_bundle(ds, model, name="lightgbm")


@pytest.fixture(scope="module")
def plain_bag(ds) -> ScoringBundle:
    """A fold bag without calibration, of boosters fitted on different halves."""
    features = build_feature_pipeline(ds.spec, relations=ds.relations).fit(ds.X, ds.y)
    X = features.transform(ds.X)  # noqa: N806
    half = len(X) // 2
    models = [
        clone(_lightgbm()).fit(X.iloc[part], ds.y[part])
        for part in (np.arange(half), np.arange(half, len(X)))
    ]
    bag = FoldBag.of(models, [str(c) for c in X.columns])
    pipe = Pipeline([("features", features), ("model", bag)])
    return ScoringBundle(name="bag", spec=ds.spec, pipeline=pipe, metadata={})


def _rows(ds):  # noqa: ANN001, ANN202
    rows = [applicant(ds, i) for i in range(ROWS)]
    return rows, [r[ds.spec.id_column] for r in rows]


def _check(ds, bundle: ScoringBundle) -> ScoringRuntime:  # noqa: ANN001
    runtime = ScoringRuntime(bundle)
    assert runtime.mode == "lightgbm" and runtime.terms == "treeshap", runtime.reason
    rows, ids = _rows(ds)
    scored = runtime.score(rows, ids)
    expected = bundle.pipeline.predict_proba(ds.X.iloc[:ROWS])[:, 1]
    np.testing.assert_allclose(scored.probability, expected, rtol=0, atol=1e-9)
    one = runtime.score(rows[5:6], ids[5:6])  # alone as in a batch
    assert abs(one.probability[0] - expected[5]) <= 1e-9
    values, base = runtime.contributions(scored.encoded)
    own_values, own_base = bundle.estimator.log_odds_contributions(
        bundle.features.transform(ds.X.iloc[:ROWS])
    )
    np.testing.assert_allclose(values, own_values, rtol=0, atol=1e-9)
    np.testing.assert_allclose(base, own_base, rtol=0, atol=1e-9)
    # PD and contributions from one pass over the trees: the same bits as the two calls.
    both = runtime.score(rows, ids, contributions=True)
    assert both.contributions is not None
    np.testing.assert_array_equal(both.probability, scored.probability)
    np.testing.assert_array_equal(both.contributions[0], values)
    np.testing.assert_array_equal(both.contributions[1], base)
    assert runtime.score(rows, ids).contributions is None
    return runtime


def test_a_calibrated_fold_bag_is_compiled_and_is_the_pipeline(ds, calibrated) -> None:
    runtime = _check(ds, calibrated)
    assert runtime.trees is not None and runtime.trees.model.kind == "calibrated fold bag"
    assert len(runtime.trees.tables) == 3  # one per inner fold
    # The calibrated contributions add up to the calibrated log-odds of the served PD.
    rows, ids = _rows(ds)
    scored = runtime.score(rows, ids)
    values, base = runtime.contributions(scored.encoded)
    np.testing.assert_allclose(base + values.sum(axis=1), logit(scored.probability), atol=1e-8)


def test_a_calibrated_booster_refitted_on_all_rows_is_compiled(ds, refitted) -> None:
    runtime = _check(ds, refitted)
    assert runtime.trees is not None and runtime.trees.model.kind == "calibrated booster"
    assert len(runtime.trees.tables) == 1
    # The booster is the one fitted on every row, not an inner fold's.
    booster = refitted.estimator.estimator_
    assert isinstance(booster, LightGBMCreditClassifier)
    X = refitted.features.transform(ds.X)  # noqa: N806
    on_all_rows = clone(_lightgbm()).fit(X, ds.y)
    np.testing.assert_array_equal(booster.predict_proba(X), on_all_rows.predict_proba(X))


def test_an_uncalibrated_fold_bag_is_compiled(ds, plain_bag) -> None:
    runtime = _check(ds, plain_bag)
    assert runtime.trees is not None and runtime.trees.model.kind == "fold bag"


def test_a_bare_booster_is_one_booster_not_averaged(ds, calibrated) -> None:
    booster_model = calibrated.estimator.estimator_.estimators_[0]
    found = tree_model(booster_model)
    assert found is not None and not found.averaged and found.calibrator is None
    # Neither a scorecard nor anything else without boosters is taken for trees.
    assert tree_model(object()) is None


def test_contributions_that_differ_from_the_bags_own_are_refused(
    ds, calibrated, monkeypatch
) -> None:
    original = CompiledTrees.contributions

    def shifted(self, matrix):  # noqa: ANN001, ANN202
        values, base = original(self, matrix)
        return values, base + 1e-6

    monkeypatch.setattr(CompiledTrees, "contributions", shifted)
    runtime = ScoringRuntime(calibrated)
    assert runtime.mode == "compiled"
    assert "calibrated fold bag's contributions differ from its own" in runtime.reason
    # Its own exact terms (CalibratedClassifier.log_odds_contributions) are still served.
    assert runtime.terms == "model"
    rows, ids = _rows(ds)
    values, _ = runtime.contributions(runtime.encode(rows, ids))
    own, _ = calibrated.estimator.log_odds_contributions(
        calibrated.features.transform(ds.X.iloc[:ROWS])
    )
    np.testing.assert_allclose(values, own, rtol=0, atol=1e-12)
    # Scored through the classifier itself, still the pipeline's PD.
    np.testing.assert_allclose(
        runtime.score(rows, ids).probability,
        calibrated.pipeline.predict_proba(ds.X.iloc[:ROWS])[:, 1],
        atol=1e-12,
    )
