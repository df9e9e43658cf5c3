"""Tests for WoEBinner: WoE transform on training bins, IV table, categoricals and missing."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from greenscore.errors import NotFoundError
from greenscore.features import WoEBinner


def _data(n: int = 600) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(3)
    risk = rng.normal(size=n)
    grade = np.where(risk > 0.5, "C", np.where(risk > -0.5, "B", "A"))
    y = (risk + 0.7 * rng.normal(size=n) > 0.4).astype(int)
    X = pd.DataFrame(
        {"risk": risk, "noise": rng.normal(size=n), "grade": pd.Categorical(grade)},
        index=pd.RangeIndex(10, 10 + n, name="id"),
    )
    X.loc[X.index[:30], "risk"] = np.nan
    return X, y


def test_woe_transform_keeps_shape_and_index() -> None:
    X, y = _data()
    binner = WoEBinner().fit(X, y)
    out = binner.transform(X)
    assert out.index.equals(X.index)
    assert list(out.columns) == ["risk", "noise", "grade"]
    assert np.isfinite(out.to_numpy()).all()
    # Higher risk -> more defaults -> WoE moves monotonically away from the safe end.
    woe_low = out.loc[X["risk"] < -1, "risk"].mean()
    woe_high = out.loc[X["risk"] > 1, "risk"].mean()
    assert np.sign(woe_low) != np.sign(woe_high)


def test_iv_table_ranks_signal_first() -> None:
    X, y = _data()
    table = WoEBinner().fit(X, y).iv_table()
    assert list(table.columns) == ["feature", "iv", "n_bins"]
    assert table["feature"].iloc[-1] == "noise"
    assert table.set_index("feature").loc["risk", "iv"] > 0.3


def test_binning_table_and_unknown_feature() -> None:
    X, y = _data()
    binner = WoEBinner(max_n_bins=4).fit(X, y)
    table = binner.binning_table("grade")
    assert "WoE" in table.columns
    with pytest.raises(NotFoundError, match="no binning for feature 'salary'"):
        binner.binning_table("salary")


def test_unseen_category_is_neutral_and_missing_is_binned() -> None:
    X, y = _data()
    binner = WoEBinner().fit(X, y)
    new = pd.DataFrame(
        {"risk": [np.nan], "noise": [0.0], "grade": pd.Categorical(["Z"])}, index=[99999]
    )
    out = binner.transform(new)
    assert out.loc[99999, "grade"] == pytest.approx(0.0, abs=1e-9)
    missing_woe = binner.transform(X.iloc[:1]).iloc[0]["risk"]
    assert out.loc[99999, "risk"] == pytest.approx(missing_woe)
