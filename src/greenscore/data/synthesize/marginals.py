"""One column's distribution as normal scores and back: the empirical marginal.

Each distinct value owns a slice of [0, 1] as wide as its share (values in order), and a
row's *normal score* is the mean of a standard normal over its value's slice,
``(pdf(a) - pdf(b)) / share``: tied values (the many zeros of a payment column) share one
score rather than random ones. Going back, a normal draw ``z`` is read through the
empirical quantile function, interpolated between the real order statistics, so the
marginal is reproduced and no value leaves the real range.

The Gaussian copula correlates these scores; CTGAN is given them instead of the raw
amounts, which makes its per-column Gaussian mixtures converge in a few iterations instead
of a hundred on long-tailed money columns.
"""

from __future__ import annotations

import numpy as np
from scipy.special import ndtr, ndtri


def slice_scores(codes: np.ndarray, counts: np.ndarray) -> tuple[np.ndarray, float]:
    """Each row's mean normal score over its value's slice, and the scores' spread.

    Parameters
    ----------
    codes : array of int
        Each row's value, as its position in the ordered distinct values.
    counts : array of int
        Rows per distinct value, in that order.

    Returns
    -------
    scores : array of float, one per row
    spread : float
        ``sqrt(sum share * score^2)``: 1 for all-distinct values, less the coarser the
        column (what a correlation with the scores is attenuated by).
    """
    share = counts / counts.sum()
    upper = np.minimum(np.cumsum(share), 1.0)
    upper[-1] = 1.0
    lower = np.r_[0.0, upper[:-1]]
    density = np.exp(-0.5 * np.square(ndtri(np.r_[lower, upper]))) / np.sqrt(2 * np.pi)
    means = (density[: len(share)] - density[len(share) :]) / np.maximum(share, 1e-300)
    return means[codes], float(np.sqrt(np.sum(share * means**2)))


class EmpiricalMarginal:
    """The empirical distribution of one numeric column, to and from normal scores.

    Parameters
    ----------
    values : array of float
        The real values (no missing ones).
    """

    def __init__(self, values: np.ndarray) -> None:
        x = np.asarray(values, dtype=float)
        self.sorted_ = np.sort(x)
        _, codes, counts = np.unique(x, return_inverse=True, return_counts=True)
        self.scores_, self.spread_ = slice_scores(codes, counts)

    def from_normal(self, z: np.ndarray) -> np.ndarray:
        """Values for normal draws: the interpolated empirical quantile of ``ndtr(z)``."""
        n = len(self.sorted_)
        positions = ndtr(np.asarray(z, dtype=float)) * n - 0.5
        return np.interp(positions, np.arange(n), self.sorted_)
