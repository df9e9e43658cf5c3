"""Cross-validation folds for credit models, and the summary of per-fold metrics.

Two ways to split: ``stratified`` (shuffled K-fold keeping the default rate in every
fold) for cross-sectional data, and ``time`` (expanding window) when applications have a
date: each validation block is strictly later than every row the model was trained on,
which is how the model will be used. Folds are positional index arrays so they work on
numpy arrays and DataFrames alike (``X.iloc[train]``).
"""

from __future__ import annotations

from typing import Literal, NamedTuple

import numpy as np
import pandas as pd

from greenscore.errors import ConfigError, DataError

Strategy = Literal["stratified", "time"]
Fold = tuple[np.ndarray, np.ndarray]

NO_TIME_COLUMN = (
    "time-ordered folds need application times: set time_column in the dataset spec "
    "or use strategy 'stratified'"
)
UNKNOWN_STRATEGY = "unknown fold strategy '{strategy}': expected 'stratified' or 'time'"
BAD_SPLITS = "n_splits must be an integer of at least 2, got {n_splits}"
TOO_FEW_MINORITY = (
    "stratified {n_splits}-fold CV needs at least {n_splits} rows of each class; "
    "class {label} has {count}"
)
TIMES_LENGTH = "times has {n_times} rows but y has {n_y}"
MISSING_TIME = "time column holds no value at row {row}: every row needs a time for time folds"
TOO_FEW_TIMES = (
    "time folds need {needed} blocks of distinct times but the data has only {distinct} "
    "distinct time values; use fewer splits"
)
ONE_CLASS_FOLD = (
    "validation block {fold} (rows {start}..{stop} in time order) holds only class {label}: "
    "metrics need both; use fewer splits"
)
INCONSISTENT_KEYS = (
    "fold {fold} reports metrics {keys}, fold 0 reports {first}: all folds must match"
)


class NestedFold(NamedTuple):
    """One outer fold and the inner folds for tuning inside its training rows.

    All index arrays are positions in the full data, so ``inner`` folds index the same
    ``X`` as ``train`` and ``valid``; every inner row is an outer training row.
    """

    train: np.ndarray
    valid: np.ndarray
    inner: list[Fold]


def _check_y(y: object) -> np.ndarray:
    y_arr = np.asarray(y)
    if y_arr.ndim != 1 or len(y_arr) == 0:
        raise DataError(f"y must be a non-empty 1-D array, got shape {y_arr.shape}")
    return y_arr


def _check_splits(n_splits: int) -> None:
    if isinstance(n_splits, bool) or not isinstance(n_splits, int | np.integer) or n_splits < 2:
        raise ConfigError(BAD_SPLITS.format(n_splits=n_splits))


def _stratified(y: np.ndarray, n_splits: int, seed: int) -> list[Fold]:
    from sklearn.model_selection import StratifiedKFold

    labels, counts = np.unique(y, return_counts=True)
    smallest = int(np.argmin(counts))
    if counts[smallest] < n_splits:
        raise DataError(
            TOO_FEW_MINORITY.format(
                n_splits=n_splits, label=labels[smallest], count=int(counts[smallest])
            )
        )
    splitter = StratifiedKFold(n_splits=n_splits, shuffle=True, random_state=seed)
    return [
        (train.astype(np.int64), valid.astype(np.int64))
        for train, valid in splitter.split(np.zeros(len(y)), y)
    ]


def _time_keys(times: object, n: int) -> np.ndarray:
    series = pd.Series(np.asarray(times) if not isinstance(times, pd.Series) else times.values)
    if len(series) != n:
        raise DataError(TIMES_LENGTH.format(n_times=len(series), n_y=n))
    missing = series.isna().to_numpy()
    if missing.any():
        raise DataError(MISSING_TIME.format(row=int(np.flatnonzero(missing)[0])))
    if pd.api.types.is_numeric_dtype(series) or pd.api.types.is_datetime64_any_dtype(series):
        return series.to_numpy()
    try:
        return pd.to_datetime(series).to_numpy()
    except (ValueError, TypeError) as exc:
        raise DataError(f"time column cannot be read as dates or numbers: {exc}") from exc


def _time_ordered(y: np.ndarray, times: object, n_splits: int) -> list[Fold]:
    keys = _time_keys(times, len(y))
    order = np.argsort(keys, kind="mergesort")  # stable: equal times keep file order
    sorted_keys = keys[order]
    n_blocks = n_splits + 1
    # Start positions of each run of equal times: block edges may only fall there, so a
    # validation block never shares a timestamp with the training rows before it.
    run_starts = np.flatnonzero(np.r_[True, sorted_keys[1:] != sorted_keys[:-1]])
    if len(run_starts) < n_blocks:
        raise DataError(TOO_FEW_TIMES.format(needed=n_blocks, distinct=len(run_starts)))
    ideal = np.linspace(0, len(y), n_blocks + 1)[1:-1]
    edges: list[int] = []
    for target in ideal:
        # The nearest admissible edge past the previous one that leaves room for the rest.
        candidates = run_starts[run_starts > (edges[-1] if edges else 0)]
        candidates = candidates[: len(candidates) - (n_blocks - 2 - len(edges))]
        edges.append(int(candidates[np.argmin(np.abs(candidates - target))]))
    bounds = [0, *edges, len(y)]
    folds: list[Fold] = []
    for k in range(1, n_blocks):
        train = np.sort(order[: bounds[k]])
        valid = np.sort(order[bounds[k] : bounds[k + 1]])
        labels = np.unique(y[valid])
        if len(labels) < 2:
            raise DataError(
                ONE_CLASS_FOLD.format(
                    fold=k - 1, start=bounds[k], stop=bounds[k + 1] - 1, label=labels[0]
                )
            )
        folds.append((train.astype(np.int64), valid.astype(np.int64)))
    return folds


def make_folds(
    y: object,
    *,
    strategy: Strategy = "stratified",
    n_splits: int = 5,
    seed: int = 42,
    times: object | None = None,
) -> list[Fold]:
    """Split rows into cross-validation folds.

    Parameters
    ----------
    y : array-like of shape (n,)
        Outcomes (used for stratification and to check each time block has both classes).
    strategy : {"stratified", "time"}
        ``stratified``: shuffled K-fold keeping the default rate per fold.
        ``time``: expanding window over ``n_splits + 1`` time-ordered blocks; fold ``k``
        trains on blocks ``0..k`` and validates on block ``k + 1``.
    n_splits : int, default 5
        Number of folds.
    seed : int, default 42
        Shuffling seed (stratified only).
    times : array-like of shape (n,), optional
        Application times (dates or numbers); required for ``time``.

    Returns
    -------
    list of (train_idx, valid_idx)
        Positional index arrays, sorted ascending.

    Raises
    ------
    ConfigError
        If the strategy is unknown, ``n_splits`` < 2, or ``time`` is asked without times.
    DataError
        If a class is too rare to stratify, times are missing or too few distinct, or a
        time block holds a single class.
    """
    y_arr = _check_y(y)
    _check_splits(n_splits)
    if strategy == "stratified":
        return _stratified(y_arr, n_splits, seed)
    if strategy == "time":
        if times is None:
            raise ConfigError(NO_TIME_COLUMN)
        return _time_ordered(y_arr, times, n_splits)
    raise ConfigError(UNKNOWN_STRATEGY.format(strategy=strategy))


def fold_strategy(value: str) -> Strategy:
    """``value`` (a setting or option) as a fold strategy.

    Raises
    ------
    ConfigError
        If it names no strategy.
    """
    if value == "stratified":
        return "stratified"
    if value == "time":
        return "time"
    raise ConfigError(UNKNOWN_STRATEGY.format(strategy=value))


def nested_folds(
    y: object,
    *,
    strategy: Strategy = "stratified",
    n_outer: int = 5,
    n_inner: int = 3,
    seed: int = 42,
    times: object | None = None,
) -> list[NestedFold]:
    """Outer folds for evaluation, each with inner folds for tuning on its training rows.

    Tuning only ever sees an outer fold's training rows, so the outer validation
    score is not biased by the choice of hyper-parameters.

    Parameters
    ----------
    y, strategy, seed, times
        As in :func:`make_folds`; the inner split uses the same strategy.
    n_outer, n_inner : int
        Number of outer and inner folds.

    Returns
    -------
    list of NestedFold
        ``(train, valid, inner)`` with every index a position in the full data.
    """
    y_arr = _check_y(y)
    _check_splits(n_inner)
    time_arr = None if times is None else np.asarray(times)
    outer = make_folds(y_arr, strategy=strategy, n_splits=n_outer, seed=seed, times=time_arr)
    result: list[NestedFold] = []
    for train, valid in outer:
        inner = make_folds(
            y_arr[train],
            strategy=strategy,
            n_splits=n_inner,
            seed=seed,
            times=None if time_arr is None else time_arr[train],
        )
        # Map inner positions (within the outer training rows) back to full-data positions.
        result.append(NestedFold(train, valid, [(train[a], train[b]) for a, b in inner]))
    return result


def summarise(per_fold: list[dict[str, float]]) -> dict[str, float]:
    """Mean and standard deviation of each metric across folds.

    Parameters
    ----------
    per_fold : list of dict
        One ``{metric: value}`` mapping per fold, all with the same keys.

    Returns
    -------
    dict
        ``{metric: mean, metric + "_std": sample standard deviation}`` for each metric
        (the std is 0.0 for a single fold), plus ``n_folds``.

    Raises
    ------
    DataError
        If the list is empty or folds report different metrics.
    """
    if not per_fold:
        raise DataError("summarise needs at least one fold's metrics")
    keys = list(per_fold[0])
    for i, fold in enumerate(per_fold[1:], start=1):
        if set(fold) != set(keys):
            raise DataError(INCONSISTENT_KEYS.format(fold=i, keys=sorted(fold), first=sorted(keys)))
    out: dict[str, float] = {}
    for key in keys:
        values = np.array([float(fold[key]) for fold in per_fold])
        out[key] = float(values.mean())
        out[f"{key}_std"] = float(values.std(ddof=1)) if len(values) > 1 else 0.0
    out["n_folds"] = float(len(per_fold))
    return out
