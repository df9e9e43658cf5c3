"""Behavioural features: how a borrower has been paying, from the spec's monthly histories.

Two sources, both declared in the :class:`~greenscore.data.spec.DatasetSpec`:

* ``status`` sequences (months or days past due; larger is worse). Values of zero or
  below mean *no delay*, which covers Taiwan's -2 (no consumption), -1 (paid in full)
  and 0 (revolving credit).
* ``balance`` and ``payment`` sequences, paired in the order the spec lists them. The
  payment made in month *t* settles the balance billed in month *t - 1*.

Every history is oldest first and may start with NaNs (a shorter history); a missing
month is never counted as a delinquency or a payment.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from numbers import Real
from typing import Any

import numpy as np
import pandas as pd
from sklearn.utils._param_validation import Interval

from greenscore.data.spec import DatasetSpec
from greenscore.features._base import FrameTransformer, numeric_block, snake, usable_groups
from greenscore.features.temporal import months_since_last

STATUS_FEATURES = (
    "months_delinquent",
    "max_delinquency",
    "current_streak",
    "longest_streak",
    "worsening",
)
PAYMENT_FEATURES = (
    "paid_in_full_ratio",
    "below_minimum_ratio",
    "months_since_full_payment",
    "underpayment_streak",
)


def _trailing_run(flags: np.ndarray) -> np.ndarray:
    """Length of the run of True that ends in the last column, per row."""
    run = np.zeros(flags.shape[0])
    alive = np.ones(flags.shape[0], dtype=bool)
    for t in range(flags.shape[1] - 1, -1, -1):
        alive &= flags[:, t]
        run += alive
    return run


def _longest_run(flags: np.ndarray) -> np.ndarray:
    """Length of the longest run of True anywhere in the row."""
    run = np.zeros(flags.shape[0])
    best = np.zeros(flags.shape[0])
    for t in range(flags.shape[1]):
        run = (run + 1) * flags[:, t]
        np.maximum(best, run, out=best)
    return best


def _last_two_observed(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The last and the second-to-last non-NaN value of each row (NaN where absent)."""
    last = np.full(values.shape[0], np.nan)
    previous = np.full(values.shape[0], np.nan)
    for t in range(values.shape[1]):
        seen = ~np.isnan(values[:, t])
        previous = np.where(seen, last, previous)
        last = np.where(seen, values[:, t], last)
    return last, previous


def status_features(status: np.ndarray) -> dict[str, np.ndarray]:
    """Delinquency summaries of a status history (rows x months, oldest first).

    Returns
    -------
    dict with ``months_delinquent`` (months with status > 0), ``max_delinquency`` (worst
    status, floored at 0), ``current_streak`` (delinquent months ending at the latest
    month), ``longest_streak`` and ``worsening`` (1.0 when the latest status is worse than
    the one before). All are NaN for a row with no observed month; ``worsening`` also
    when fewer than two months are observed.
    """
    observed = ~np.isnan(status)
    none = ~observed.any(axis=1)
    delinquent = np.nan_to_num(status, nan=0.0) > 0
    floored = np.where(observed, np.maximum(status, 0.0), np.nan)
    out = {
        "months_delinquent": delinquent.sum(axis=1).astype(float),
        "max_delinquency": np.nanmax(np.where(observed, floored, -np.inf), axis=1),
        "current_streak": _trailing_run(delinquent),
        "longest_streak": _longest_run(delinquent),
    }
    last, previous = _last_two_observed(floored)
    worsening = (last > previous).astype(float)
    worsening[np.isnan(previous)] = np.nan
    out["worsening"] = worsening
    for name in ("months_delinquent", "max_delinquency", "current_streak", "longest_streak"):
        out[name][none] = np.nan
    return out


def payment_features(
    balance: np.ndarray, payment: np.ndarray, *, minimum_share: float
) -> dict[str, np.ndarray]:
    """Repayment behaviour from a balance history and the payments that followed it.

    Parameters
    ----------
    balance, payment : ndarray of shape (n_rows, n_months), oldest first
        ``payment[:, t]`` is compared with ``balance[:, t - 1]``.
    minimum_share : float
        A payment below this share of the balance owed counts as under the minimum.

    Returns
    -------
    dict with ``paid_in_full_ratio`` and ``below_minimum_ratio`` (shares of the months
    with a positive balance owed and a known payment; NaN when there are none),
    ``months_since_full_payment`` (0 = the latest month; censored at the number of
    comparable months when there was never a full payment) and ``underpayment_streak``
    (consecutive latest months below the minimum).
    """
    owed = balance[:, :-1]
    paid = payment[:, 1:]
    comparable = ~np.isnan(owed) & ~np.isnan(paid)
    due = comparable & (np.nan_to_num(owed, nan=0.0) > 0)
    owed0 = np.nan_to_num(owed, nan=0.0)
    paid0 = np.nan_to_num(paid, nan=0.0)
    full = due & (paid0 >= owed0)
    under = due & (paid0 < minimum_share * owed0)
    n_due = due.sum(axis=1).astype(float)
    with np.errstate(divide="ignore", invalid="ignore"):
        full_ratio = np.where(n_due > 0, full.sum(axis=1) / n_due, np.nan)
        under_ratio = np.where(n_due > 0, under.sum(axis=1) / n_due, np.nan)
    since_full = months_since_last(full, comparable)
    return {
        "paid_in_full_ratio": full_ratio,
        "below_minimum_ratio": under_ratio,
        "months_since_full_payment": since_full,
        "underpayment_streak": _trailing_run(under),
    }


class BehaviouralFeatures(FrameTransformer):
    """Delinquency and repayment-behaviour features from the spec's sequence groups.

    Parameters
    ----------
    spec : DatasetSpec, optional
        Supplies ``status``, ``balance`` and ``payment`` sequences. Groups whose columns
        are not all in the data, or a spec without them, add nothing.
    minimum_payment_share : float, default=0.05
        Share of the balance owed below which a payment counts as under the minimum.

    Attributes
    ----------
    status_groups_ : list of (prefix, columns)
    payment_pairs_ : list of (prefix, balance columns, payment columns)
    derived_names_ : list of str
        ``<status group>_{months_delinquent, max_delinquency, current_streak,
        longest_streak, worsening}`` and ``<payment group>_{paid_in_full_ratio,
        below_minimum_ratio, months_since_full_payment, underpayment_streak}``.
    """

    _parameter_constraints: dict = {
        "spec": [DatasetSpec, None],
        "minimum_payment_share": [Interval(Real, 0, 1, closed="both")],
    }

    def __init__(
        self, *, spec: DatasetSpec | None = None, minimum_payment_share: float = 0.05
    ) -> None:
        self.spec = spec
        self.minimum_payment_share = minimum_payment_share

    def _fit(self, frame: pd.DataFrame, y: object) -> None:
        columns = list(frame.columns)
        self.status_groups_ = [
            (snake(g.name), list(g.columns)) for g in usable_groups(self.spec, columns, ["status"])
        ]
        balances = usable_groups(self.spec, columns, ["balance"])
        payments = usable_groups(self.spec, columns, ["payment"])
        # Paired by order; histories of different lengths cannot be lined up month by month.
        self.payment_pairs_ = [
            (snake(p.name), list(b.columns), list(p.columns))
            for b, p in zip(balances, payments, strict=False)
            if len(b.columns) == len(p.columns)
        ]
        self.derived_names_ = [
            f"{prefix}_{feature}"
            for prefix, _ in self.status_groups_
            for feature in STATUS_FEATURES
        ] + [
            f"{prefix}_{feature}"
            for prefix, _, _ in self.payment_pairs_
            for feature in PAYMENT_FEATURES
        ]

    def _derive(self, frame: pd.DataFrame) -> Mapping[str, np.ndarray]:
        return self.derive_with(frame, status_features, payment_features)

    def derive_with(
        self,
        frame: Any,
        status: Callable[[np.ndarray], Mapping[str, np.ndarray]],
        payment: Callable[..., Mapping[str, np.ndarray]],
    ) -> dict[str, np.ndarray]:
        """The derived features, each history summarised by ``status`` and ``payment``
        (:func:`status_features`, :func:`payment_features`, or the runtime's compiled
        equivalents, :mod:`greenscore.models.runtime.history`)."""
        name = type(self).__name__
        out: dict[str, np.ndarray] = {}
        for prefix, columns in self.status_groups_:
            for feature, values in status(numeric_block(frame, columns, name)).items():
                out[f"{prefix}_{feature}"] = values
        for prefix, balance_cols, payment_cols in self.payment_pairs_:
            features = payment(
                numeric_block(frame, balance_cols, name),
                numeric_block(frame, payment_cols, name),
                minimum_share=self.minimum_payment_share,
            )
            for feature, values in features.items():
                out[f"{prefix}_{feature}"] = values
        return out
