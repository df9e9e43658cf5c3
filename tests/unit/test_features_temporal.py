"""Tests for TemporalFeatures: level, volatility, slope, recency over variable-length histories."""

from __future__ import annotations

import numpy as np
import pandas as pd

from greenscore.data.spec import DatasetSpec, SequenceGroup
from greenscore.features import TemporalFeatures

NAN = np.nan


def _spec() -> DatasetSpec:
    return DatasetSpec(
        target="y",
        sequences=[
            SequenceGroup(name="bal", kind="balance", columns=["m1", "m2", "m3", "m4"]),
            SequenceGroup(name="dpd", kind="status", columns=["d1", "d2", "d3", "d4"]),
        ],
    )


def _frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "m1": [1, NAN, 0, NAN, 0],
            "m2": [2, NAN, 3, NAN, 0],
            "m3": [3, 5, 0, NAN, 0],
            "m4": [4, 7, 0, 9, 0],
            "d1": [-1, 0, 0, 0, 0],
            "d2": [-2, 0, 0, 0, 0],
            "d3": [1, 0, 0, 0, 0],
            "d4": [0, 0, 0, 0, 0],
        },
        index=["a", "b", "c", "d", "e"],
    )


def test_balance_summaries_known_answers() -> None:
    out = TemporalFeatures(spec=_spec(), recent_months=1).fit_transform(_frame())
    np.testing.assert_allclose(out["bal_last"], [4, 7, 0, 9, 0])
    np.testing.assert_allclose(out["bal_mean"], [2.5, 6, 0.75, 9, 0])
    np.testing.assert_allclose(out["bal_std"], [np.sqrt(1.25), 1, np.sqrt(27 / 16), NAN, 0])
    np.testing.assert_allclose(out["bal_slope"], [1, 2, -0.3, NAN, 0])
    # Recent window = last month; older = the observed months before it.
    np.testing.assert_allclose(out["bal_recent_change"], [4 - 2, 7 - 5, 0 - 1, NAN, 0])
    # Months since last non-zero: 0 = latest month; never = censored at observed months.
    np.testing.assert_allclose(out["bal_months_since_nonzero"], [0, 0, 2, 0, 4])
    np.testing.assert_allclose(out["bal_observed_months"], [4, 2, 4, 1, 4])


def test_status_recency_counts_only_delinquency() -> None:
    out = TemporalFeatures(spec=_spec()).fit_transform(_frame())
    np.testing.assert_allclose(out["dpd_months_since_delinquent"], [1, 4, 4, 4, 4])
    assert "dpd_months_since_nonzero" not in out


def test_all_missing_history_gives_nan_not_zero() -> None:
    frame = _frame()
    frame.loc["d", ["m4"]] = NAN
    out = TemporalFeatures(spec=_spec()).fit_transform(frame)
    row = out.loc[
        "d", [c for c in out.columns if c.startswith("bal_") and c != "bal_observed_months"]
    ]
    assert row.isna().all()
    assert out.loc["d", "bal_observed_months"] == 0


def test_names_and_index() -> None:
    step = TemporalFeatures(spec=_spec())
    out = step.fit_transform(_frame())
    assert list(out.columns) == list(step.get_feature_names_out())
    assert out.index.tolist() == ["a", "b", "c", "d", "e"]
    assert len(step.derived_names_) == 14
