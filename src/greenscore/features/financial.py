"""Financial ratios: affordability and credit use, from the spec's column roles and histories.

Which ratios exist depends on what the spec can name: ``income``, ``debt``,
``loan_amount``, ``credit_limit``, ``interest_rate`` and ``term`` roles, and the first
``balance``/``payment`` sequence pair. Income is taken to be annual (as in every shipped
preset) and the term to be in months. Every division is safe: a zero or missing
denominator gives NaN, never inf.
"""

from __future__ import annotations

from collections.abc import Mapping
from numbers import Real

import numpy as np
import pandas as pd
from sklearn.utils._param_validation import Interval

from greenscore.data.spec import DatasetSpec
from greenscore.features._base import (
    FrameTransformer,
    numeric_block,
    present_roles,
    safe_divide,
    snake,
    usable_groups,
)

# A simple ratio per pair of roles: name -> (numerator role, denominator role).
ROLE_RATIOS: dict[str, tuple[str, str]] = {
    "debt_to_income": ("debt", "income"),
    "loan_to_income": ("loan_amount", "income"),
    "credit_limit_to_income": ("credit_limit", "income"),
    "loan_to_credit_limit": ("loan_amount", "credit_limit"),
    "loan_amount_per_term_month": ("loan_amount", "term"),
}


def monthly_instalment(
    amount: np.ndarray, annual_rate: np.ndarray, months: np.ndarray
) -> np.ndarray:
    """Level monthly payment of an amortising loan (``annual_rate`` as a fraction, e.g. 0.12).

    A zero rate repays the amount in equal parts; a non-positive term gives NaN.
    """
    amount = np.asarray(amount, dtype=float)
    r = np.asarray(annual_rate, dtype=float) / 12.0
    n = np.asarray(months, dtype=float)
    n = np.where(n > 0, n, np.nan)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        amortising = amount * r / (1.0 - (1.0 + r) ** (-n))
        payment = np.where(np.abs(r) > 1e-12, amortising, amount / n)
    payment[~np.isfinite(payment)] = np.nan
    return payment


def payment_to_bill(balance: np.ndarray, payment: np.ndarray, *, cap: float | None) -> np.ndarray:
    """Monthly ratios ``payment[:, t] / balance[:, t - 1]`` (NaN where nothing was owed)."""
    owed = balance[:, :-1]
    ratio = safe_divide(payment[:, 1:], np.where(owed > 0, owed, np.nan))
    if cap is not None:
        ratio = np.minimum(ratio, cap)
    return ratio


def _row_mean(values: np.ndarray) -> np.ndarray:
    seen = ~np.isnan(values)
    count = seen.sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(count > 0, np.where(seen, values, 0.0).sum(axis=1) / count, np.nan)


def _row_last(values: np.ndarray) -> np.ndarray:
    last = np.full(values.shape[0], np.nan)
    for t in range(values.shape[1]):
        last = np.where(np.isnan(values[:, t]), last, values[:, t])
    return last


class FinancialFeatures(FrameTransformer):
    """Debt-to-income, loan-to-income, utilisation, payment-to-bill and instalment ratios.

    Parameters
    ----------
    spec : DatasetSpec, optional
        Supplies column roles and sequences; a ratio whose inputs are absent is not made.
    ratio_cap : float or None, default=10.0
        Upper cap on each monthly payment-to-bill ratio, so one tiny bill paid off with a
        large payment does not dominate the average. None keeps raw ratios.

    Attributes
    ----------
    roles_ : dict of str to str
        Roles found in the data (role -> column).
    rate_scale_ : float
        100 when the training interest rates look like percentages (median above 1), else 1.
    balance_columns_, payment_columns_ : list of str
        The first balance/payment sequence pair (empty when absent).
    derived_names_ : list of str
        Some of ``debt_to_income``, ``loan_to_income``, ``credit_limit_to_income``,
        ``loan_to_credit_limit``, ``loan_amount_per_term_month``, ``credit_utilisation``
        (latest), ``credit_utilisation_mean``, ``credit_utilisation_max``,
        ``<payment>_to_<balance>_ratio_mean``, ``<payment>_to_<balance>_ratio_last``,
        ``monthly_instalment`` and ``instalment_to_income``.
    """

    _parameter_constraints: dict = {
        "spec": [DatasetSpec, None],
        "ratio_cap": [Interval(Real, 0, None, closed="neither"), None],
    }

    def __init__(self, *, spec: DatasetSpec | None = None, ratio_cap: float | None = 10.0) -> None:
        self.spec = spec
        self.ratio_cap = ratio_cap

    def _fit(self, frame: pd.DataFrame, y: object) -> None:
        self.roles_ = present_roles(self.spec, frame.columns)
        balances = usable_groups(self.spec, frame.columns, ["balance"])
        payments = usable_groups(self.spec, frame.columns, ["payment"])
        self.balance_columns_ = list(balances[0].columns) if balances else []
        pair_ok = bool(balances and payments) and len(balances[0].columns) == len(
            payments[0].columns
        )
        self.payment_columns_ = list(payments[0].columns) if pair_ok else []
        self.pair_prefix_ = (
            f"{snake(payments[0].name)}_to_{snake(balances[0].name)}_ratio" if pair_ok else ""
        )
        self.rate_scale_ = 1.0
        if "interest_rate" in self.roles_:
            rates = numeric_block(frame, [self.roles_["interest_rate"]], type(self).__name__)
            median = np.nanmedian(rates) if np.isfinite(rates).any() else 0.0
            self.rate_scale_ = 100.0 if median > 1.0 else 1.0

        names = [n for n, (a, b) in ROLE_RATIOS.items() if a in self.roles_ and b in self.roles_]
        if "credit_limit" in self.roles_ and (self.balance_columns_ or "debt" in self.roles_):
            names.append("credit_utilisation")
            if self.balance_columns_:
                names += ["credit_utilisation_mean", "credit_utilisation_max"]
        if self.payment_columns_:
            names += [f"{self.pair_prefix_}_mean", f"{self.pair_prefix_}_last"]
        if {"loan_amount", "interest_rate", "term"} <= set(self.roles_):
            names.append("monthly_instalment")
            if "income" in self.roles_:
                names.append("instalment_to_income")
        self.derived_names_ = names

    def _role(self, frame: pd.DataFrame, role: str) -> np.ndarray:
        return numeric_block(frame, [self.roles_[role]], type(self).__name__)[:, 0]

    def _derive(self, frame: pd.DataFrame) -> Mapping[str, np.ndarray]:
        name = type(self).__name__
        wanted = set(self.derived_names_)
        out: dict[str, np.ndarray] = {}
        for feature, (num, den) in ROLE_RATIOS.items():
            if feature in wanted:
                out[feature] = safe_divide(self._role(frame, num), self._role(frame, den))
        if "credit_utilisation" in wanted:
            limit = self._role(frame, "credit_limit")
            if self.balance_columns_:
                balance = numeric_block(frame, self.balance_columns_, name)
                monthly = safe_divide(balance, limit[:, None])
                out["credit_utilisation"] = _row_last(monthly)
                out["credit_utilisation_mean"] = _row_mean(monthly)
                seen = ~np.isnan(monthly)
                out["credit_utilisation_max"] = np.where(
                    seen.any(axis=1), np.where(seen, monthly, -np.inf).max(axis=1), np.nan
                )
            else:
                out["credit_utilisation"] = safe_divide(self._role(frame, "debt"), limit)
        if self.payment_columns_:
            ratios = payment_to_bill(
                numeric_block(frame, self.balance_columns_, name),
                numeric_block(frame, self.payment_columns_, name),
                cap=self.ratio_cap,
            )
            out[f"{self.pair_prefix_}_mean"] = _row_mean(ratios)
            out[f"{self.pair_prefix_}_last"] = ratios[:, -1]
        if "monthly_instalment" in wanted:
            instalment = monthly_instalment(
                self._role(frame, "loan_amount"),
                self._role(frame, "interest_rate") / self.rate_scale_,
                self._role(frame, "term"),
            )
            out["monthly_instalment"] = instalment
            if "instalment_to_income" in wanted:
                out["instalment_to_income"] = safe_divide(
                    instalment, self._role(frame, "income") / 12.0
                )
        return out
