"""Performance over time: discrimination and calibration of the PDs a model gave, by vintage.

A vintage is the month the loans were granted; their outcomes arrive months later, so a
model's discrimination (AUC, Gini, KS) and accuracy (Brier) are measured per vintage as
its defaults mature, each with a percentile bootstrap interval. Calibration is checked in
the large (mean PD against the observed default rate, with the normal approximation to
the Poisson-binomial count of defaults) and by PD band (the binomial test per grade that
PD validation uses). The metrics themselves are :mod:`greenscore.evaluation.metrics`.

A vintage's AUC is flagged when it falls more than ``monitoring.auc_drop`` below the
model's baseline *and* the upper end of its interval is below the baseline as well, so a
small vintage's noise alone never files a retraining job.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
from scipy.special import ndtr

from greenscore.config import MonitoringSettings
from greenscore.errors import DataError
from greenscore.evaluation.metrics import auc, brier, check_binary_scores, ks

LENGTHS_DIFFER = "y, p and vintage must describe the same rows, got {n_y}, {n_p} and {n_v}"
#: The metrics with bootstrap intervals, and how each is computed.
METRICS: dict[str, Callable[[np.ndarray, np.ndarray], float]] = {
    "auc": auc,
    "ks": ks,
    "brier": brier,
    "calibration_in_the_large": lambda y, p: float(p.mean() - y.mean()),
}
INTERVAL_METHOD = "percentile bootstrap over rows"


def bootstrap_intervals(
    y: np.ndarray,
    p: np.ndarray,
    *,
    n_boot: int,
    confidence: float,
    seed: int,
    metrics: dict[str, Callable[[np.ndarray, np.ndarray], float]] = METRICS,
) -> dict[str, list[float | None]]:
    """Percentile bootstrap interval of each metric (rows drawn with replacement).

    Resamples that hold a single class are skipped for the metrics that need both; an
    interval with no usable resample is ``[None, None]``. With ``auc`` among the metrics,
    ``gini`` comes too.
    """
    rng = np.random.default_rng(seed)
    draws: dict[str, list[float]] = {name: [] for name in metrics}
    n = len(y)
    for _ in range(n_boot):
        index = rng.integers(0, n, n)
        yb, pb = y[index], p[index]
        both = 0 < yb.sum() < n
        for name, metric in metrics.items():
            if both or name in ("brier", "calibration_in_the_large"):
                draws[name].append(metric(yb, pb))
    tail = (1.0 - confidence) / 2.0
    out: dict[str, list[float | None]] = {
        name: (
            [float(v) for v in np.quantile(values, [tail, 1.0 - tail])] if values else [None, None]
        )
        for name, values in draws.items()
    }
    if "auc" in out:
        # Gini is 2 AUC - 1, an increasing map: its percentile interval is the AUC's, mapped.
        out["gini"] = [None if v is None else 2.0 * v - 1.0 for v in out["auc"]]
    return out


def _calibration_p_value(y: np.ndarray, p: np.ndarray) -> float | None:
    """Two-sided p-value that the default count matches the PDs (normal approximation)."""
    variance = float(np.sum(p * (1.0 - p)))
    if variance <= 0:
        return None
    z = (float(y.sum()) - float(p.sum())) / np.sqrt(variance)
    return float(2.0 * ndtr(-abs(z)))


def calibration_by_band(y: np.ndarray, p: np.ndarray, edges: np.ndarray) -> list[dict[str, Any]]:
    """Observed default rate against mean PD per PD band, with a binomial test per band.

    ``edges`` are inner cut points (bands are right-closed: ``edges[i-1] < p <= edges[i]``).
    """
    from scipy.stats import binomtest

    codes = np.searchsorted(edges, p, side="left")
    bounds = np.r_[0.0, edges, 1.0]
    out = []
    for code in range(len(edges) + 1):
        rows = codes == code
        count = int(rows.sum())
        if not count:
            continue
        bads, mean_pd = int(y[rows].sum()), float(p[rows].mean())
        out.append(
            {
                "band": code + 1,
                "lower": float(bounds[code]),
                "upper": float(bounds[code + 1]),
                "count": count,
                "defaults": bads,
                "mean_pd": mean_pd,
                "observed_rate": bads / count,
                "p_value": float(binomtest(bads, count, min(max(mean_pd, 1e-12), 1.0)).pvalue),
            }
        )
    return out


def vintage_performance(
    y: np.ndarray,
    p: np.ndarray,
    *,
    settings: MonitoringSettings,
    band_edges: np.ndarray,
    seed: int = 0,
) -> dict[str, Any]:
    """All figures of one vintage (or any set of rows with outcomes and PDs).

    Returns
    -------
    dict
        ``rows``, ``defaults``, ``default_rate``, ``mean_pd``, ``judged`` (enough defaults
        and non-defaults for discrimination), ``auc``, ``gini`` and ``ks`` (None when not
        judged), ``brier``, ``calibration_in_the_large`` (mean PD minus default rate),
        ``intervals`` of each, ``calibration_p_value`` and ``bands``.
    """
    n, bads = len(y), int(y.sum())
    judged = min(bads, n - bads) >= settings.min_vintage_defaults
    out: dict[str, Any] = {
        "rows": n,
        "defaults": bads,
        "default_rate": bads / n,
        "mean_pd": float(p.mean()),
        "judged": judged,
        "brier": brier(y, p),
        "calibration_in_the_large": float(p.mean() - y.mean()),
        "calibration_p_value": _calibration_p_value(y, p),
        "bands": calibration_by_band(y, p, band_edges),
    }
    out["auc"] = auc(y, p) if judged else None
    out["gini"] = 2.0 * out["auc"] - 1.0 if judged else None
    out["ks"] = ks(y, p) if judged else None
    out["intervals"] = (
        bootstrap_intervals(
            y, p, n_boot=settings.bootstrap_samples, confidence=settings.confidence, seed=seed
        )
        if judged
        else {}
    )
    return out


def performance_by_vintage(
    y: object,
    p: object,
    vintage: object,
    *,
    settings: MonitoringSettings,
    baseline_auc: float | None = None,
    band_edges: np.ndarray | None = None,
    seed: int = 0,
) -> dict[str, Any]:
    """Performance of a model's PDs per vintage, with intervals and AUC-drop flags.

    Parameters
    ----------
    y : array-like of shape (n,)
        Observed outcomes, 1 = default.
    p : array-like of shape (n,)
        The PDs the model gave these applicants when they were decided.
    vintage : array-like of shape (n,)
        Vintage label per row (``YYYY-MM``); sorted as text.
    settings : MonitoringSettings
    baseline_auc : float, optional
        The AUC the model is expected to hold (its cross-validated AUC at training). Without
        one the first judged vintage is the baseline.
    band_edges : array, optional
        Inner PD cut points of the calibration bands (the same for every vintage, so bands
        compare); default: quintiles of all ``p``.
    seed : int
        Seed of the bootstrap.

    Returns
    -------
    dict
        ``baseline_auc`` and its ``baseline_source``, ``overall`` and ``vintages`` (each a
        :func:`vintage_performance` with its ``vintage`` label), ``flags`` (one
        ``{"vintage", "metric", "value", "interval", "baseline", "drop"}`` per vintage whose
        AUC fell) and ``interval_method``.

    Raises
    ------
    DataError
        If the inputs are not outcomes and probabilities of the same rows.
    """
    y_arr, p_arr = check_binary_scores(y, p)
    labels = np.asarray(vintage).astype(str)
    if not len(y_arr) == len(p_arr) == len(labels):
        raise DataError(LENGTHS_DIFFER.format(n_y=len(y_arr), n_p=len(p_arr), n_v=len(labels)))
    if band_edges is None:
        band_edges = np.unique(np.quantile(p_arr, [0.2, 0.4, 0.6, 0.8]))
    edges = np.asarray(band_edges, dtype=float)
    vintages = []
    for label in sorted(pd.unique(labels)):
        rows = labels == label
        entry = vintage_performance(
            y_arr[rows], p_arr[rows], settings=settings, band_edges=edges, seed=seed
        )
        vintages.append({"vintage": str(label), **entry})
    source = "model"
    if baseline_auc is None:
        first = next((v for v in vintages if v["judged"]), None)
        baseline_auc = first["auc"] if first else None
        source = f"first judged vintage ({first['vintage']})" if first else "none"
    flags = []
    for entry in vintages:
        if not entry["judged"] or baseline_auc is None:
            continue
        high = entry["intervals"]["auc"][1]
        drop = baseline_auc - entry["auc"]
        if drop > settings.auc_drop and high is not None and high < baseline_auc:
            flags.append(
                {
                    "vintage": entry["vintage"],
                    "metric": "auc",
                    "value": entry["auc"],
                    "interval": entry["intervals"]["auc"],
                    "baseline": baseline_auc,
                    "drop": drop,
                }
            )
    overall = vintage_performance(y_arr, p_arr, settings=settings, band_edges=edges, seed=seed)
    return {
        "baseline_auc": baseline_auc,
        "baseline_source": source,
        "overall": overall,
        "vintages": vintages,
        "flags": flags,
        "interval_method": INTERVAL_METHOD,
        "confidence": settings.confidence,
    }
