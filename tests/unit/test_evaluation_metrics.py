"""Credit metrics against hand-computed values and scikit-learn."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.stats import rankdata
from sklearn.metrics import (
    average_precision_score,
    brier_score_loss,
    roc_auc_score,
    roc_curve,
)

from greenscore.errors import DataError
from greenscore.evaluation import metrics as m

Y = np.array([0, 0, 1, 1])
P = np.array([0.1, 0.4, 0.35, 0.8])


@pytest.fixture(scope="module")
def noisy() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(3)
    y = rng.integers(0, 2, 600)
    # Rounded to 2 decimals so there are many ties, the case hand-rolled code gets wrong.
    p = np.round(np.clip(0.25 * y + rng.random(600) * 0.75, 0, 1), 2)
    return y, p


# ------------------------------------------------------------------ hand-computed
def test_auc_hand_example() -> None:
    # Pairs (default, non-default): (0.35, 0.1) yes, (0.35, 0.4) no, (0.8, *) yes: 3 of 4.
    assert m.auc(Y, P) == pytest.approx(0.75)
    assert m.gini(Y, P) == pytest.approx(0.5)


def test_auc_counts_ties_half() -> None:
    assert m.auc([0, 1], [0.5, 0.5]) == pytest.approx(0.5)
    assert m.auc([0, 0, 1], [0.2, 0.5, 0.5]) == pytest.approx(0.75)


def test_ks_hand_example() -> None:
    # Sorted by PD: 0.8 (bad), 0.4 (good), 0.35 (bad), 0.1 (good): TPR-FPR peaks at 0.5.
    assert m.ks(Y, P) == pytest.approx(0.5)
    assert m.ks([0, 0, 1, 1], [0.1, 0.2, 0.8, 0.9]) == pytest.approx(1.0)


def test_ks_does_not_split_ties() -> None:
    # All four rows share one PD: no cut-off separates them, so KS is 0.
    assert m.ks([0, 1, 0, 1], [0.3, 0.3, 0.3, 0.3]) == pytest.approx(0.0)


def test_brier_hand_example() -> None:
    expected = (0.1**2 + 0.4**2 + 0.65**2 + 0.2**2) / 4
    assert m.brier(Y, P) == pytest.approx(expected)


def test_pr_auc_hand_example() -> None:
    # Ranked 0.8 (bad), 0.4 (good), 0.35 (bad): AP = 0.5 * 1 + 0.5 * 2/3.
    assert m.pr_auc(Y, P) == pytest.approx(0.5 + 0.5 * 2 / 3)


def test_ece_hand_example() -> None:
    # Two bins; each has mean PD 0.1 / 0.9 and observed rate 0.5: gap 0.4 both.
    assert m.ece([0, 1, 0, 1], [0.1, 0.1, 0.9, 0.9], n_bins=2) == pytest.approx(0.4)
    assert m.ece([0, 1], [0.0, 1.0]) == pytest.approx(0.0)


def test_ece_weights_bins_by_rows() -> None:
    # Bin [0, .5): 3 rows, mean PD 0.2, observed 1/3 (gap 2/15); bin [.5, 1]: 1 row, gap 0.
    value = m.ece([0, 0, 1, 1], [0.2, 0.2, 0.2, 1.0], n_bins=2)
    assert value == pytest.approx(0.75 * abs(1 / 3 - 0.2))


def test_calibration_curve_puts_one_in_last_bin() -> None:
    curve = m.calibration_curve([0, 1, 1], [0.0, 0.95, 1.0], n_bins=10)
    assert list(curve["bin"]) == [0, 9]
    last = curve.iloc[-1]
    assert last["count"] == 2 and last["lower"] == pytest.approx(0.9)
    assert last["upper"] == pytest.approx(1.0)
    assert curve["weight"].sum() == pytest.approx(1.0)


# ------------------------------------------------------------------ agreement with sklearn
def test_agrees_with_sklearn(noisy: tuple[np.ndarray, np.ndarray]) -> None:
    y, p = noisy
    assert m.auc(y, p) == pytest.approx(roc_auc_score(y, p), abs=1e-12)
    assert m.brier(y, p) == pytest.approx(brier_score_loss(y, p), abs=1e-12)
    assert m.pr_auc(y, p) == pytest.approx(average_precision_score(y, p), abs=1e-12)
    fpr, tpr, _ = roc_curve(y, p)
    assert m.ks(y, p) == pytest.approx(np.max(tpr - fpr), abs=1e-12)


def test_midrank_matches_scipy(noisy: tuple[np.ndarray, np.ndarray]) -> None:
    _, p = noisy
    np.testing.assert_allclose(m.midrank(p), rankdata(p))


def test_credit_metrics_keys_and_values(noisy: tuple[np.ndarray, np.ndarray]) -> None:
    y, p = noisy
    out = m.credit_metrics(y, p)
    assert set(out) == {"auc", "gini", "ks", "brier", "pr_auc", "ece"}
    assert all(isinstance(v, float) for v in out.values())
    assert out["gini"] == pytest.approx(2 * out["auc"] - 1)
    assert out["ece"] == pytest.approx(m.ece(y, p))


# ------------------------------------------------------------------ score bands
def test_score_band_table_on_pd_riskiest_first() -> None:
    y = np.array([1, 1, 0, 1, 0, 0, 0, 0])
    p = np.array([0.9, 0.8, 0.7, 0.6, 0.4, 0.3, 0.2, 0.1])
    table = m.score_band_table(y, p, n_bands=4)
    assert list(table["band"]) == [1, 2, 3, 4]
    assert list(table["count"]) == [2, 2, 2, 2]
    assert list(table["bads"]) == [2, 1, 0, 0]
    assert table.loc[0, "min_score"] == pytest.approx(0.8)
    assert table.loc[0, "max_score"] == pytest.approx(0.9)
    assert list(table["cum_bad_rate"]) == pytest.approx([1.0, 0.75, 0.5, 3 / 8])
    assert list(table["cum_bad_share"]) == pytest.approx([2 / 3, 1.0, 1.0, 1.0])


def test_score_band_table_on_points_lowest_points_first() -> None:
    y = np.array([1, 0, 0, 0])
    p = np.array([0.5, 0.1, 0.2, 0.3])
    points = np.array([500.0, 700.0, 650.0, 600.0])
    table = m.score_band_table(y, p, points=points, n_bands=2)
    assert table.loc[0, "min_score"] == 500.0 and table.loc[0, "bads"] == 1
    assert table.loc[1, "max_score"] == 700.0 and table.loc[1, "bads"] == 0


def test_score_band_table_never_splits_tied_scores() -> None:
    y = np.array([0, 1, 0, 1, 0, 0])
    p = np.array([0.2, 0.2, 0.2, 0.2, 0.5, 0.6])
    table = m.score_band_table(y, p, n_bands=4)
    assert table["count"].sum() == 6
    assert (table["min_score"] == 0.2).sum() == 1  # the four 0.2s share one band


# ------------------------------------------------------------------ bad input
@pytest.mark.parametrize(
    ("y", "p", "message"),
    [
        ([0, 1, 1], [0.1, 0.2], "y has 3 rows but p has 2"),
        ([0, 2], [0.1, 0.2], "y must hold only 0 and 1"),
        ([0, 1], [0.1, 1.2], "row 1 holds 1.2"),
        ([0, 1], [np.nan, 0.5], "row 0 holds nan"),
        ([], [], "empty"),
        ([[0, 1]], [[0.1, 0.2]], "one-dimensional"),
    ],
)
def test_bad_inputs_raise_data_error(y: object, p: object, message: str) -> None:
    with pytest.raises(DataError, match=message):
        m.auc(y, p)


def test_single_class_names_the_metric() -> None:
    with pytest.raises(DataError, match="AUC needs both defaults and non-defaults"):
        m.auc([0, 0, 0], [0.1, 0.2, 0.3])
    # Brier is defined on a single class.
    assert m.brier([0, 0], [0.0, 0.5]) == pytest.approx(0.125)


def test_bool_and_pandas_inputs() -> None:
    y = pd.Series([False, False, True, True])
    assert m.auc(y, pd.Series(P)) == pytest.approx(0.75)


def test_bad_bins() -> None:
    with pytest.raises(DataError, match="n_bins must be a positive integer"):
        m.ece(Y, P, n_bins=0)
    with pytest.raises(DataError, match="n_bands must be a positive integer"):
        m.score_band_table(Y, P, n_bands=0)
