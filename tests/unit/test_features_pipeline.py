"""Tests for build_feature_pipeline: every preset, index and rows kept, no target leakage."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone

from greenscore.data.loading import encode_target, load_dataset, model_input
from greenscore.data.presets import load_preset
from greenscore.data.synthetic import generate
from greenscore.errors import ConfigError
from greenscore.features import build_feature_pipeline

DATA = Path("/work/shared/data")
PRESET_FILES = {
    "taiwan": ("UCI_Credit_Card.csv", "repayment_status_months_delinquent"),
    "german": ("german_credit.csv", "loan_amount_per_term_month"),
    "credit_risk": ("credit_risk_dataset.csv", "loan_to_income"),
}


@pytest.fixture(scope="module")
def synthetic() -> tuple[pd.DataFrame, np.ndarray, pd.DataFrame]:
    spec = load_preset("synthetic")
    data = generate(600, seed=3)
    X = model_input(data.applications, spec)
    return X, encode_target(data.applications[spec.target], spec), data.relations


def _check_output(X: pd.DataFrame, out: pd.DataFrame) -> None:
    assert out.index.equals(X.index)
    assert len(out) == len(X)
    assert list(out.columns[: X.shape[1]]) == list(X.columns)
    for column in out.columns:
        dtype = out[column].dtype
        assert dtype == np.float64 or isinstance(dtype, pd.CategoricalDtype), column
    assert not np.isinf(out.select_dtypes("number").to_numpy()).any()


@pytest.mark.parametrize("preset", sorted(PRESET_FILES))
def test_runs_on_real_presets(preset: str) -> None:
    file, expected = PRESET_FILES[preset]
    dataset = load_dataset(DATA / file, preset=preset)
    X = dataset.X.sample(n=min(2000, len(dataset.X)), random_state=0)
    y = dataset.y[dataset.X.index.get_indexer(X.index)]
    pipe = build_feature_pipeline(dataset.spec, relations=dataset.relations)
    out = pipe.fit_transform(X, y)
    _check_output(X, out)
    assert expected in out.columns
    for column in dataset.spec.categorical:
        if column in X.columns:
            assert isinstance(out[column].dtype, pd.CategoricalDtype)


def test_runs_on_synthetic_with_relations_and_outliers(synthetic) -> None:
    X, y, relations = synthetic
    pipe = build_feature_pipeline(load_preset("synthetic"), relations=relations, outliers="lof")
    out = pipe.fit_transform(X, y)
    _check_output(X, out)
    for column in (
        "relational_links_shared_employer",
        "relational_neighbour_default_rate",
        "days_past_due_current_streak",
        "instalment_to_income",
        "balance_observed_months",
        "outlier_lof_flag",
    ):
        assert column in out.columns
    assert out["balance_observed_months"].min() < 12  # variable-length histories seen


def _split(n: int) -> tuple[np.ndarray, np.ndarray]:
    order = np.random.default_rng(5).permutation(n)
    return np.sort(order[: n * 2 // 3]), np.sort(order[n * 2 // 3 :])


def test_validation_output_ignores_validation_targets(synthetic) -> None:
    X, y, relations = synthetic
    train, valid = _split(len(X))
    spec = load_preset("synthetic")
    permuted = y.copy()
    permuted[valid] = np.random.default_rng(0).permutation(y[valid])
    permuted[valid[:20]] = 1 - permuted[valid[:20]]
    assert (permuted[valid] != y[valid]).any()

    def fitted_on(rows: np.ndarray, target: np.ndarray) -> pd.DataFrame:
        pipe = build_feature_pipeline(spec, relations=relations).fit(X.iloc[rows], target[rows])
        return pipe.transform(X.iloc[valid])

    # Fitted on training rows, validation output is identical whatever the validation targets.
    pd.testing.assert_frame_equal(fitted_on(train, y), fitted_on(train, permuted))
    # The check has teeth: a pipeline fitted on all rows would see the changed targets.
    everything = np.arange(len(X))
    assert not fitted_on(everything, y).equals(fitted_on(everything, permuted))


def test_relational_features_of_a_validation_row(synthetic) -> None:
    X, y, relations = synthetic
    spec = load_preset("synthetic")
    train, valid = _split(len(X))
    train_ids = set(X.index[train])
    linked = relations[
        relations["source_id"].isin(train_ids) | relations["target_id"].isin(train_ids)
    ]
    valid_ids = X.index[valid]
    # A validation borrower with a training neighbour.
    row = next(
        i for i in valid_ids if ((linked["source_id"] == i) | (linked["target_id"] == i)).any()
    )
    edge = linked[(linked["source_id"] == row) | (linked["target_id"] == row)].iloc[0]
    neighbour = edge["target_id"] if edge["source_id"] == row else edge["source_id"]

    def features(target: np.ndarray) -> pd.Series:
        pipe = build_feature_pipeline(spec, relations=relations).fit(X.iloc[train], target[train])
        out = pipe.transform(X.loc[[row]]).iloc[0]
        return out[[c for c in out.index if c.startswith("relational_")]]

    base = features(y)
    own = y.copy()
    own[X.index.get_loc(row)] ^= 1
    others = y.copy()
    others[valid] ^= 1
    pd.testing.assert_series_equal(features(own), base)
    pd.testing.assert_series_equal(features(others), base)
    neighbour_flipped = y.copy()
    neighbour_flipped[X.index.get_loc(neighbour)] ^= 1
    moved = features(neighbour_flipped)
    assert moved["relational_neighbour_defaults"] != base["relational_neighbour_defaults"]


def test_transform_is_row_independent_and_serialisable(synthetic) -> None:
    X, y, relations = synthetic
    train, valid = _split(len(X))
    pipe = build_feature_pipeline(load_preset("synthetic"), relations=relations)
    pipe.fit(X.iloc[train], y[train])
    whole = pipe.transform(X.iloc[valid])
    halves = pd.concat([pipe.transform(X.iloc[valid[:50]]), pipe.transform(X.iloc[valid[50:]])])
    pd.testing.assert_frame_equal(whole, halves)
    pd.testing.assert_frame_equal(pickle.loads(pickle.dumps(pipe)).transform(X.iloc[valid]), whole)
    refit = clone(pipe).fit(X.iloc[train], y[train])
    pd.testing.assert_frame_equal(refit.transform(X.iloc[valid]), whole)


def test_set_output_pandas_keeps_index_names_and_dtypes(synthetic) -> None:
    X, y, relations = synthetic
    pipe = build_feature_pipeline(load_preset("synthetic"), relations=relations)
    plain = pipe.fit_transform(X, y)
    pipe.set_output(transform="pandas")
    wrapped = pipe.fit_transform(X, y)
    pd.testing.assert_frame_equal(wrapped, plain)
    assert list(pipe.get_feature_names_out()) == list(plain.columns)


def test_lightgbm_takes_the_output() -> None:
    from lightgbm import LGBMClassifier

    dataset = load_dataset(DATA / "german_credit.csv", preset="german")
    out = build_feature_pipeline(dataset.spec).fit_transform(dataset.X, dataset.y)
    model = LGBMClassifier(n_estimators=5, verbose=-1, n_jobs=1).fit(out, dataset.y)
    assert model.predict_proba(out).shape == (len(out), 2)


def test_unknown_outlier_method() -> None:
    with pytest.raises(ConfigError, match="unknown outlier method 'zscore'"):
        build_feature_pipeline(load_preset("german"), outliers="zscore")
