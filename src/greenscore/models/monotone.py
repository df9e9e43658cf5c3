"""Known directions of risk per feature, for LightGBM's monotone constraints.

Credit modellers expect a model to agree with business sense feature by feature: more
days past due never lowers the risk, a higher income never raises it. LightGBM can be
held to that (``monotone_constraints``), which also keeps adverse-action reasons
pointing the right way. A direction comes from the spec (``DatasetSpec.monotone``: +1
when risk rises with the value, -1 when it falls), or is inferred on the training rows
when the data is clear about it: the Spearman correlation with default is at least
:data:`MIN_RHO` in size, significant, and the default rates of the feature's deciles
rise (or fall) in the same direction almost throughout (rank correlation of the decile
rates with their order at least :data:`MIN_TREND`), i.e. the weight-of-evidence trend is
monotonic. Features with no clear direction stay unconstrained.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import spearmanr

from greenscore.errors import ConfigError

#: Smallest |Spearman rho| with default for a direction to be inferred.
MIN_RHO = 0.05
#: Largest p-value of that correlation.
MAX_P = 0.01
#: Smallest |rank correlation| between decile default rates and decile order.
MIN_TREND = 0.8
_DECILES = 10
_MIN_ROWS = 50

BAD_DIRECTION = "monotone direction of '{feature}' must be +1 or -1, got {value!r}"


def _is_numeric(values: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(values) and not isinstance(
        values.dtype, pd.CategoricalDtype
    )


def decile_trend(values: pd.Series, y: np.ndarray) -> float:
    """Rank correlation of the default rate of each decile of a feature with decile order.

    Returns NaN when fewer than three distinct deciles exist.
    """
    numbers = pd.to_numeric(values, errors="coerce").to_numpy(dtype=float)
    known = ~np.isnan(numbers)
    codes = pd.qcut(numbers[known], q=_DECILES, labels=False, duplicates="drop")
    rates = pd.Series(np.asarray(y)[known]).groupby(np.asarray(codes)).mean()
    if len(rates) < 3:
        return float("nan")
    return float(spearmanr(rates.index.to_numpy(), rates.to_numpy()).statistic)


def infer_direction(values: pd.Series, y: np.ndarray) -> tuple[int, float, float]:
    """The direction of risk along one numeric feature, as the data shows it.

    Returns
    -------
    direction : int
        +1 (risk rises with the value), -1 (falls) or 0 (not clear).
    rho : float
        Spearman correlation with default.
    trend : float
        Rank correlation of decile default rates with decile order.
    """
    numbers = pd.to_numeric(values, errors="coerce").to_numpy(dtype=float)
    known = ~np.isnan(numbers)
    target = np.asarray(y, dtype=float)[known]
    if known.sum() < _MIN_ROWS or np.unique(numbers[known]).size < 2 or np.unique(target).size < 2:
        return 0, float("nan"), float("nan")
    result = spearmanr(numbers[known], target)
    rho, p = float(result.statistic), float(result.pvalue)
    trend = decile_trend(values, y)
    clear = (
        abs(rho) >= MIN_RHO
        and p <= MAX_P
        and not np.isnan(trend)
        and abs(trend) >= MIN_TREND
        and np.sign(trend) == np.sign(rho)
    )
    return (int(np.sign(rho)) if clear else 0), rho, trend


def check_directions(declared: Mapping[str, Any] | None) -> dict[str, int]:
    """Declared directions as ``{feature: ±1}``.

    Raises
    ------
    ConfigError
        If a direction is not +1 or -1.
    """
    out: dict[str, int] = {}
    for feature, value in (declared or {}).items():
        if isinstance(value, bool) or value not in (1, -1):
            raise ConfigError(BAD_DIRECTION.format(feature=feature, value=value))
        out[str(feature)] = int(value)
    return out


def monotone_directions(
    X: pd.DataFrame,  # noqa: N803
    y: np.ndarray,
    *,
    declared: Mapping[str, Any] | None = None,
    infer: bool = True,
) -> dict[str, dict[str, Any]]:
    """Directions for the numeric columns of a model matrix.

    Parameters
    ----------
    X : DataFrame
        Model features (output of the feature pipeline); categorical columns are skipped.
    y : array of 0/1
        Default indicator of the same rows.
    declared : mapping, optional
        ``{feature: ±1}`` from the spec; these win over inference.
    infer : bool
        Infer directions for the other numeric features.

    Returns
    -------
    dict
        ``{feature: {"direction": ±1, "source": "spec" | "inferred", "rho": …,
        "trend": …}}`` for the features with a direction, in column order.
    """
    known = check_directions(declared)
    out: dict[str, dict[str, Any]] = {}
    for column in X.columns:
        name = str(column)
        if not _is_numeric(X[column]):
            continue
        if name in known:
            out[name] = {"direction": known[name], "source": "spec", "rho": None, "trend": None}
            continue
        if not infer:
            continue
        direction, rho, trend = infer_direction(X[column], y)
        if direction:
            out[name] = {
                "direction": direction,
                "source": "inferred",
                "rho": round(rho, 4),
                "trend": round(trend, 4),
            }
    return out
