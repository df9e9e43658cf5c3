"""Tests for FinancialFeatures: role ratios, utilisation, payment-to-bill, instalments."""

from __future__ import annotations

import numpy as np
import pandas as pd

from greenscore.data.spec import DatasetSpec, SequenceGroup
from greenscore.features import FinancialFeatures
from greenscore.features.financial import monthly_instalment

NAN = np.nan


def _spec(**roles: str) -> DatasetSpec:
    return DatasetSpec(
        target="y",
        roles=roles,
        sequences=[
            SequenceGroup(name="bill", kind="balance", columns=["b1", "b2", "b3"]),
            SequenceGroup(name="pay", kind="payment", columns=["p1", "p2", "p3"]),
        ],
    )


def test_role_ratios_are_safe() -> None:
    frame = pd.DataFrame(
        {"inc": [50_000, 0, NAN], "debt": [10_000, 5, 5], "amt": [25_000, 1, 1]}, index=[7, 8, 9]
    )
    spec = _spec(income="inc", debt="debt", loan_amount="amt")
    out = FinancialFeatures(spec=spec).fit_transform(frame)
    np.testing.assert_allclose(out["debt_to_income"], [0.2, NAN, NAN])
    np.testing.assert_allclose(out["loan_to_income"], [0.5, NAN, NAN])
    assert np.isfinite(out["debt_to_income"].to_numpy()[0])
    assert not np.isinf(out.select_dtypes("number").to_numpy()).any()
    assert out.index.tolist() == [7, 8, 9]
    assert "credit_utilisation" not in out  # no credit limit role


def test_utilisation_and_payment_to_bill() -> None:
    frame = pd.DataFrame(
        {
            "lim": [1000, 0],
            "b1": [100, 100],
            "b2": [400, 0],
            "b3": [500, 50],
            "p1": [0, 0],
            "p2": [50, 100_000],
            "p3": [400, 10],
        }
    )
    out = FinancialFeatures(spec=_spec(credit_limit="lim"), ratio_cap=10.0).fit_transform(frame)
    np.testing.assert_allclose(out["credit_utilisation"], [0.5, NAN])
    np.testing.assert_allclose(out["credit_utilisation_mean"], [1 / 3, NAN])
    np.testing.assert_allclose(out["credit_utilisation_max"], [0.5, NAN])
    # Row 0: 50/100 and 400/400. Row 1: 100000/100 capped at 10; nothing owed the month after.
    np.testing.assert_allclose(out["pay_to_bill_ratio_mean"], [0.75, 10.0])
    np.testing.assert_allclose(out["pay_to_bill_ratio_last"], [1.0, NAN])


def test_instalment_formula_and_percent_rates() -> None:
    np.testing.assert_allclose(monthly_instalment([1200.0], [0.0], [12]), [100.0])
    np.testing.assert_allclose(monthly_instalment([1200.0], [0.12], [12]), [106.6185], rtol=1e-5)
    assert np.isnan(monthly_instalment([1200.0], [0.12], [0])[0])
    spec = _spec(income="inc", loan_amount="amt", interest_rate="rate", term="n")
    frame = pd.DataFrame(
        {"inc": [12_000, 24_000], "amt": [1200, 1200], "rate": [12.0, 12.0], "n": [12, 12]}
    )
    step = FinancialFeatures(spec=spec).fit(frame)
    assert step.rate_scale_ == 100.0
    out = step.transform(frame)
    np.testing.assert_allclose(out["monthly_instalment"], [106.6185, 106.6185], rtol=1e-5)
    np.testing.assert_allclose(out["instalment_to_income"], [0.1066185, 0.05330925], rtol=1e-5)
    np.testing.assert_allclose(out["loan_amount_per_term_month"], [100.0, 100.0])


def test_no_roles_no_features() -> None:
    frame = pd.DataFrame({"x": [1.0, 2.0]})
    step = FinancialFeatures(spec=DatasetSpec(target="y", roles={"income": "absent"})).fit(frame)
    assert step.derived_names_ == []
    pd.testing.assert_frame_equal(step.transform(frame), frame)
