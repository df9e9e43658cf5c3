"""Is one model's AUC really higher than another's on the same applicants?

DeLong, DeLong & Clarke-Pearson (1988) give the covariance of correlated ROC AUCs from
their structural components; Sun & Xu (2014) compute it in O(n log n) with mid-ranks
instead of the O(n_pos * n_neg) pairwise comparison. :func:`delong_covariance` is that
fast algorithm, :func:`delong_test` the two-sided z-test on an AUC difference, and
:func:`delong_cv` combines the test across cross-validation folds.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np
from scipy.special import ndtr

from greenscore.errors import DataError
from greenscore.evaluation.metrics import check_binary_scores, midrank

NEED_BOTH_CLASSES = "the DeLong test needs at least one default and one non-default in y"
NO_SCORES = "delong_covariance needs at least one vector of scores"
FOLD_OUT_OF_RANGE = "fold {fold} indexes row {row} but there are only {n} rows"


def delong_covariance(y: object, *scores: object) -> tuple[np.ndarray, np.ndarray]:
    """AUCs of several score vectors on the same rows and their DeLong covariance matrix.

    Parameters
    ----------
    y : array-like of shape (n,)
        0/1 outcomes, 1 = default.
    *scores : array-like of shape (n,)
        One or more score vectors (PDs or any score where higher means riskier).

    Returns
    -------
    aucs : ndarray of shape (k,)
    cov : ndarray of shape (k, k)
        ``S10 / m + S01 / n`` with ``m`` defaults and ``n`` non-defaults, where S10 and
        S01 are the sample covariances (ddof=1) of the structural components.
    """
    if not scores:
        raise DataError(NO_SCORES)
    y_arr, _ = check_binary_scores(y, np.zeros(len(np.asarray(y))))
    pos = y_arr == 1
    m = int(pos.sum())
    n = len(y_arr) - m
    if m == 0 or n == 0:
        raise DataError(NEED_BOTH_CLASSES)
    matrix = np.vstack([np.asarray(s, dtype=float) for s in scores])
    if matrix.shape[1] != len(y_arr):
        raise DataError(f"scores have {matrix.shape[1]} rows but y has {len(y_arr)}")
    if not np.isfinite(matrix).all():
        raise DataError("scores must be finite numbers")
    x = matrix[:, pos]  # defaults
    z = matrix[:, ~pos]  # non-defaults
    k = matrix.shape[0]
    tx = np.empty((k, m))
    tz = np.empty((k, n))
    t_all = np.empty((k, m + n))
    for r in range(k):
        tx[r] = midrank(x[r])
        tz[r] = midrank(z[r])
        t_all[r] = midrank(np.concatenate([x[r], z[r]]))
    aucs = t_all[:, :m].sum(axis=1) / (m * n) - (m + 1.0) / (2.0 * n)
    # Structural components: v10[i] is the share of non-defaults a default outranks,
    # v01[j] the share of defaults that outrank a non-default (ties count half).
    v10 = (t_all[:, :m] - tx) / n
    v01 = 1.0 - (t_all[:, m:] - tz) / m
    s10 = np.atleast_2d(np.cov(v10, ddof=1)) if m > 1 else np.zeros((k, k))
    s01 = np.atleast_2d(np.cov(v01, ddof=1)) if n > 1 else np.zeros((k, k))
    return aucs, s10 / m + s01 / n


def _z_and_p(diff: float, var: float) -> tuple[float, float]:
    if var <= 0.0 or not np.isfinite(var):
        # Identical rankings: no evidence of a difference (or, degenerate, certainty).
        return (0.0, 1.0) if diff == 0.0 else (float(np.sign(diff) * np.inf), 0.0)
    z = diff / np.sqrt(var)
    return float(z), float(2.0 * ndtr(-abs(z)))


def delong_test(y: object, p1: object, p2: object) -> tuple[float, float]:
    """Two-sided DeLong test that two models have the same AUC on the same rows.

    Parameters
    ----------
    y : array-like of shape (n,)
        0/1 outcomes.
    p1, p2 : array-like of shape (n,)
        Scores of the two models on the same rows (higher = riskier).

    Returns
    -------
    z : float
        ``(AUC1 - AUC2) / se``; positive when model 1 discriminates better.
    p_value : float
        Two-sided p-value under the normal approximation.

    Examples
    --------
    >>> y = [0, 0, 0, 1, 1, 1]
    >>> z, p = delong_test(y, [0.1, 0.2, 0.3, 0.7, 0.8, 0.9], [0.1, 0.8, 0.3, 0.7, 0.2, 0.9])
    >>> z > 0
    True
    """
    aucs, cov = delong_covariance(y, p1, p2)
    var = float(cov[0, 0] + cov[1, 1] - 2.0 * cov[0, 1])
    return _z_and_p(float(aucs[0] - aucs[1]), var)


@dataclass
class DelongCVResult:
    """DeLong test across cross-validation folds.

    Attributes
    ----------
    z, p_value : Stouffer combination of the per-fold z-statistics (the headline test).
    auc_diff : mean over folds of ``AUC1 - AUC2``.
    pooled_z, pooled_p_value, pooled_auc_diff : one DeLong test on all out-of-fold rows.
    per_fold : ``{"auc_diff", "z", "p_value", "rows"}`` for each fold.
    """

    z: float
    p_value: float
    auc_diff: float
    pooled_z: float
    pooled_p_value: float
    pooled_auc_diff: float
    per_fold: list[dict[str, float]] = field(default_factory=list)

    def to_dict(self) -> dict[str, object]:
        """Plain data for logging."""
        return asdict(self)


def delong_cv(
    y: object, oof1: object, oof2: object, folds: list[tuple[np.ndarray, np.ndarray]]
) -> DelongCVResult:
    """Compare two models' out-of-fold predictions fold by fold.

    Each fold's validation rows were scored by a model fitted without them, and
    different folds' models need not share a score scale, so the headline test runs
    DeLong within each fold and combines the signed z-statistics with Stouffer's method
    (``Z = sum z_k / sqrt(K)``): validation blocks are disjoint, and the sign keeps a
    consistent direction adding up. The pooled test over all out-of-fold rows is
    returned beside it for reference; it mixes the folds' scales.

    Parameters
    ----------
    y : array-like of shape (n,)
        0/1 outcomes of all rows.
    oof1, oof2 : array-like of shape (n,)
        Out-of-fold predictions of the two models.
    folds : list of (train_idx, valid_idx)
        The folds that produced them (see :func:`make_folds`).

    Returns
    -------
    DelongCVResult
    """
    y_arr = np.asarray(y)
    a = np.asarray(oof1, dtype=float)
    b = np.asarray(oof2, dtype=float)
    if not len(y_arr) == len(a) == len(b):
        raise DataError(
            f"y, oof1 and oof2 must have the same rows, got {len(y_arr)}, {len(a)}, {len(b)}"
        )
    if not folds:
        raise DataError("delong_cv needs at least one fold")
    per_fold: list[dict[str, float]] = []
    covered = np.zeros(len(y_arr), dtype=bool)
    for i, (_, valid) in enumerate(folds):
        valid = np.asarray(valid)
        if len(valid) and (valid.max() >= len(y_arr) or valid.min() < 0):
            bad = int(valid.max() if valid.max() >= len(y_arr) else valid.min())
            raise DataError(FOLD_OUT_OF_RANGE.format(fold=i, row=bad, n=len(y_arr)))
        covered[valid] = True
        aucs, cov = delong_covariance(y_arr[valid], a[valid], b[valid])
        diff = float(aucs[0] - aucs[1])
        z, p = _z_and_p(diff, float(cov[0, 0] + cov[1, 1] - 2.0 * cov[0, 1]))
        per_fold.append({"auc_diff": diff, "z": z, "p_value": p, "rows": float(len(valid))})
    zs = np.array([f["z"] for f in per_fold])
    if np.isinf(zs).any():
        z_comb = float(np.sign(zs[np.isinf(zs)][0]) * np.inf)
    else:
        z_comb = float(zs.sum() / np.sqrt(len(zs)))
    p_comb = float(2.0 * ndtr(-abs(z_comb)))
    aucs, cov = delong_covariance(y_arr[covered], a[covered], b[covered])
    pooled_diff = float(aucs[0] - aucs[1])
    pooled_z, pooled_p = _z_and_p(pooled_diff, float(cov[0, 0] + cov[1, 1] - 2.0 * cov[0, 1]))
    return DelongCVResult(
        z=z_comb,
        p_value=p_comb,
        auc_diff=float(np.mean([f["auc_diff"] for f in per_fold])),
        pooled_z=pooled_z,
        pooled_p_value=pooled_p,
        pooled_auc_diff=pooled_diff,
        per_fold=per_fold,
    )
