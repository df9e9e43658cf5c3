"""Proxy detection: model inputs strongly associated with a protected attribute.

ECOA forbids using a protected attribute, and a feature that stands in for one (a
*proxy*) carries the same risk. Association is measured with Cramér's V between each
model input and each protected attribute's groups; numeric inputs are cut into quintiles
and missing values are a level of their own, so every kind of column is compared the same
way (0 = independent, 1 = one determines the other).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from greenscore.data.spec import DatasetSpec
from greenscore.fairness.groups import MISSING, sensitive_features

PROXY_THRESHOLD = 0.30
_MAX_ROWS = 20_000
_BINS = 5


def _levels(values: pd.Series) -> pd.Series:
    if pd.api.types.is_numeric_dtype(values) and values.nunique(dropna=True) > _BINS:
        numbers = pd.to_numeric(values, errors="coerce")
        binned = pd.qcut(numbers.rank(method="first"), q=_BINS, labels=False)
        return binned.astype(object).where(numbers.notna(), MISSING).astype(str)
    return values.astype(object).where(values.notna(), MISSING).astype(str)


def cramers_v(a: pd.Series, b: pd.Series) -> float:
    """Cramér's V between two columns (numbers in quintiles, missing as a level).

    Returns 0.0 when either column has a single level.
    """
    from scipy.stats.contingency import association

    table = pd.crosstab(_levels(a), _levels(b)).to_numpy()
    if min(table.shape) < 2:
        return 0.0
    return float(association(table, method="cramer"))


def proxy_scan(
    frame: pd.DataFrame,
    spec: DatasetSpec,
    features: Sequence[str],
    *,
    protected: Sequence[str] | None = None,
    threshold: float = PROXY_THRESHOLD,
    seed: int = 0,
) -> dict[str, Any]:
    """Association of every model input with every protected attribute.

    Parameters
    ----------
    frame : DataFrame
        Applications with the model inputs and the protected columns.
    spec : DatasetSpec
        Names the protected attributes (age is banded).
    features : sequence of str
        Model input columns to test (protected ones are skipped: they are not proxies,
        they are the attribute).
    protected : sequence of str, optional
        Attributes to test against; default ``spec.protected``.
    threshold : float
        Cramér's V at or above which a feature is reported as a proxy.
    seed : int
        Seed of the row sample used on large files.

    Returns
    -------
    dict
        ``threshold``, ``rows`` used, ``associations`` (feature, attribute, V; strongest
        first) and ``proxies`` (those at or above the threshold).
    """
    from greenscore.explain.feature_map import is_protected_feature, protected_columns

    sample = frame.sample(n=_MAX_ROWS, random_state=seed) if len(frame) > _MAX_ROWS else frame
    groups = sensitive_features(sample, spec, protected)
    carriers = protected_columns(spec)
    rows = []
    for feature in features:
        if feature not in sample.columns or is_protected_feature(feature, carriers):
            continue
        for attribute in groups.columns:
            value = cramers_v(sample[feature], groups[attribute])
            rows.append({"feature": feature, "attribute": attribute, "cramers_v": round(value, 4)})
    rows.sort(key=lambda r: (-r["cramers_v"], r["feature"], r["attribute"]))
    return {
        "measure": "Cramér's V (numbers in quintiles, missing as a level)",
        "threshold": threshold,
        "rows": int(len(sample)),
        "associations": rows,
        "proxies": [
            r for r in rows if r["cramers_v"] >= threshold and not np.isnan(r["cramers_v"])
        ],
    }
