"""Tests for class weights, sampler factory and the model pipeline builder."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from imblearn.over_sampling import SMOTE, SMOTENC
from imblearn.pipeline import Pipeline as ImbPipeline
from imblearn.under_sampling import RandomUnderSampler
from sklearn.dummy import DummyClassifier
from sklearn.pipeline import Pipeline

from greenscore.data.spec import DatasetSpec
from greenscore.errors import ConfigError
from greenscore.features import (
    SAMPLERS,
    balanced_sample_weight,
    build_feature_pipeline,
    build_model_pipeline,
    make_sampler,
)


def _data(n: int = 300) -> tuple[pd.DataFrame, np.ndarray, DatasetSpec]:
    rng = np.random.default_rng(1)
    X = pd.DataFrame(
        {
            "income": rng.normal(50, 10, n),
            "amount": rng.normal(10, 3, n),
            "grade": rng.choice(["A", "B", "C"], n),
        },
        index=pd.RangeIndex(1, n + 1, name="id"),
    )
    X.loc[X.index[:10], "income"] = np.nan
    X.loc[X.index[10:15], "grade"] = None
    y = (rng.random(n) < 0.1).astype(int)
    spec = DatasetSpec(
        target="y", categorical=["grade"], roles={"income": "income", "loan_amount": "amount"}
    )
    return X, y, spec


def test_balanced_sample_weight() -> None:
    w = balanced_sample_weight(np.array([0, 0, 0, 1]))
    np.testing.assert_allclose(w, [2 / 3, 2 / 3, 2 / 3, 2.0])
    assert w[np.array([0, 0, 0, 1]) == 1].sum() == pytest.approx(w[:3].sum())


def test_make_sampler_names() -> None:
    assert make_sampler(None) is None
    assert isinstance(make_sampler("smote"), SMOTE)
    assert isinstance(make_sampler("smotenc"), SMOTENC)
    assert isinstance(make_sampler("random_under"), RandomUnderSampler)
    assert all(make_sampler(name) is not None for name in SAMPLERS)
    with pytest.raises(ConfigError, match="unknown sampler 'magic'"):
        make_sampler("magic")


def test_without_sampler_a_plain_pipeline() -> None:
    X, y, spec = _data()
    pipe = build_model_pipeline(build_feature_pipeline(spec), DummyClassifier())
    assert type(pipe) is Pipeline
    assert [name for name, _ in pipe.steps] == ["features", "model"]


@pytest.mark.parametrize("name", ["smote", "borderline_smote", "smotenc", "random_under"])
def test_samplers_act_in_fit_only(name: str) -> None:
    X, y, spec = _data()
    pipe = build_model_pipeline(build_feature_pipeline(spec), DummyClassifier(), sampler=name)
    assert isinstance(pipe, ImbPipeline)
    pipe.fit(X, y)
    # The model saw balanced classes, so resampling happened during fit ...
    np.testing.assert_allclose(pipe.named_steps["model"].class_prior_, [0.5, 0.5])
    # ... and scoring returns one row per input row, with no row dropped or added.
    assert pipe.predict_proba(X).shape == (len(X), 2)
    assert pipe[:-1].transform(X).index.equals(X.index)
    assert ("prepare" in pipe.named_steps) is (name != "random_under")


def test_adasyn_runs_on_prepared_features() -> None:
    X, y, spec = _data()
    pipe = build_model_pipeline(build_feature_pipeline(spec), DummyClassifier(), sampler="adasyn")
    pipe.fit(X, y)
    assert pipe.predict_proba(X).shape == (len(X), 2)


def test_outlier_filter_in_model_pipeline() -> None:
    X, y, spec = _data()
    pipe = build_model_pipeline(
        build_feature_pipeline(spec), DummyClassifier(), outlier_filter="isolation_forest"
    ).fit(X, y)
    assert isinstance(pipe, ImbPipeline)
    assert pipe.named_steps["outlier_filter"].n_filtered_ > 0
    assert pipe.predict_proba(X).shape == (len(X), 2)
    with pytest.raises(ConfigError, match="unknown outlier method"):
        build_model_pipeline(
            build_feature_pipeline(spec), DummyClassifier(), outlier_filter="zscore"
        )


def test_sampling_preparer_fills_from_training_rows() -> None:
    from greenscore.features import SamplingPreparer

    train = pd.DataFrame(
        {"x": [1.0, np.nan, 3.0, 10.0], "g": pd.Categorical(["b", "b", None, "a"])},
        index=[4, 5, 6, 7],
    )
    new = pd.DataFrame({"x": [np.nan], "g": pd.Categorical(["zz"])}, index=[99])
    encoded = SamplingPreparer().fit(train).transform(pd.concat([train, new]))
    np.testing.assert_allclose(encoded["x"], [1, 3, 3, 10, 3])  # median of training x is 3
    np.testing.assert_allclose(encoded["g"], [1, 1, 1, 0, 1])  # missing and unseen -> mode "b"
    assert encoded.index.tolist() == [4, 5, 6, 7, 99]
    kept = SamplingPreparer(encode_categories=False).fit(train).transform(train)
    assert kept["g"].tolist() == ["b", "b", "b", "a"]
    assert isinstance(kept["g"].dtype, pd.CategoricalDtype)
