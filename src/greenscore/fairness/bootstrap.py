"""Seeded bootstrap intervals for group rates and fairness gaps.

Fairlearn's ``MetricFrame(n_boot=...)`` rebuilds a whole frame per resample (about a
tenth of a second each on these machines), so a report with a few attributes and a
useful number of resamples would take minutes. The same row-resampling bootstrap is done
here with one ``bincount`` per resample, and it also gives intervals for the equalized
odds difference (the larger of two gaps, which per-metric intervals cannot).
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np


def _rates(codes: np.ndarray, approved: np.ndarray, good: np.ndarray, groups: int) -> np.ndarray:
    """Selection rate, TPR and FPR per group: array of shape (3, groups), NaN if undefined."""
    count = np.bincount(codes, minlength=groups).astype(float)
    positives = np.bincount(codes, weights=good, minlength=groups)
    selected = np.bincount(codes, weights=approved, minlength=groups)
    true_pos = np.bincount(codes, weights=approved * good, minlength=groups)
    negatives = count - positives
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.vstack(
            [selected / count, true_pos / positives, (selected - true_pos) / negatives]
        )


def _gaps(rates: np.ndarray) -> dict[str, np.ndarray]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN rows (a group unsampled)
        high = np.nanmax(rates, axis=-1)
        low = np.nanmin(rates, axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio = low[..., 0] / high[..., 0]
    difference = high - low
    return {
        "demographic_parity_difference": difference[..., 0],
        "demographic_parity_ratio": ratio,
        "tpr_difference": difference[..., 1],
        "fpr_difference": difference[..., 2],
        "equalized_odds_difference": np.fmax(difference[..., 1], difference[..., 2]),
    }


def bootstrap_intervals(
    y_good: np.ndarray,
    approved: np.ndarray,
    labels: np.ndarray,
    *,
    n_boot: int,
    seed: int,
    quantiles: tuple[float, float] = (0.025, 0.975),
) -> dict[str, Any]:
    """Bootstrap intervals of per-group rates and of the between-group gaps.

    Parameters
    ----------
    y_good : array of 0/1
        1 where the applicant repaid (Fairlearn's positive label here).
    approved : array of 0/1
        1 where the applicant was approved.
    labels : array
        Group label per applicant.
    n_boot : int
        Resamples (rows drawn with replacement, same size as the data).
    seed : int
        Seed of the resampling.
    quantiles : pair of float
        Interval bounds.

    Returns
    -------
    dict
        ``groups``: ``{label: {"selection_rate": [lo, hi], "tpr": …, "fpr": …}}``;
        ``gaps``: ``{"demographic_parity_difference": [lo, hi], …}``.
    """
    good = np.asarray(y_good, dtype=float)
    chosen = np.asarray(approved, dtype=float)
    uniques, codes = np.unique(np.asarray(labels).astype(str), return_inverse=True)
    rng = np.random.default_rng(seed)
    n, groups = len(codes), len(uniques)
    draws = np.empty((n_boot, 3, groups))
    for b in range(n_boot):
        index = rng.integers(0, n, n)
        draws[b] = _rates(codes[index], chosen[index], good[index], groups)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        rate_bounds = np.nanquantile(draws, quantiles, axis=0)  # (2, 3, groups)
        gap_bounds = {k: np.nanquantile(v, quantiles) for k, v in _gaps(draws).items()}
    names = ("selection_rate", "tpr", "fpr")
    return {
        "groups": {
            str(label): {
                m: [float(rate_bounds[0, k, g]), float(rate_bounds[1, k, g])]
                for k, m in enumerate(names)
            }
            for g, label in enumerate(uniques)
        },
        "gaps": {k: [float(v[0]), float(v[1])] for k, v in gap_bounds.items()},
    }
