"""Which side of typical raises risk, per reported feature: the guard on reason direction.

A principal reason must be a factor that raised the applicant's risk *and* be worded the
way it did so. A positive SHAP contribution alone is not enough: contributions are
measured against the average applicant, so an income a little above the median can
still carry a positive contribution (interactions, a skewed effect), and a decline that
says "Annual income is high" points the wrong way. So a feature may be cited only on
its unfavourable side:

- **numeric** features: the applicant's value must lie on the side of the typical value
  (training median) where the model's risk is higher. The model's direction comes from
  its monotone constraint (LightGBM, see :mod:`greenscore.models.monotone`) or from the
  trend of its partial dependence (log-odds as the feature moves over its deciles, on a
  sample of training rows); a dependence with no clear trend is compared point to point
  (risk at the applicant's value above risk at the typical value). A value equal to the
  typical one is on neither side and is never cited.
- **categorical** features: the category's own effect (partial dependence of the
  category, in log-odds, minus the sample's mean log-odds) must be positive.

When the training outcomes are given, the data must agree too: a numeric feature whose
Spearman correlation with default is clear (:data:`~greenscore.models.monotone.MIN_RHO`,
p ≤ :data:`~greenscore.models.monotone.MAX_P`) is never cited on the side where the
observed default rate falls, and a category (at least :data:`MIN_CATEGORY_ROWS` rows)
whose default rate is below the portfolio's is never cited. Missing values and unseen
categories have no side; their positive contribution is cited as "not recorded" or by
name.

The table is built once at fit time (JSON, stored with the reason codes in the bundle)
and read per request by :class:`RiskSides` in a few microseconds.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import spearmanr

from greenscore.models.bundle import ScoringBundle
from greenscore.models.monotone import MAX_P, MIN_RHO

#: Training rows sampled for partial dependence.
SAMPLE_ROWS = 300
#: Rank correlation of the dependence curve with its grid that makes a trend clear.
CLEAR_TREND = 0.8
#: Fewest training rows of a category for its observed default rate to count.
MIN_CATEGORY_ROWS = 30
_GRID = np.linspace(0.02, 0.98, 11)
_EPS = 1e-6


def _is_missing(value: Any) -> bool:
    if value is None or value is pd.NA:
        return True
    try:
        return bool(value != value)  # NaN, NaT
    except (TypeError, ValueError):
        return False


def _label(value: Any) -> str:
    """A category's key in the table: ``2`` and ``2.0`` are the same category."""
    if isinstance(value, float | np.floating) and float(value).is_integer():
        return str(int(value))
    if isinstance(value, np.generic):
        return str(value.item())
    return str(value)


def _log_odds(estimator: Any, frame: pd.DataFrame) -> np.ndarray:
    p = np.clip(np.asarray(estimator.predict_proba(frame))[:, 1], _EPS, 1 - _EPS)
    return np.log(p / (1 - p))


def _dependence(
    estimator: Any, sample: pd.DataFrame, column: str, values: Sequence[Any]
) -> np.ndarray:
    """Mean log-odds of the sample with ``column`` set to each value in turn."""
    n = len(sample)
    stacked = pd.concat([sample] * len(values), ignore_index=True)
    repeated = np.repeat(np.asarray(list(values), dtype=object), n)
    dtype = sample[column].dtype
    if isinstance(dtype, pd.CategoricalDtype):
        stacked[column] = pd.Categorical(repeated, categories=dtype.categories)
    elif pd.api.types.is_numeric_dtype(dtype):
        stacked[column] = repeated.astype(float)
    else:
        stacked[column] = pd.Series(repeated, dtype=dtype)
    return _log_odds(estimator, stacked).reshape(len(values), n).mean(axis=1)


def _data_direction(values: pd.Series, y: np.ndarray) -> int:
    numbers = pd.to_numeric(values, errors="coerce").to_numpy(dtype=float)
    known = ~np.isnan(numbers)
    if known.sum() < MIN_CATEGORY_ROWS or np.unique(numbers[known]).size < 2:
        return 0
    result = spearmanr(numbers[known], np.asarray(y, dtype=float)[known])
    rho, p = float(result.statistic), float(result.pvalue)
    return int(np.sign(rho)) if abs(rho) >= MIN_RHO and p <= MAX_P else 0


def _category_rates(values: pd.Series, y: np.ndarray) -> dict[str, float]:
    """Default rate minus the portfolio's, per category with enough rows."""
    target = np.asarray(y, dtype=float)
    labels = values.astype(object).map(lambda v: None if _is_missing(v) else _label(v))
    stats = pd.DataFrame({"label": labels, "y": target}).dropna().groupby("label")["y"]
    overall = float(target.mean())
    return {
        str(label): round(float(rate) - overall, 6)
        for label, (count, rate) in stats.agg(["size", "mean"]).iterrows()
        if count >= MIN_CATEGORY_ROWS
    }


def data_sides(
    transformed: pd.DataFrame,
    y: np.ndarray,
    *,
    features: Sequence[str],
    categorical: Mapping[str, bool],
) -> dict[str, Any]:
    """The sides of typical the observed outcomes alone call risky (no model involved).

    Returns
    -------
    dict
        ``{feature: {"data": ±1 or 0}}`` for numeric features and ``{feature:
        {"categories": {label: {"data": rate minus portfolio rate}}}}`` for categorical
        ones; :class:`RiskSides` reads it like the full table.
    """
    out: dict[str, Any] = {}
    for feature in features:
        if feature not in transformed.columns:
            continue
        values = transformed[feature]
        if categorical.get(feature):
            rates = _category_rates(values, y)
            out[feature] = {"categories": {k: {"data": v} for k, v in rates.items()}}
        else:
            out[feature] = {"data": _data_direction(values, y)}
    return out


def _numeric_side(
    estimator: Any,
    sample: pd.DataFrame,
    column: str,
    values: pd.Series,
    y: np.ndarray | None,
    constraint: Mapping[str, Any] | None,
) -> dict[str, Any] | None:
    numbers = pd.to_numeric(values, errors="coerce").dropna()
    if numbers.empty:
        return None
    grid = np.unique(np.quantile(numbers.to_numpy(dtype=float), _GRID))
    out: dict[str, Any] = {"model": 0, "source": None, "grid": None, "log_odds": None}
    if constraint:
        out["model"] = int(constraint["direction"])
        out["source"] = f"monotone constraint ({constraint.get('source', 'model')})"
    elif len(grid) >= 2:
        curve = _dependence(estimator, sample, column, grid.tolist())
        out["grid"] = [float(g) for g in grid]
        out["log_odds"] = [round(float(c), 6) for c in curve]
        trend = float(spearmanr(grid, curve).statistic) if np.ptp(curve) > _EPS else float("nan")
        if not np.isnan(trend) and abs(trend) >= CLEAR_TREND:
            out["model"] = int(np.sign(trend))
            out["source"] = "partial dependence"
        else:
            out["source"] = "partial dependence (no clear trend: compared point to point)"
    out["data"] = _data_direction(values, y) if y is not None else 0
    return out


def _categorical_side(
    estimator: Any, sample: pd.DataFrame, column: str, values: pd.Series, y: np.ndarray | None
) -> dict[str, Any]:
    dtype = sample[column].dtype
    if isinstance(dtype, pd.CategoricalDtype):
        levels = list(dtype.categories)
    else:
        levels = list(pd.unique(values.dropna()))
    baseline = float(_log_odds(estimator, sample).mean())
    effects: np.ndarray | list[float] = (
        _dependence(estimator, sample, column, levels) - baseline if levels else []
    )
    categories: dict[str, dict[str, Any]] = {
        _label(level): {"model": round(float(effect), 6), "data": None}
        for level, effect in zip(levels, effects, strict=True)
    }
    if y is not None:
        for label, rate in _category_rates(values, y).items():
            if label in categories:
                categories[label]["data"] = rate
    return {"categories": categories}


def build_sides(
    bundle: ScoringBundle,
    transformed: pd.DataFrame,
    *,
    features: Sequence[str],
    categorical: Mapping[str, bool],
    y: np.ndarray | None = None,
    seed: int = 0,
) -> dict[str, Any]:
    """The unfavourable side of every reported feature that is a model feature itself.

    Parameters
    ----------
    bundle : ScoringBundle
        The fitted model (its classifier is probed on modified training rows).
    transformed : DataFrame
        Training rows as model features (output of the feature steps).
    features : sequence of str
        Reported features; those that are not columns of ``transformed`` (one-hot
        groups) get no entry and are cited on their contribution alone.
    categorical : mapping
        Whether each reported feature is categorical.
    y : array of 0/1, optional
        Outcomes of the same rows, for the data's own direction.
    seed : int
        Seed of the partial-dependence sample.

    Returns
    -------
    dict
        JSON-ready ``{feature: side}``: numeric sides hold ``model`` (±1 or 0),
        ``source``, the dependence ``grid`` / ``log_odds`` when no constraint fixes the
        direction, and ``data`` (±1 or 0); categorical sides hold ``categories``
        (``{label: {"model": effect, "data": rate minus portfolio rate or None}}``).
    """
    estimator = bundle.estimator
    constraints = getattr(estimator, "monotone_constraints_", None) or {}
    sample = (
        transformed.sample(n=SAMPLE_ROWS, random_state=seed)
        if len(transformed) > SAMPLE_ROWS
        else transformed
    )
    target = None if y is None else np.asarray(y)
    out: dict[str, Any] = {}
    for feature in features:
        if feature not in transformed.columns:
            continue
        values = transformed[feature]
        if categorical.get(feature):
            out[feature] = _categorical_side(estimator, sample, feature, values, target)
        else:
            side = _numeric_side(
                estimator, sample, feature, values, target, constraints.get(feature)
            )
            if side is not None:
                out[feature] = side
    return out


class RiskSides:
    """Per-request check that a feature's value is on its unfavourable side.

    Parameters
    ----------
    sides : mapping
        The output of :func:`build_sides` (empty: every positive contribution is cited).
    features : sequence of str
        Reported features, in the coder's order.
    typical : sequence of float or None
        The typical (median) value of each reported feature.
    """

    def __init__(
        self,
        sides: Mapping[str, Any],
        features: Sequence[str],
        typical: Sequence[float | None],
    ) -> None:
        self._sides = [sides.get(f) for f in features]
        self._typical = list(typical)
        # The curve's height at the typical value, per feature: a constant, read per reason.
        self._curve_at_typical: dict[int, float] = {}

    def known(self, j: int) -> bool:
        """Whether feature ``j`` has a side to check."""
        return self._sides[j] is not None

    def raises_risk(self, j: int, value: Any) -> bool:
        """Whether the applicant's value of feature ``j`` may be cited as raising risk."""
        side = self._sides[j]
        if side is None or _is_missing(value):
            return True
        if "categories" in side:
            entry = side["categories"].get(_label(value))
            if entry is None:
                return True  # a category unseen in training: no side to be on
            model, data = entry.get("model"), entry.get("data")
            return (model is None or model > 0) and (data is None or data > 0)
        typical = self._typical[j]
        try:
            number = float(value)
        except (TypeError, ValueError):
            return True
        if typical is None or number == typical:
            return typical is None
        step = 1 if number > typical else -1
        if side.get("data") and side["data"] != step:
            return False
        if side.get("model"):
            return side["model"] == step
        grid, curve = side.get("grid"), side.get("log_odds")
        if grid and curve:
            base = self._curve_at_typical.get(j)
            if base is None:
                base = self._curve_at_typical[j] = float(np.interp(typical, grid, curve))
            rise = float(np.interp(number, grid, curve)) - base
            return rise > _EPS
        return True
