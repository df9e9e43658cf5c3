"""Points scaling: probability of default to scorecard points and decision bands.

The industry convention: ``points = offset + factor * ln(good:bad odds)`` with
``factor = PDO / ln 2`` and ``offset = base_score - factor * ln(base_odds)``, so that
``base_score`` points mean odds of ``base_odds``:1 and every ``PDO`` points double the odds.
"""

from __future__ import annotations

import numpy as np

_EPS = 1e-9
DECISIONS = ("approve", "review", "decline")


def points_from_pd(
    pd_: np.ndarray, *, base_score: float = 600.0, base_odds: float = 50.0, pdo: float = 20.0
) -> np.ndarray:
    """Scorecard points for probabilities of default (higher points = safer)."""
    p = np.clip(np.asarray(pd_, dtype=float), _EPS, 1 - _EPS)
    factor = pdo / np.log(2.0)
    offset = base_score - factor * np.log(base_odds)
    return offset + factor * np.log((1 - p) / p)


def pd_from_points(
    points: np.ndarray, *, base_score: float = 600.0, base_odds: float = 50.0, pdo: float = 20.0
) -> np.ndarray:
    """Inverse of :func:`points_from_pd`."""
    factor = pdo / np.log(2.0)
    offset = base_score - factor * np.log(base_odds)
    odds = np.exp((np.asarray(points, dtype=float) - offset) / factor)
    return 1.0 / (1.0 + odds)


def decisions_from_pd(pd_: np.ndarray, *, approve_below: float, decline_above: float) -> np.ndarray:
    """``approve`` below the first cut-off, ``decline`` above the second, ``review`` between."""
    p = np.asarray(pd_, dtype=float)
    out = np.full(p.shape, "review", dtype=object)
    out[p < approve_below] = "approve"
    out[p > decline_above] = "decline"
    return out
