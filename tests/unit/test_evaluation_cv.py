"""Cross-validation folds: coverage, stratification, time order, nesting, summaries."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from greenscore.errors import ConfigError, DataError
from greenscore.evaluation.cv import fold_strategy, make_folds, nested_folds, summarise


@pytest.fixture(scope="module")
def y() -> np.ndarray:
    rng = np.random.default_rng(0)
    return (rng.random(500) < 0.2).astype(int)


def _assert_partition(folds: list[tuple[np.ndarray, np.ndarray]], n: int) -> None:
    for train, valid in folds:
        assert len(np.intersect1d(train, valid)) == 0
        assert len(np.unique(valid)) == len(valid)


def test_stratified_folds_cover_every_row_once(y: np.ndarray) -> None:
    folds = make_folds(y, strategy="stratified", n_splits=5, seed=1)
    assert len(folds) == 5
    _assert_partition(folds, len(y))
    every_valid = np.sort(np.concatenate([v for _, v in folds]))
    np.testing.assert_array_equal(every_valid, np.arange(len(y)))
    for train, valid in folds:
        assert len(train) + len(valid) == len(y)


def test_stratified_folds_keep_the_default_rate(y: np.ndarray) -> None:
    rate = y.mean()
    for _, valid in make_folds(y, strategy="stratified", n_splits=5):
        assert abs(y[valid].mean() - rate) < 0.01


def test_stratified_folds_depend_on_seed(y: np.ndarray) -> None:
    a = make_folds(y, n_splits=3, seed=1)
    b = make_folds(y, n_splits=3, seed=1)
    c = make_folds(y, n_splits=3, seed=2)
    np.testing.assert_array_equal(a[0][1], b[0][1])
    assert not np.array_equal(a[0][1], c[0][1])


def test_time_folds_expand_and_validate_later(y: np.ndarray) -> None:
    rng = np.random.default_rng(5)
    # Shuffled dates with many ties (20 distinct days): rows are not in time order.
    times = pd.Timestamp("2024-01-01") + pd.to_timedelta(rng.integers(0, 20, len(y)), unit="D")
    folds = make_folds(y, strategy="time", n_splits=4, times=times)
    assert len(folds) == 4
    _assert_partition(folds, len(y))
    stamps = np.asarray(times)
    previous_train = 0
    for train, valid in folds:
        assert stamps[valid].min() > stamps[train].max()  # strictly later: ties never split
        assert len(train) > previous_train  # expanding window
        previous_train = len(train)
    # Consecutive folds: each training set is the previous one plus its validation block.
    for (t0, v0), (t1, _) in zip(folds, folds[1:], strict=False):
        np.testing.assert_array_equal(np.sort(np.concatenate([t0, v0])), t1)


def test_time_folds_accept_numbers_and_strings() -> None:
    y = np.array([0, 1] * 10)
    numeric = make_folds(y, strategy="time", n_splits=3, times=np.arange(20))
    text = make_folds(
        y, strategy="time", n_splits=3, times=[f"2024-01-{d + 1:02d}" for d in range(20)]
    )
    for (a, b), (c, d) in zip(numeric, text, strict=True):
        np.testing.assert_array_equal(a, c)
        np.testing.assert_array_equal(b, d)
    assert numeric[0][0].tolist() == list(range(5))


def test_time_strategy_without_times_is_a_config_error(y: np.ndarray) -> None:
    with pytest.raises(ConfigError, match="time-ordered folds need application times"):
        make_folds(y, strategy="time")


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"strategy": "random"}, ConfigError, "unknown fold strategy 'random'"),
        ({"n_splits": 1}, ConfigError, "n_splits must be an integer of at least 2"),
    ],
)
def test_bad_arguments(y: np.ndarray, kwargs: dict, error: type, message: str) -> None:
    with pytest.raises(error, match=message):
        make_folds(y, **kwargs)


def test_rare_class_and_bad_times() -> None:
    y = np.array([0] * 10 + [1] * 2)
    with pytest.raises(DataError, match="class 1 has 2"):
        make_folds(y, n_splits=3)
    with pytest.raises(DataError, match="no value at row 1"):
        make_folds(np.array([0, 1, 0, 1]), strategy="time", n_splits=2, times=[1.0, np.nan, 2, 3])
    with pytest.raises(DataError, match="only 2 distinct time values"):
        make_folds(np.array([0, 1, 0, 1]), strategy="time", n_splits=2, times=[1, 1, 2, 2])
    with pytest.raises(DataError, match="holds only class 0"):
        make_folds(np.array([1, 0, 1, 0, 0, 0]), strategy="time", n_splits=2, times=range(6))


def test_nested_folds_stay_inside_outer_training_rows(y: np.ndarray) -> None:
    nested = nested_folds(y, n_outer=3, n_inner=2, seed=7)
    assert len(nested) == 3
    for fold in nested:
        assert len(np.intersect1d(fold.train, fold.valid)) == 0
        assert len(fold.inner) == 2
        inner_valid = np.concatenate([v for _, v in fold.inner])
        np.testing.assert_array_equal(np.sort(inner_valid), fold.train)
        for inner_train, inner_valid_block in fold.inner:
            assert np.isin(inner_train, fold.train).all()
            assert not np.isin(inner_valid_block, fold.valid).any()


def test_nested_time_folds_keep_time_order() -> None:
    y = np.array([0, 1] * 30)
    times = np.arange(60)[::-1]  # latest rows first in the file
    for fold in nested_folds(y, strategy="time", n_outer=2, n_inner=2, times=times):
        assert times[fold.valid].min() > times[fold.train].max()
        for inner_train, inner_valid in fold.inner:
            assert times[inner_valid].min() > times[inner_train].max()


def test_summarise_mean_and_sample_std() -> None:
    out = summarise([{"auc": 0.7, "ks": 0.3}, {"auc": 0.8, "ks": 0.5}])
    assert out["auc"] == pytest.approx(0.75)
    assert out["auc_std"] == pytest.approx(np.std([0.7, 0.8], ddof=1))
    assert out["ks_std"] == pytest.approx(np.std([0.3, 0.5], ddof=1))
    assert out["n_folds"] == 2
    assert summarise([{"auc": 0.7}])["auc_std"] == 0.0


def test_summarise_rejects_mismatched_folds() -> None:
    with pytest.raises(DataError, match="fold 1 reports metrics"):
        summarise([{"auc": 0.7}, {"ks": 0.2}])
    with pytest.raises(DataError, match="at least one fold"):
        summarise([])


def test_fold_strategy_reads_a_name_and_refuses_others():
    assert fold_strategy("stratified") == "stratified"
    assert fold_strategy("time") == "time"
    with pytest.raises(ConfigError, match="unknown fold strategy 'Time'"):
        fold_strategy("Time")
