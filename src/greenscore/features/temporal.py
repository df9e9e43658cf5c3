"""Temporal features: level, volatility, trend and recency of each monthly history.

Every sequence group of the spec (oldest month first) is summarised the same way; a
shorter history is stored with leading NaNs, and every statistic uses only the observed
months, so a borrower with four months of history is not treated as having two months
of zeros.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from numbers import Integral
from typing import Any

import numpy as np
import pandas as pd
from sklearn.utils._param_validation import Interval

from greenscore.data.spec import DatasetSpec
from greenscore.features._base import FrameTransformer, numeric_block, snake, usable_groups

TEMPORAL_FEATURES = (
    "last",
    "mean",
    "std",
    "slope",
    "recent_change",
    "months_since_event",
    "observed_months",
)


def months_since_last(events: np.ndarray, observed: np.ndarray) -> np.ndarray:
    """Months between the latest month (column -1) and the last True in ``events``.

    0 means the event happened in the latest month. A row with no event is censored at
    its number of observed months (it ranks as "longer ago than anything seen"); a row
    with no observed month is NaN.
    """
    n_observed = observed.sum(axis=1)
    happened = events.any(axis=1)
    # argmax of a row without columns raises (a one-month payment history compares no
    # month); such rows have no event and no observed month, so the value is not used.
    latest = events[:, ::-1].argmax(axis=1) if events.shape[1] else np.zeros(len(events), int)
    since = np.where(happened, latest, n_observed).astype(float)
    since[n_observed == 0] = np.nan
    return since


def _masked_mean(values: np.ndarray, observed: np.ndarray) -> np.ndarray:
    count = observed.sum(axis=1)
    total = np.where(observed, values, 0.0).sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(count > 0, total / np.maximum(count, 1), np.nan)


def sequence_summary(
    values: np.ndarray, *, recent_months: int, event: str
) -> dict[str, np.ndarray]:
    """Summaries of a history of shape (rows, months), oldest first, NaN = not observed.

    Parameters
    ----------
    values : ndarray of shape (n_rows, n_months)
    recent_months : int
        Size of the recent window for ``recent_change`` (capped at n_months - 1).
    event : {"delinquent", "nonzero"}
        What ``months_since_event`` looks for: status > 0, or any value other than 0.

    Returns
    -------
    dict with ``last`` (latest observed value), ``mean``, ``std`` (population, NaN below two
    observed months), ``slope`` (least-squares change per month over the observed months),
    ``recent_change`` (mean of the recent window minus mean of the older months),
    ``months_since_event`` (see :func:`months_since_last`) and ``observed_months``.
    """
    observed = ~np.isnan(values)
    n_obs = observed.sum(axis=1).astype(float)
    n_months = values.shape[1]
    filled = np.where(observed, values, 0.0)

    mean = _masked_mean(values, observed)
    centred = np.where(observed, filled - np.nan_to_num(mean)[:, None], 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        std = np.sqrt((centred**2).sum(axis=1) / n_obs)
    std[n_obs < 2] = np.nan

    x = np.broadcast_to(np.arange(n_months, dtype=float), values.shape)
    x_mean = _masked_mean(x, observed)
    dx = np.where(observed, x - np.nan_to_num(x_mean)[:, None], 0.0)
    var_x = (dx**2).sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        slope = np.where(var_x > 0, (dx * centred).sum(axis=1) / var_x, np.nan)

    last = np.full(values.shape[0], np.nan)
    for t in range(n_months):
        last = np.where(observed[:, t], values[:, t], last)

    window = max(1, min(recent_months, n_months - 1))
    recent = _masked_mean(values[:, -window:], observed[:, -window:])
    older = _masked_mean(values[:, :-window], observed[:, :-window])

    events = (filled > 0) if event == "delinquent" else (filled != 0)
    return {
        "last": last,
        "mean": mean,
        "std": std,
        "slope": slope,
        "recent_change": recent - older,
        "months_since_event": months_since_last(events & observed, observed),
        "observed_months": n_obs,
    }


def _feature_name(prefix: str, feature: str, kind: str) -> str:
    if feature == "months_since_event":
        return f"{prefix}_months_since_{'delinquent' if kind == 'status' else 'nonzero'}"
    return f"{prefix}_{feature}"


class TemporalFeatures(FrameTransformer):
    """Last value, mean, volatility, trend, recent change and recency of every sequence group.

    Parameters
    ----------
    spec : DatasetSpec, optional
        Supplies the sequence groups; groups with a column missing from the data, or a
        spec without sequences, add nothing.
    recent_months : int, default=3
        Months in the recent window of ``<group>_recent_change``.

    Attributes
    ----------
    groups_ : list of (prefix, kind, columns)
    derived_names_ : list of str
        Per group: ``<group>_last``, ``_mean``, ``_std``, ``_slope``, ``_recent_change``,
        ``_months_since_delinquent`` (status groups) or ``_months_since_nonzero`` (other
        groups), and ``_observed_months``.
    """

    _parameter_constraints: dict = {
        "spec": [DatasetSpec, None],
        "recent_months": [Interval(Integral, 1, None, closed="left")],
    }

    def __init__(self, *, spec: DatasetSpec | None = None, recent_months: int = 3) -> None:
        self.spec = spec
        self.recent_months = recent_months

    def _fit(self, frame: pd.DataFrame, y: object) -> None:
        self.groups_ = [
            (snake(g.name), g.kind, list(g.columns))
            for g in usable_groups(self.spec, frame.columns)
        ]
        self.derived_names_ = [
            _feature_name(prefix, feature, kind)
            for prefix, kind, _ in self.groups_
            for feature in TEMPORAL_FEATURES
        ]

    def _derive(self, frame: pd.DataFrame) -> Mapping[str, np.ndarray]:
        return self.derive_with(frame, sequence_summary)

    def derive_with(
        self, frame: Any, summary_of: Callable[..., Mapping[str, np.ndarray]]
    ) -> dict[str, np.ndarray]:
        """The derived features, each history summarised by ``summary_of``
        (:func:`sequence_summary`, or the runtime's compiled equivalent,
        :mod:`greenscore.models.runtime.history`)."""
        out: dict[str, np.ndarray] = {}
        for prefix, kind, columns in self.groups_:
            summary = summary_of(
                numeric_block(frame, columns, type(self).__name__),
                recent_months=self.recent_months,
                event="delinquent" if kind == "status" else "nonzero",
            )
            for feature, values in summary.items():
                out[_feature_name(prefix, feature, kind)] = values
        return out
