"""SHAP values for tree, linear and model-agnostic paths; summary and waterfall plots."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import shap
from lightgbm import LGBMClassifier
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from greenscore.data.loading import load_dataset
from greenscore.errors import DataError, ModelError
from greenscore.explain.feature_map import model_frame
from greenscore.explain.shap_plots import summary_plot, waterfall_plot
from greenscore.explain.shap_values import (
    contribution_backend,
    explain,
    explain_batches,
    global_importance,
)
from greenscore.features.coercion import TypeCoercer
from greenscore.models.bundle import ScoringBundle

GERMAN = "/work/shared/data/german_credit.csv"


class OpaqueClassifier(ClassifierMixin, BaseEstimator):
    """A LightGBM model seen only through predict_proba (like a net or an ensemble)."""

    def __init__(self, *, n_estimators: int = 40) -> None:
        self.n_estimators = n_estimators

    def fit(self, X, y):  # noqa: N803
        self.inner_ = LGBMClassifier(n_estimators=self.n_estimators, verbose=-1, n_jobs=1).fit(X, y)
        self.classes_ = self.inner_.classes_
        return self

    def predict_proba(self, X):  # noqa: N803
        return self.inner_.predict_proba(X)


@pytest.fixture(scope="module")
def data():
    return load_dataset(GERMAN, preset="german")


def _bundle(data, model) -> ScoringBundle:
    pipeline = Pipeline([("coerce", TypeCoercer(spec=data.spec)), ("model", model)]).fit(
        data.X, data.y
    )
    return ScoringBundle(name=type(model).__name__, spec=data.spec, pipeline=pipeline)


@pytest.fixture(scope="module")
def tree(data):
    return _bundle(data, LGBMClassifier(n_estimators=60, verbose=-1, n_jobs=1, random_state=0))


def _logit(bundle, frame):
    p = bundle.predict_pd(bundle.model_input(frame))
    return np.log(p / (1 - p))


def test_tree_path_is_tree_explainer_and_adds_up(data, tree):
    expl = explain(tree, data.frame.iloc[:200])
    assert expl.method == "treeshap"
    reference = np.asarray(shap.TreeExplainer(tree.estimator).shap_values(expl.data))
    np.testing.assert_allclose(expl.values, reference, rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(
        expl.values.sum(1) + expl.base_values, _logit(tree, data.frame.iloc[:200]), atol=1e-6
    )
    importance = expl.importance()
    assert importance.index[0] == "checking_status"
    assert (np.diff(importance.to_numpy()) <= 0).all()


def test_batches_equal_one_pass_and_global_importance(data, tree):
    whole = explain(tree, data.frame.iloc[:90])
    parts = explain_batches(tree, data.frame.iloc[:90], batch_size=25)
    np.testing.assert_allclose(parts.values, whole.values)
    assert list(parts.data.index) == list(whole.data.index)
    top = global_importance(tree, data.frame, max_rows=300, seed=1)
    assert len(top) == data.X.shape[1] and top.iloc[0] > 0
    with pytest.raises(DataError, match="batch_size"):
        explain_batches(tree, data.frame, batch_size=0)


def test_model_agnostic_path_adds_up_and_ranks_like_the_tree(data):
    opaque = _bundle(data, OpaqueClassifier(n_estimators=40))
    rows = data.frame.iloc[:4]
    with pytest.raises(ModelError, match="background"):
        contribution_backend(opaque, background=None)
    expl = explain(opaque, rows, background=data.frame, max_background=30, seed=0)
    assert expl.method == "kernel"
    np.testing.assert_allclose(
        expl.values.sum(1) + expl.base_values, _logit(opaque, rows), atol=1e-6
    )
    # Same model seen through TreeSHAP: the model-agnostic values tell the same story.
    exact = explain(_bundle_like(opaque), rows)
    assert np.corrcoef(expl.values.ravel(), exact.values.ravel())[0, 1] > 0.8
    again = explain(opaque, rows, background=data.frame, max_background=30, seed=0)
    np.testing.assert_allclose(again.values, expl.values)


@pytest.mark.parametrize("algorithm", ["kernel", "permutation"])
def test_an_applicants_sampled_values_do_not_depend_on_the_rows_beside_it(data, algorithm):
    """A net's reasons come from sampled SHAP. Drawn for a whole batch in one pass, a row's
    draws depended on the rows before it, so one applicant got other reasons in a file
    than alone, or among a file's declines only (``score --reasons adverse``): 24% of 66
    declines kept the same reason codes in a measured run. Each row now draws from a seed
    of its own values."""
    opaque = _bundle(data, OpaqueClassifier(n_estimators=40))
    backend = contribution_backend(
        opaque, background=data.frame, max_background=20, algorithm=algorithm, seed=3
    )
    frame = model_frame(opaque, data.frame.iloc[:6])
    together, base = backend.contributions(frame)
    for order in ([5], [3, 0, 5], [5, 4, 3, 2, 1, 0]):
        values, alone_base = backend.contributions(frame.iloc[order])
        np.testing.assert_array_equal(values, together[order])
        np.testing.assert_array_equal(alone_base, base[order])
    other = contribution_backend(
        opaque, background=data.frame, max_background=20, algorithm=algorithm, seed=4
    )
    assert not np.array_equal(other.contributions(frame)[0], together)  # the seed counts


def _bundle_like(opaque: ScoringBundle) -> ScoringBundle:
    pipeline = Pipeline([("coerce", opaque.pipeline[0]), ("model", opaque.estimator.inner_)])
    return ScoringBundle(name="inner", spec=opaque.spec, pipeline=pipeline)


def test_linear_path_is_exact(data):
    numeric = [c for c in data.X.columns if pd.api.types.is_numeric_dtype(data.X[c])]
    scale = ColumnTransformer([("num", StandardScaler(), numeric)]).set_output(transform="pandas")
    pipeline = Pipeline([("scale", scale), ("model", LogisticRegression())]).fit(data.X, data.y)
    bundle = ScoringBundle(name="logistic", spec=data.spec, pipeline=pipeline)
    expl = explain(bundle, data.frame.iloc[:50], background=data.frame, max_background=1000)
    assert expl.method == "linear"
    np.testing.assert_allclose(
        expl.values.sum(1) + expl.base_values, _logit(bundle, data.frame.iloc[:50]), atol=1e-9
    )
    masker = shap.maskers.Independent(pipeline[:-1].transform(data.X), max_samples=len(data.X))
    reference = shap.LinearExplainer(pipeline[-1], masker).shap_values(expl.data)
    np.testing.assert_allclose(expl.values, reference, atol=1e-9)


def test_plots_render_to_files(tmp_path, data, tree):
    expl = explain(tree, data.frame.iloc[:150])
    files = [
        summary_plot(expl, tmp_path / "beeswarm.png", kind="beeswarm"),
        summary_plot(expl, tmp_path / "bar.png", kind="bar"),
        waterfall_plot(expl, 3, tmp_path / "w" / "waterfall.png"),
    ]
    for path in files:
        assert path.exists() and path.stat().st_size > 10_000
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(DataError, match="out of range"):
        waterfall_plot(expl, 150, tmp_path / "x.png")
    with pytest.raises(DataError, match="kind"):
        summary_plot(expl, tmp_path / "y.png", kind="violin")  # type: ignore[arg-type]


class DecomposedClassifier(ClassifierMixin, BaseEstimator):
    """A logistic model on numbers that reports its own per-feature log-odds terms."""

    def fit(self, X, y):  # noqa: N803
        self.model_ = LogisticRegression().fit(X, y)
        self.mean_ = X.to_numpy(dtype=float).mean(0)
        self.classes_ = self.model_.classes_
        return self

    def predict_proba(self, X):  # noqa: N803
        return self.model_.predict_proba(X)

    def log_odds_contributions(self, X):  # noqa: N803
        coef = self.model_.coef_[0]
        values = coef * (X.to_numpy(dtype=float) - self.mean_)
        return values, self.model_.intercept_[0] + coef @ self.mean_


def test_model_supplied_decomposition_is_used_without_background(data):
    numeric = [c for c in data.X.columns if pd.api.types.is_numeric_dtype(data.X[c])]
    scale = ColumnTransformer([("num", StandardScaler(), numeric)]).set_output(transform="pandas")
    pipeline = Pipeline([("scale", scale), ("model", DecomposedClassifier())]).fit(data.X, data.y)
    bundle = ScoringBundle(name="decomposed", spec=data.spec, pipeline=pipeline)
    backend = contribution_backend(bundle, background=None)
    assert backend.method == "model"
    expl = explain(bundle, data.frame.iloc[:40], backend=backend)
    np.testing.assert_allclose(
        expl.values.sum(1) + expl.base_values, _logit(bundle, data.frame.iloc[:40]), atol=1e-9
    )
