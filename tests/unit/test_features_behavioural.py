"""Tests for BehaviouralFeatures: delinquency streaks and repayment behaviour."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from greenscore.data.spec import DatasetSpec, SequenceGroup
from greenscore.features import BehaviouralFeatures
from greenscore.features.behavioural import payment_features

NAN = np.nan


def _spec() -> DatasetSpec:
    return DatasetSpec(
        target="y",
        sequences=[
            SequenceGroup(name="Status", kind="status", columns=[f"s{i}" for i in range(6)]),
            SequenceGroup(name="bill", kind="balance", columns=["b0", "b1", "b2", "b3"]),
            SequenceGroup(name="paid", kind="payment", columns=["p0", "p1", "p2", "p3"]),
        ],
    )


def _status_frame() -> pd.DataFrame:
    rows = [
        [-2, -1, 0, 1, 2, 0],  # delinquent twice, recovered
        [0, 1, 1, 0, 1, 2],  # currently two months late and worsening
        [NAN, NAN, NAN, 1, 1, 1],  # short history, late throughout
        [NAN] * 6,  # no history at all
        [NAN, NAN, NAN, NAN, NAN, 3],  # one month observed
    ]
    return pd.DataFrame(rows, columns=[f"s{i}" for i in range(6)], index=[5, 6, 7, 8, 9])


def test_status_features_known_answers() -> None:
    out = BehaviouralFeatures(spec=_spec()).fit_transform(_status_frame())
    got = out[
        [
            f"status_{f}"
            for f in (
                "months_delinquent",
                "max_delinquency",
                "current_streak",
                "longest_streak",
                "worsening",
            )
        ]
    ]
    expected = np.array(
        [
            [2, 2, 0, 2, 0],
            [4, 2, 2, 2, 1],
            [3, 1, 3, 3, 0],
            [NAN, NAN, NAN, NAN, NAN],
            [1, 3, 1, 1, NAN],
        ]
    )
    np.testing.assert_array_equal(got.to_numpy(), expected)
    assert out.index.tolist() == [5, 6, 7, 8, 9]


def test_payment_behaviour_known_answers() -> None:
    frame = pd.DataFrame(
        {
            "b0": [100, 100, NAN],
            "b1": [200, 100, NAN],
            "b2": [0, 100, 50],
            "b3": [50, 100, 80],
            "p0": [NAN, 0, NAN],
            "p1": [100, 0, NAN],
            "p2": [200, 50, NAN],
            "p3": [0, 1, 50],
        }
    )
    out = BehaviouralFeatures(spec=_spec(), minimum_payment_share=0.05).fit_transform(frame)
    # Row 0: both months with a balance owed were paid in full, the last one was owed nothing.
    # Row 1: payments 0, 50, 1 against 100 owed: two below 5 % of the balance, the last one too.
    # Row 2: one comparable month, paid in full in the latest month.
    np.testing.assert_allclose(out["paid_paid_in_full_ratio"], [1.0, 0.0, 1.0])
    np.testing.assert_allclose(out["paid_below_minimum_ratio"], [0.0, 2 / 3, 0.0])
    np.testing.assert_allclose(out["paid_months_since_full_payment"], [1.0, 3.0, 0.0])
    np.testing.assert_allclose(out["paid_underpayment_streak"], [0.0, 1.0, 0.0])


def test_one_month_payment_history_compares_no_month() -> None:
    # A spec's sequence has two months or more, but the function takes any history: the
    # first payment settles a bill from before it, so one month compares nothing.
    out = payment_features(
        np.array([[100.0], [NAN]]), np.array([[100.0], [5.0]]), minimum_share=0.05
    )
    np.testing.assert_array_equal(out["paid_in_full_ratio"], [NAN, NAN])
    np.testing.assert_array_equal(out["below_minimum_ratio"], [NAN, NAN])
    np.testing.assert_array_equal(out["months_since_full_payment"], [NAN, NAN])
    np.testing.assert_array_equal(out["underpayment_streak"], [0.0, 0.0])


def test_spec_without_sequences_adds_nothing() -> None:
    frame = _status_frame()
    step = BehaviouralFeatures(spec=DatasetSpec(target="y")).fit(frame)
    assert step.derived_names_ == []
    pd.testing.assert_frame_equal(step.transform(frame), frame)


def test_group_with_a_missing_column_is_skipped() -> None:
    frame = _status_frame().drop(columns="s3")
    step = BehaviouralFeatures(spec=_spec()).fit(frame)
    assert step.derived_names_ == []


@pytest.mark.parametrize("share", [-0.1, 1.5])
def test_invalid_parameter_is_a_config_error(share: float) -> None:
    from greenscore.errors import ConfigError

    with pytest.raises(ConfigError, match="minimum_payment_share"):
        BehaviouralFeatures(spec=_spec(), minimum_payment_share=share).fit(_status_frame())
