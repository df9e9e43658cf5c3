"""Tests for FeatureSelector: each method keeps the signal and explains every decision."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from greenscore.errors import ConfigError, DataError
from greenscore.features import FeatureSelector


def _data(n: int = 400) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(7)
    signal = rng.normal(size=n)
    y = (signal + 0.5 * rng.normal(size=n) > 0.3).astype(int)
    X = pd.DataFrame(
        {
            "signal": signal,
            "twin": 2 * signal + 0.01 * rng.normal(size=n),
            "noise": rng.normal(size=n),
            "flat": np.ones(n),
            "grade": pd.Categorical(np.where(y == 1, "B", "A")),
        },
        index=pd.RangeIndex(500, 500 + n, name="id"),
    )
    X.loc[X.index[:5], "noise"] = np.nan
    return X, y


def _kept(selector: FeatureSelector) -> set[str]:
    return set(selector.selected_)


def test_mutual_info_top_k_and_report() -> None:
    X, y = _data()
    sel = FeatureSelector(method="mutual_info", k=2).fit(X, y)
    assert _kept(sel) <= {"signal", "twin", "grade"}
    assert len(sel.selected_) == 2
    report = sel.selection_report()
    assert list(report.columns) == ["feature", "score", "kept", "reason"]
    assert report["kept"].tolist()[:2] == [True, True]
    assert set(report["feature"]) == set(X.columns)
    out = sel.transform(X)
    assert list(out.columns) == sel.selected_ and out.index.equals(X.index)
    assert list(sel.get_feature_names_out()) == sel.selected_


def test_chi2_drops_noise_by_p_value() -> None:
    X, y = _data()
    sel = FeatureSelector(method="chi2").fit(X, y)
    assert {"signal", "grade"} <= _kept(sel)
    assert "noise" not in _kept(sel)
    assert sel.report_.set_index("feature").loc["noise", "reason"].startswith("p-value")


def test_correlation_drops_one_twin() -> None:
    X, y = _data()
    sel = FeatureSelector(method="correlation", threshold=0.9).fit(X, y)
    assert len({"signal", "twin"} & _kept(sel)) == 1
    dropped = sel.report_[~sel.report_["kept"]]
    assert dropped["reason"].str.contains("with '(?:signal|twin)'").any()


def test_vif_drops_twin_and_constant() -> None:
    X, _ = _data()
    sel = FeatureSelector(method="vif", threshold=10).fit(X)
    report = sel.report_.set_index("feature")
    assert report.loc["flat", "reason"] == "constant"
    assert len({"signal", "twin"} & _kept(sel)) == 1
    assert "noise" in _kept(sel)


def test_rfecv_and_importance_keep_the_signal() -> None:
    X, y = _data()
    rfe = FeatureSelector(method="rfecv", cv=3).fit(X, y)
    assert _kept(rfe) & {"signal", "twin", "grade"}
    imp = FeatureSelector(method="importance", k=1).fit(X, y)
    assert _kept(imp) <= {"signal", "twin", "grade"}


def test_bad_configuration() -> None:
    X, y = _data()
    with pytest.raises(ConfigError, match="method"):
        FeatureSelector(method="lasso").fit(X, y)
    with pytest.raises(DataError, match="needs the training targets"):
        FeatureSelector(method="chi2").fit(X)
