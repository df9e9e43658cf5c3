"""How far one column's distribution has moved between a reference and a current sample.

The population stability index (PSI) compares the shares of rows in the reference's bins:
``sum((a - e) * ln(a / e))`` over bins, with ``e`` the reference share and ``a`` the current
one. Credit validators read it in three bands (Siddiqi; the same cut-offs in the EBA's and
most lenders' monitoring standards): below 0.1 stable, 0.1 to 0.25 watch, above 0.25 act.
Computed on one characteristic (a model input) it is called the characteristic stability
index (CSI); on the model's probability of default it is the score PSI.

Numeric columns are cut at the reference's quantiles into equal-mass bins (ties collapse
bins, so a count with few values gets one bin per value); categorical columns get one bin
per reference level. Missing values have a bin of their own, and categories never seen in
the reference share one more, so a rise in either moves the index too. Beside PSI, numeric
columns get the two-sample Kolmogorov-Smirnov test (the largest gap between the two
empirical CDFs, sensitive where PSI's bins are coarse) and the Wasserstein distance, also
divided by the reference's standard deviation so that columns of different units compare.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd

from greenscore.errors import DataError

Kind = Literal["numeric", "categorical"]
STABLE, WATCH, ACT = "stable", "watch", "act"
#: An empty bin would make the logarithm infinite: shares are floored here (as the service's
#: PSI gauge does).
SHARE_FLOOR = 1e-4
MISSING_BIN = "(missing)"
UNSEEN_BIN = "(unseen)"
BAD_QUANTILES = "score quantiles must be at least two increasing numbers, got {n}"


@dataclass(frozen=True)
class Bins:
    """Reference bins of one column and the reference's share of rows in each.

    Attributes
    ----------
    kind : ``numeric`` or ``categorical``.
    edges : inner cut points of a numeric column; bin ``i`` holds ``edges[i-1] < x <=
        edges[i]`` (right-closed), the last bin everything above the last edge.
    levels : reference levels of a categorical column, one bin each.
    expected : reference share per bin, in :meth:`labels` order (value bins, then the
        missing bin, then for categories the unseen bin).
    """

    kind: Kind
    edges: tuple[float, ...] = ()
    levels: tuple[str, ...] = ()
    expected: tuple[float, ...] = ()

    def labels(self) -> list[str]:
        """A readable name per bin, in the order of :attr:`expected`."""
        if self.kind == "categorical":
            return [*self.levels, MISSING_BIN, UNSEEN_BIN]
        if not self.edges:
            return ["all", MISSING_BIN]
        inner = [
            f"({a:.4g}, {b:.4g}]" for a, b in zip(self.edges[:-1], self.edges[1:], strict=True)
        ]
        return [f"<= {self.edges[0]:.4g}", *inner, f"> {self.edges[-1]:.4g}", MISSING_BIN]

    def to_dict(self) -> dict[str, Any]:
        """Plain data for the JSON report."""
        return {
            "kind": self.kind,
            "labels": self.labels(),
            "expected": list(self.expected),
        }


def as_numbers(values: pd.Series | np.ndarray) -> np.ndarray:
    """Float values of a column; text that is not a number becomes NaN (count it first)."""
    if isinstance(values, np.ndarray) and values.dtype.kind in "fiub":
        return values.astype(float, copy=False)
    return pd.to_numeric(pd.Series(values), errors="coerce").to_numpy(dtype=float)


def as_levels(values: pd.Series | np.ndarray) -> np.ndarray:
    """Category values as stripped text in an object array; missing (and blank) as None."""
    series = pd.Series(values)
    out = np.full(len(series), None, dtype=object)
    known = series.notna().to_numpy()
    if known.any():
        text = series[known].astype(str).str.strip().to_numpy(dtype=object)
        text[text == ""] = None
        out[known] = text
    return out


def prepare(values: pd.Series | np.ndarray, kind: Kind) -> np.ndarray:
    """A column as the bins read it: floats (:func:`as_numbers`) or levels (:func:`as_levels`).

    Preparing a column once and slicing the array per window is what keeps a monitor of
    many windows cheap.
    """
    return as_numbers(values) if kind == "numeric" else as_levels(values)


def _shares(counts: np.ndarray) -> np.ndarray:
    total = counts.sum()
    return counts / total if total else np.zeros(len(counts))


def bin_counts(values: np.ndarray, bins: Bins) -> np.ndarray:
    """Rows of a prepared column (:func:`prepare`) in each reference bin (:meth:`Bins.labels`)."""
    if bins.kind == "categorical":
        missing = pd.isna(values)
        codes = pd.Categorical(values[~missing], categories=list(bins.levels)).codes
        counts = np.bincount(codes[codes >= 0], minlength=len(bins.levels)).astype(float)
        return np.r_[counts, float(missing.sum()), float((codes < 0).sum())]
    missing = np.isnan(values)
    codes = np.searchsorted(np.asarray(bins.edges), values[~missing], side="left")
    counts = np.bincount(codes, minlength=len(bins.edges) + 1).astype(float)
    return np.r_[counts, float(missing.sum())]


def fit_bins(values: np.ndarray, *, kind: Kind, n_bins: int = 10) -> Bins:
    """Cut a prepared reference column (:func:`prepare`) into bins and take its shares.

    Numbers get equal-mass bins at the reference's quantiles, categories one bin per level.
    """
    if kind == "categorical":
        levels = tuple(sorted({v for v in values if v is not None}))
        bins = Bins(kind="categorical", levels=levels)
    else:
        known = values[~np.isnan(values)]
        edges: tuple[float, ...] = ()
        if len(known):
            # Cuts at observed values (inverted CDF): a count never gets an empty bin between
            # two of its values.
            cuts = np.quantile(known, np.linspace(0, 1, n_bins + 1)[1:-1], method="inverted_cdf")
            # A cut equal to the maximum would leave an always-empty last bin.
            edges = tuple(float(e) for e in np.unique(cuts) if e < known.max())
        bins = Bins(kind="numeric", edges=edges)
    return Bins(
        kind=bins.kind,
        edges=bins.edges,
        levels=bins.levels,
        expected=tuple(float(s) for s in _shares(bin_counts(values, bins))),
    )


def quantile_bins(quantiles: list[float] | np.ndarray, n_bins: int = 10) -> Bins:
    """Equal-mass bins from stored reference quantiles (a bundle's out-of-fold PDs).

    ``quantiles`` are evenly spaced (0 %, 1 %, ..., 100 % as ``greenscore train`` stores
    them), so each of the ``n_bins`` bins holds ``1 / n_bins`` of the reference by
    construction; no missing values are expected.
    """
    q = np.asarray(quantiles, dtype=float)
    if q.ndim != 1 or len(q) < 2 or not np.all(np.isfinite(q)):
        raise DataError(BAD_QUANTILES.format(n=len(q)))
    positions = np.linspace(0, len(q) - 1, n_bins + 1)[1:-1]
    edges = np.interp(positions, np.arange(len(q)), q)
    # Tied quantiles (a model with few distinct PDs) merge bins and their shares.
    unique, ties = np.unique(edges, return_counts=True)
    shares = np.r_[ties, 1] / n_bins
    return Bins(
        kind="numeric",
        edges=tuple(float(e) for e in unique),
        expected=(*(float(s) for s in shares), 0.0),
    )


def psi(expected: np.ndarray | tuple[float, ...], actual: np.ndarray) -> float:
    """Population stability index of current shares against reference shares.

    Parameters
    ----------
    expected, actual : array of shape (k,)
        Shares per bin (each sums to 1; an all-zero ``actual`` gives NaN).

    Examples
    --------
    >>> round(psi([0.5, 0.5], [0.6, 0.4]), 4)
    0.0405
    """
    e = np.asarray(expected, dtype=float)
    a = np.asarray(actual, dtype=float)
    if a.sum() == 0:
        return float("nan")
    e, a = np.maximum(e, SHARE_FLOOR), np.maximum(a, SHARE_FLOOR)
    return float(np.sum((a - e) * np.log(a / e)))


def band(value: float, *, watch: float, act: float) -> str:
    """``stable`` below ``watch``, ``watch`` up to ``act``, ``act`` from there; NaN is stable."""
    if not np.isfinite(value) or value < watch:
        return STABLE
    return WATCH if value < act else ACT


def ks_two_sample(reference: np.ndarray, current: np.ndarray) -> tuple[float, float]:
    """Two-sample Kolmogorov-Smirnov statistic and p-value on the non-missing values."""
    from scipy.stats import ks_2samp

    r, c = reference[~np.isnan(reference)], current[~np.isnan(current)]
    if not len(r) or not len(c):
        return float("nan"), float("nan")
    # The asymptotic p-value: the exact one costs far more and differs little at these sizes.
    result = ks_2samp(r, c, method="asymp")
    return float(result.statistic), float(result.pvalue)


def wasserstein(reference: np.ndarray, current: np.ndarray) -> tuple[float, float]:
    """Wasserstein-1 distance, raw and divided by the reference's standard deviation."""
    from scipy.stats import wasserstein_distance

    r, c = reference[~np.isnan(reference)], current[~np.isnan(current)]
    if not len(r) or not len(c):
        return float("nan"), float("nan")
    distance = float(wasserstein_distance(r, c))
    spread = float(np.std(r))
    return distance, (distance / spread if spread > 0 else float("nan"))
