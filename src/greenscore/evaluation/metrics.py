"""Credit-model metrics on a vector of outcomes and a vector of probabilities of default.

Everything here is a pure function: ``y`` (0/1, 1 = default) and ``p`` (PD in [0, 1]) in,
floats or small DataFrames out. Inputs are checked once by :func:`check_binary_scores`
so that every metric fails the same way, with a message naming what was wrong.

Discrimination (AUC, Gini, KS, PR-AUC), accuracy (Brier) and calibration (ECE, the
calibration curve) are the figures a credit-risk validator expects side by side;
:func:`credit_metrics` returns all of them at once.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from greenscore.errors import DataError

LENGTH_MISMATCH = "y has {n_y} rows but p has {n_p}: they must describe the same rows"
NOT_ONE_DIMENSIONAL = "{name} must be one-dimensional, got shape {shape}"
EMPTY_INPUT = "y and p are empty: at least one row is needed"
NOT_BINARY = "y must hold only 0 and 1 (1 = default), found {values}"
NOT_PROBABILITY = "p must be finite probabilities in [0, 1]; row {row} holds {value}"
ONE_CLASS = "{metric} needs both defaults and non-defaults in y, but every row is {label}"
BAD_BINS = "n_bins must be a positive integer, got {n_bins}"
BAD_BANDS = "n_bands must be a positive integer, got {n_bands}"
POINTS_LENGTH = "points has {n_points} rows but y has {n_y}"


def check_binary_scores(y: object, p: object) -> tuple[np.ndarray, np.ndarray]:
    """Validate outcomes and probabilities and return them as numpy arrays.

    Parameters
    ----------
    y : array-like of shape (n,)
        Outcomes: 0/1 integers or booleans, 1 = default.
    p : array-like of shape (n,)
        Predicted probabilities of default, finite and in [0, 1].

    Returns
    -------
    y : ndarray of int8, shape (n,)
    p : ndarray of float64, shape (n,)

    Raises
    ------
    DataError
        If the lengths differ, an array is not 1-D or empty, ``y`` is not 0/1, or a
        probability is missing, infinite or outside [0, 1].
    """
    y_arr = np.asarray(y)
    p_arr = np.asarray(p, dtype=float)
    for name, arr in (("y", y_arr), ("p", p_arr)):
        if arr.ndim != 1:
            raise DataError(NOT_ONE_DIMENSIONAL.format(name=name, shape=arr.shape))
    if len(y_arr) != len(p_arr):
        raise DataError(LENGTH_MISMATCH.format(n_y=len(y_arr), n_p=len(p_arr)))
    if len(y_arr) == 0:
        raise DataError(EMPTY_INPUT)
    if y_arr.dtype == bool:
        y_arr = y_arr.astype(np.int8)
    values = pd.unique(y_arr)
    try:
        binary = set(np.asarray(values, dtype=float).tolist()) <= {0.0, 1.0}
    except (TypeError, ValueError):
        binary = False
    if not binary:
        shown = sorted(map(str, values))[:5]
        raise DataError(NOT_BINARY.format(values=shown))
    bad = ~np.isfinite(p_arr) | (p_arr < 0.0) | (p_arr > 1.0)
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise DataError(NOT_PROBABILITY.format(row=row, value=p_arr[row]))
    return y_arr.astype(np.int8), p_arr


def _require_both_classes(y: np.ndarray, metric: str) -> None:
    n_pos = int(y.sum())
    if n_pos == 0 or n_pos == len(y):
        label = "a default (1)" if n_pos else "a non-default (0)"
        raise DataError(ONE_CLASS.format(metric=metric, label=label))


# ------------------------------------------------------------------ discrimination
def midrank(x: np.ndarray) -> np.ndarray:
    """1-based ranks of ``x`` with ties given their average rank (O(n log n)).

    The same as ``scipy.stats.rankdata(x, method="average")``, without importing
    scipy.stats (about a second) into every process that scores a model.
    """
    x = np.asarray(x, dtype=float)
    order = np.argsort(x, kind="mergesort")
    ordered = x[order]
    edges = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1], True])
    # A run of ties at sorted positions [a, b) shares the mean of ranks a+1 .. b.
    average = (edges[:-1] + 1 + edges[1:]) / 2.0
    ranks = np.empty(len(x), dtype=float)
    ranks[order] = np.repeat(average, np.diff(edges))
    return ranks


def auc(y: object, p: object) -> float:
    """Area under the ROC curve (Mann-Whitney statistic with mid-ranks for ties).

    Parameters
    ----------
    y : array-like of shape (n,)
        0/1 outcomes, 1 = default.
    p : array-like of shape (n,)
        Predicted probabilities of default.

    Returns
    -------
    float
        Probability that a random default scores above a random non-default (ties
        count half).

    Examples
    --------
    >>> auc([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8])
    0.75
    """
    y_arr, p_arr = check_binary_scores(y, p)
    _require_both_classes(y_arr, "AUC")
    ranks = midrank(p_arr)  # average ranks: a tie between classes counts one half
    n_pos = int(y_arr.sum())
    n_neg = len(y_arr) - n_pos
    return float((ranks[y_arr == 1].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def gini(y: object, p: object) -> float:
    """Gini coefficient (accuracy ratio) ``2 * AUC - 1``."""
    return 2.0 * auc(y, p) - 1.0


def ks_curve(y: object, p: object) -> pd.DataFrame:
    """Cumulative share of defaults and non-defaults at or above each distinct PD.

    Parameters
    ----------
    y, p : array-like of shape (n,)
        0/1 outcomes and predicted probabilities of default.

    Returns
    -------
    DataFrame
        One row per distinct PD, highest first, with ``threshold``, ``tpr`` (share of
        defaults with PD >= threshold), ``fpr`` (same for non-defaults) and
        ``separation`` (``tpr - fpr``). A first row at threshold ``inf`` holds 0, 0.
    """
    y_arr, p_arr = check_binary_scores(y, p)
    _require_both_classes(y_arr, "KS")
    order = np.argsort(-p_arr, kind="mergesort")
    p_sorted = p_arr[order]
    y_sorted = y_arr[order]
    # Evaluate only at the last row of each run of equal PDs: tied rows cannot be split.
    last_of_run = np.r_[p_sorted[1:] != p_sorted[:-1], True]
    tps = np.cumsum(y_sorted)[last_of_run]
    fps = np.cumsum(1 - y_sorted)[last_of_run]
    tpr = np.r_[0.0, tps / tps[-1]]
    fpr = np.r_[0.0, fps / fps[-1]]
    return pd.DataFrame(
        {
            "threshold": np.r_[np.inf, p_sorted[last_of_run]],
            "tpr": tpr,
            "fpr": fpr,
            "separation": tpr - fpr,
        }
    )


def ks(y: object, p: object) -> float:
    """Kolmogorov-Smirnov statistic: the largest ``TPR - FPR`` over all PD cut-offs.

    Examples
    --------
    >>> ks([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8])
    0.5
    """
    return float(ks_curve(y, p)["separation"].max())


def pr_auc(y: object, p: object) -> float:
    """Area under the precision-recall curve as average precision (no interpolation).

    ``sum_k (R_k - R_{k-1}) * P_k`` over distinct PD thresholds, which is what
    scikit-learn's ``average_precision_score`` computes. A random model scores the
    default rate, so compare it with ``y.mean()``.
    """
    y_arr, p_arr = check_binary_scores(y, p)
    _require_both_classes(y_arr, "PR-AUC")
    from sklearn.metrics import average_precision_score

    return float(average_precision_score(y_arr, p_arr))


# ------------------------------------------------------------------ accuracy and calibration
def brier(y: object, p: object) -> float:
    """Brier score: mean squared difference between PD and outcome (lower is better)."""
    y_arr, p_arr = check_binary_scores(y, p)
    return float(np.mean((p_arr - y_arr) ** 2))


def _check_bins(n_bins: int) -> None:
    if isinstance(n_bins, bool) or not isinstance(n_bins, int | np.integer) or n_bins < 1:
        raise DataError(BAD_BINS.format(n_bins=n_bins))


def calibration_curve(y: object, p: object, n_bins: int = 10) -> pd.DataFrame:
    """Observed default rate against mean PD in equal-width PD bins.

    Parameters
    ----------
    y, p : array-like of shape (n,)
        0/1 outcomes and predicted probabilities of default.
    n_bins : int, default 10
        Number of equal-width bins on [0, 1]; the last bin includes 1.

    Returns
    -------
    DataFrame
        One row per non-empty bin: ``bin`` (0-based), ``lower``, ``upper``, ``count``,
        ``mean_predicted``, ``observed_rate`` and ``weight`` (share of all rows).
    """
    y_arr, p_arr = check_binary_scores(y, p)
    _check_bins(n_bins)
    # floor(p * n) puts p exactly 1.0 one past the end; the last bin is closed on the right.
    bins = np.minimum((p_arr * n_bins).astype(int), n_bins - 1)
    frame = pd.DataFrame({"bin": bins, "y": y_arr, "p": p_arr})
    grouped = frame.groupby("bin", sort=True).agg(
        count=("y", "size"), mean_predicted=("p", "mean"), observed_rate=("y", "mean")
    )
    out = grouped.reset_index()
    out.insert(1, "lower", out["bin"] / n_bins)
    out.insert(2, "upper", (out["bin"] + 1) / n_bins)
    out["weight"] = out["count"] / len(y_arr)
    return out


def ece(y: object, p: object, n_bins: int = 10) -> float:
    """Expected calibration error: row-weighted mean gap between PD and default rate.

    ``sum_b (n_b / n) * |observed_rate_b - mean_predicted_b|`` over equal-width bins.

    Examples
    --------
    >>> round(ece([0, 1, 0, 1], [0.1, 0.1, 0.9, 0.9], n_bins=2), 6)
    0.4
    """
    curve = calibration_curve(y, p, n_bins)
    gaps = (curve["observed_rate"] - curve["mean_predicted"]).abs()
    return float((curve["weight"] * gaps).sum())


# ------------------------------------------------------------------ score bands
def score_band_table(
    y: object, p: object, *, points: object | None = None, n_bands: int = 10
) -> pd.DataFrame:
    """Equal-count score bands from riskiest to safest, with bad rates and capture.

    Parameters
    ----------
    y, p : array-like of shape (n,)
        0/1 outcomes and predicted probabilities of default.
    points : array-like of shape (n,), optional
        Scorecard points (higher = safer). When given, bands are cut on points;
        otherwise on the PD itself (higher = riskier).
    n_bands : int, default 10
        Number of quantile bands. Tied scores are never split across bands, so fewer
        bands come back when the score has fewer distinct values.

    Returns
    -------
    DataFrame
        One row per band, riskiest first: ``band`` (1 = riskiest), ``min_score``,
        ``max_score``, ``count``, ``bads``, ``goods``, ``bad_rate``, ``cum_count``,
        ``cum_bads``, ``cum_bad_rate`` (bad rate of this band and all riskier ones) and
        ``cum_bad_share`` (share of all defaults captured so far).
    """
    y_arr, p_arr = check_binary_scores(y, p)
    if isinstance(n_bands, bool) or not isinstance(n_bands, int | np.integer) or n_bands < 1:
        raise DataError(BAD_BANDS.format(n_bands=n_bands))
    if points is None:
        score = p_arr
        safety = -p_arr  # higher PD = riskier
    else:
        score = np.asarray(points, dtype=float)
        if score.shape != y_arr.shape:
            raise DataError(POINTS_LENGTH.format(n_points=len(score), n_y=len(y_arr)))
        if not np.isfinite(score).all():
            row = int(np.flatnonzero(~np.isfinite(score))[0])
            raise DataError(f"points must be finite; row {row} holds {score[row]}")
        safety = score  # fewer points = riskier
    # Quantile code 0 holds the least safe rows, so band 1 is the riskiest.
    codes = pd.qcut(safety, q=n_bands, labels=False, duplicates="drop")
    frame = pd.DataFrame({"band": np.asarray(codes, dtype=int) + 1, "y": y_arr, "score": score})
    out = (
        frame.groupby("band", sort=True)
        .agg(
            min_score=("score", "min"),
            max_score=("score", "max"),
            count=("y", "size"),
            bads=("y", "sum"),
        )
        .reset_index()
    )
    out["bads"] = out["bads"].astype(int)
    out["goods"] = out["count"] - out["bads"]
    out["bad_rate"] = out["bads"] / out["count"]
    out["cum_count"] = out["count"].cumsum()
    out["cum_bads"] = out["bads"].cumsum()
    out["cum_bad_rate"] = out["cum_bads"] / out["cum_count"]
    total_bads = int(y_arr.sum())
    out["cum_bad_share"] = out["cum_bads"] / total_bads if total_bads else 0.0
    return out


# ------------------------------------------------------------------ all at once
def credit_metrics(y: object, p: object, *, n_bins: int = 10) -> dict[str, float]:
    """All headline metrics of a PD model on one set of rows.

    Returns
    -------
    dict
        ``auc``, ``gini``, ``ks``, ``brier``, ``pr_auc`` and ``ece`` as floats.

    Raises
    ------
    DataError
        If the inputs are invalid or ``y`` holds a single class.
    """
    y_arr, p_arr = check_binary_scores(y, p)
    _require_both_classes(y_arr, "credit metrics")
    auc_value = auc(y_arr, p_arr)
    return {
        "auc": auc_value,
        "gini": 2.0 * auc_value - 1.0,
        "ks": ks(y_arr, p_arr),
        "brier": brier(y_arr, p_arr),
        "pr_auc": pr_auc(y_arr, p_arr),
        "ece": ece(y_arr, p_arr, n_bins),
    }
