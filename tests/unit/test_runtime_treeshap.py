"""Exact TreeSHAP tables against LightGBM's own ``pred_contrib``, to 1e-9."""

from __future__ import annotations

import re

import lightgbm as lgb
import numpy as np
import pandas as pd
import pytest

from greenscore.errors import ModelError
from greenscore.models.runtime import treeshap
from greenscore.models.runtime.treeshap import TreeTables, contributions


def _frame(n: int = 1500, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "income": rng.lognormal(10, 0.6, n),
            "age": rng.integers(18, 80, n).astype(float),
            "grade": pd.Categorical(rng.choice(list("ABCDEFG"), n)),
            "utilisation": rng.uniform(-0.2, 1.5, n),
            "flag": rng.choice([0.0, 1.0, np.nan], n),
            "zeroish": rng.choice([0.0, 0.0, 2.5, -1.0], n),
        }
    )
    frame.loc[rng.random(n) < 0.15, "income"] = np.nan
    frame.loc[rng.random(n) < 0.05, "grade"] = np.nan
    logit = (
        -0.4 * np.log(frame["income"].fillna(20000))
        + 2.0 * frame["utilisation"]
        + (frame["grade"].isin(["E", "F", "G"])).astype(float)
        + 0.5 * np.sin(frame["age"] / 7)
        + frame["flag"].fillna(0.5)
        + 0.3 * frame["zeroish"]
    )
    y = (logit + rng.logistic(size=n) > logit.median()).astype(int).to_numpy()
    return frame, y


def _matrix(frame: pd.DataFrame) -> np.ndarray:
    """The booster's float matrix: categories as their codes, missing as NaN."""
    out = frame.copy()
    for column in out.columns:
        if isinstance(out[column].dtype, pd.CategoricalDtype):
            codes = out[column].cat.codes.astype(float)
            out[column] = codes.where(codes >= 0, np.nan)
    return out.to_numpy(dtype=float)


def _check(model: lgb.LGBMClassifier | lgb.Booster, X: np.ndarray) -> np.ndarray:  # noqa: N803
    booster = model if isinstance(model, lgb.Booster) else model.booster_
    tables = TreeTables.from_booster(booster)
    ours = contributions(tables, X)
    reference = booster.predict(X, pred_contrib=True)
    np.testing.assert_allclose(ours, reference, rtol=0, atol=1e-9)
    np.testing.assert_allclose(ours.sum(axis=1), booster.predict(X, raw_score=True), atol=1e-9)
    # The row-by-row kernel (a real-time request's few rows) on every row: the same bits.
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(treeshap, "_FEW_ROWS", treeshap._BLOCK_ROWS)
        row_by_row = contributions(tables, X)
    np.testing.assert_array_equal(row_by_row, ours)
    return ours


PARAMS = {
    "default": {"n_estimators": 60, "num_leaves": 31},
    "deep": {"n_estimators": 15, "num_leaves": 127, "min_child_samples": 2, "max_depth": -1},
    "zero_as_missing": {"n_estimators": 30, "num_leaves": 15, "zero_as_missing": True},
    "no_missing": {"n_estimators": 30, "num_leaves": 15, "use_missing": False},
    "stumps": {"n_estimators": 40, "num_leaves": 2},
}


@pytest.mark.parametrize("name", sorted(PARAMS))
def test_equals_pred_contrib(name: str) -> None:
    frame, y = _frame()
    model = lgb.LGBMClassifier(verbose=-1, n_jobs=1, **PARAMS[name]).fit(frame, y)
    _check(model, _matrix(frame))


def test_a_row_does_not_depend_on_its_block() -> None:
    """Rows are explained in blocks, rows innermost: each row's sums are added in the same
    order whatever its block, so one row alone (the row-by-row kernel) gives the same bits
    as within 1500 (the block kernel)."""
    frame, y = _frame()
    model = lgb.LGBMClassifier(verbose=-1, n_jobs=1, n_estimators=30, num_leaves=31).fit(frame, y)
    X = _matrix(frame)  # noqa: N806
    assert len(X) > 2 * treeshap._BLOCK_ROWS and len(X) % treeshap._BLOCK_ROWS
    tables = TreeTables.from_booster(model.booster_)
    whole = contributions(tables, X)
    for i in (0, treeshap._BLOCK_ROWS - 1, treeshap._BLOCK_ROWS, len(X) - 1):
        np.testing.assert_array_equal(contributions(tables, X[i : i + 1]), whole[i : i + 1])


@pytest.mark.parametrize("zero_as_missing", [False, True])
def test_awkward_values_follow_lightgbm(zero_as_missing: bool) -> None:
    frame, y = _frame()
    model = lgb.LGBMClassifier(
        verbose=-1, n_jobs=1, n_estimators=40, num_leaves=31, zero_as_missing=zero_as_missing
    )
    model.fit(frame, y)
    X = _matrix(frame.head(40))  # noqa: N806
    X[0, :] = np.nan  # everything missing
    X[1, 2] = 99.0  # a category code never seen in training
    X[2, 2] = -3.0  # a negative category code
    X[3, 5] = 1e-40  # "zero" for LightGBM's zero test
    # LightGBM reads |x| <= 1e-35f (wider than the double 1e-35) as zero, in any column.
    X[7, 5] = float(np.float32(1e-35))
    X[8, 5] = -float(np.float32(1e-35))
    X[9, 2] = -1e-40  # a category code of "zero"
    X[4, 0] = np.inf
    X[5, 0] = -np.inf
    X[6, 2] = 2.7  # a fractional category code truncates as LightGBM does
    _check(model, X)


def test_leaves_without_tables_are_exact(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(treeshap, "MAX_TABLE_DEPTH", 1)
    frame, y = _frame()
    model = lgb.LGBMClassifier(verbose=-1, n_jobs=1, n_estimators=20, num_leaves=63)
    model.fit(frame, y)
    tables = TreeTables.from_booster(model.booster_)
    assert (tables.leaf_table < 0).any()
    _check(model, _matrix(frame))


def test_best_iteration_is_used_as_predict_does() -> None:
    frame, y = _frame()
    train = lgb.Dataset(frame.iloc[:1000], y[:1000])
    valid = lgb.Dataset(frame.iloc[1000:], y[1000:], reference=train)
    params = {"objective": "binary", "learning_rate": 0.3, "verbose": -1, "num_threads": 1}
    booster = lgb.train(
        params,
        train,
        num_boost_round=300,
        valid_sets=[valid],
        callbacks=[lgb.early_stopping(5, verbose=False)],
    )
    assert 0 < booster.best_iteration < 300
    _check(booster, _matrix(frame))


def test_a_constant_model_is_all_bias() -> None:
    frame, _ = _frame(200)
    y = np.r_[np.ones(100, dtype=int), np.zeros(100, dtype=int)]
    model = lgb.LGBMClassifier(verbose=-1, n_jobs=1, n_estimators=3, min_child_samples=500)
    model.fit(frame, y)
    ours = _check(model, _matrix(frame))
    assert np.all(ours[:, :-1] == 0.0)


def test_wrong_width_is_refused() -> None:
    frame, y = _frame(300)
    model = lgb.LGBMClassifier(verbose=-1, n_jobs=1, n_estimators=5).fit(frame, y)
    tables = TreeTables.from_booster(model.booster_)
    with pytest.raises(ModelError, match="6 columns"):
        contributions(tables, np.zeros((2, 5)))


def test_multiclass_is_refused() -> None:
    frame, _ = _frame(300)
    y = np.arange(300) % 3
    model = lgb.LGBMClassifier(verbose=-1, n_jobs=1, n_estimators=5).fit(frame, y)
    with pytest.raises(ModelError, match=re.escape(treeshap.NOT_BINARY)):
        TreeTables.from_booster(model.booster_)


def test_a_dumped_1e300_threshold_is_the_infinity_lightgbm_holds() -> None:
    """A split of missing values against every number has an infinite threshold in the
    model (``inf`` in its text) that ``dump_model`` clamps to 1e300, so a value above 1e300
    goes left in LightGBM (found on a fold booster of a calibrated bag: raw scores differed
    by 0.02 on a probe row at 1.0000000000000002e300); other thresholds are kept."""
    assert treeshap._threshold(1e300) == np.inf
    assert treeshap._threshold(-1e300) == -np.inf
    assert treeshap._threshold(2994.175) == 2994.175
    assert treeshap._threshold(9.9e299) == 9.9e299
