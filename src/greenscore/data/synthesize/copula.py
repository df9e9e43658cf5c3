"""A Gaussian copula synthesiser: the permissive fallback to CTGAN, on NumPy and SciPy.

Each column's values own slices of [0, 1] as wide as their shares (numbers in their
order; levels that are numbers, such as months in arrears, in numeric order; other levels
by frequency, as the frequency encoding of Patki et al.'s Synthetic Data Vault does), and
each row gets the mean standard-normal score of its slice. The correlations of those
scores, corrected for the coarseness of each column (a polyserial-style correction: a 0/1
column's score correlates with its latent normal by less than one), form the copula.
Sampling draws correlated normal scores and maps them back: numbers through the empirical
quantile function (interpolated between real order statistics, so marginals are
reproduced), levels through their slices. It captures every marginal and the pairwise
dependence through one correlation matrix; it misses what a correlation cannot hold
(interactions, multi-modal joint shapes), which is where CTGAN earns its cost.

(The ``copulas`` package does the same but is under the Business Source License like
CTGAN; this one is plain SciPy so the fallback has no licence condition at all.)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.special import ndtr

from greenscore.data.synthesize.marginals import EmpiricalMarginal, slice_scores

#: Uniform scores are kept this far from 0 and 1 so their normal scores stay finite.
_EDGE = 1e-6
#: Latent correlations are kept inside this bound (a perfect one makes the matrix singular).
_MAX_CORRELATION = 0.995


@dataclass
class _Levels:
    levels: np.ndarray
    upper: np.ndarray  # cumulative share at the end of each level's slice


class GaussianCopulaSynthesizer:
    """Learn a table's marginals and normal-score correlations; sample new rows.

    Parameters
    ----------
    seed : int
        Seed of the draws.
    """

    def __init__(self, *, seed: int = 0) -> None:
        self.seed = seed

    def fit(self, table: pd.DataFrame, categorical: list[str]) -> GaussianCopulaSynthesizer:
        """Learn from a learnable table (numbers without missing values, levels as text)."""
        self.columns_ = list(table.columns)
        self.marginals_: dict[str, EmpiricalMarginal] = {}
        self.levels_: dict[str, _Levels] = {}
        n = len(table)
        scores = np.empty((n, len(self.columns_)))
        spread = np.empty(len(self.columns_))
        for j, column in enumerate(self.columns_):
            values = table[column].to_numpy()
            if column in categorical:
                levels, codes, counts = _ordered_levels(values.astype(str))
                self.levels_[column] = _Levels(levels=levels, upper=np.cumsum(counts) / n)
                scores[:, j], spread[j] = slice_scores(codes, counts)
            else:
                marginal = self.marginals_[column] = EmpiricalMarginal(values)
                scores[:, j], spread[j] = marginal.scores_, marginal.spread_
        if len(self.columns_) > 1:
            with np.errstate(invalid="ignore", divide="ignore"):
                # A score that is a level's mean normal score correlates with the latent
                # normal by its spread: dividing undoes that attenuation (the polyserial
                # correction), so a 0/1 target keeps its dependence on months in arrears.
                latent = np.corrcoef(scores, rowvar=False) / np.outer(spread, spread)
            latent = np.clip(np.nan_to_num(latent), -_MAX_CORRELATION, _MAX_CORRELATION)
            np.fill_diagonal(latent, 1.0)
        else:
            latent = np.ones((1, 1))
        self.correlation_ = _nearest_correlation(latent)
        return self

    def sample(self, rows: int, *, seed: int | None = None) -> pd.DataFrame:
        """Draw ``rows`` new rows of the learnable table."""
        rng = np.random.default_rng(self.seed + 1 if seed is None else seed)
        z = rng.multivariate_normal(
            np.zeros(len(self.columns_)), self.correlation_, size=rows, method="eigh"
        )
        u = np.clip(ndtr(z), _EDGE, 1 - _EDGE)
        out = {}
        for j, column in enumerate(self.columns_):
            if column in self.levels_:
                spec = self.levels_[column]
                index = np.minimum(
                    np.searchsorted(spec.upper, u[:, j], side="right"), len(spec.levels) - 1
                )
                out[column] = spec.levels[index].astype(object)
            else:
                out[column] = self.marginals_[column].from_normal(z[:, j])
        return pd.DataFrame(out)


def _ordered_levels(values: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Levels, each value's level code and the counts, in the order their slices take.

    Levels that are all numbers (months in arrears, a 0/1 target) keep their numeric order,
    so the normal score rises with the value and the correlation carries the dependence;
    other levels go by frequency, most common first (their order means nothing).
    """
    levels, codes, counts = np.unique(values, return_inverse=True, return_counts=True)
    numbers = pd.to_numeric(pd.Series(levels), errors="coerce")
    if not numbers.isna().any():
        order = np.argsort(numbers.to_numpy(), kind="stable")
    else:
        order = np.argsort(-counts, kind="stable")
    rank = np.empty(len(order), dtype=np.int64)
    rank[order] = np.arange(len(order))
    return levels[order], rank[codes], counts[order]


def _nearest_correlation(matrix: np.ndarray) -> np.ndarray:
    """A valid correlation matrix near ``matrix`` (negative eigenvalues lifted, unit diagonal)."""
    values, vectors = np.linalg.eigh((matrix + matrix.T) / 2)
    fixed = vectors @ np.diag(np.maximum(values, 1e-8)) @ vectors.T
    scale = np.sqrt(np.diag(fixed))
    return fixed / np.outer(scale, scale)
