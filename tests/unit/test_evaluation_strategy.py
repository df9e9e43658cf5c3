"""Cut-off strategy tables: approval and bad rates per PD cut-off, and suggested cut-offs."""

from __future__ import annotations

import numpy as np
import pytest

from greenscore.evaluation.strategy import (
    cutoff_for_approval_rate,
    cutoff_for_bad_rate,
    cutoff_options,
    strategy_table,
)


@pytest.fixture(scope="module")
def portfolio() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(1)
    pd_ = rng.beta(2, 6, 5000)
    y = (rng.random(5000) < pd_).astype(int)
    return y, pd_


def test_bands_run_safest_first_with_cumulative_rates(portfolio):
    y, pd_ = portfolio
    table = strategy_table(y, pd_, approve_below=0.10, decline_above=0.30)
    assert len(table) == 10 and table["band"].tolist() == list(range(1, 11))
    assert table["PD from"].is_monotonic_increasing and table["bad rate"].iloc[0] < 0.1
    assert table["approval rate"].iloc[-1] == pytest.approx(1.0)
    assert table["bad rate among approved"].iloc[-1] == pytest.approx(y.mean())
    assert table["bad rate among approved"].is_monotonic_increasing
    assert table["defaults declined"].iloc[-1] == pytest.approx(0.0)
    # Band 3's row: approving its applicants and every safer one.
    safe = pd_ <= table["PD to"].iloc[2]
    assert table["approval rate"].iloc[2] == pytest.approx(safe.mean())
    assert table["defaults approved per 100 applicants"].iloc[2] == pytest.approx(
        y[safe].sum() / len(y) * 100
    )
    # Each current cut-off is marked once, in the band that holds it.
    marks = table["current cut-offs"]
    holder = table[(table["PD from"] <= 0.30) & (table["PD to"] >= 0.30)].index
    assert marks.str.contains("decline above 0.3").sum() == 1
    assert marks[holder].str.contains("decline above 0.3").all()


def test_suggested_cut_offs_reach_their_targets(portfolio):
    y, pd_ = portfolio
    cut = cutoff_for_approval_rate(pd_, 0.7)
    assert (pd_ <= cut).mean() == pytest.approx(0.7, abs=1e-3)
    target = 0.12
    cut = cutoff_for_bad_rate(y, pd_, target)
    assert y[pd_ <= cut].mean() <= target
    higher = np.sort(pd_[pd_ > cut])[0]
    assert y[pd_ <= higher].mean() > target  # the next cut-off up would break the target
    assert cutoff_for_bad_rate(np.ones(10, dtype=int), np.linspace(0.1, 0.9, 10), 0.2) is None
    with pytest.raises(ValueError, match="target bad rate must lie in"):
        cutoff_for_bad_rate(y, pd_, 0.0)


def test_options_show_the_current_cut_offs_beside_the_targets(portfolio):
    y, pd_ = portfolio
    options = cutoff_options(y, pd_, approve_below=0.10, decline_above=0.30)
    current = options.iloc[0]
    assert current["target"].startswith("current: approve below 0.1")
    assert current["approval rate"] == pytest.approx((pd_ < 0.10).mean())
    assert options.iloc[1]["approval rate"] == pytest.approx((pd_ <= 0.30).mean())
    approve_70 = options[options["target"] == "approve 70%"].iloc[0]
    assert approve_70["approval rate"] == pytest.approx(0.7, abs=1e-3)
    bad = options[options["target"].str.startswith("bad rate")]
    # A quarter, half and three quarters of the portfolio's 25.3 % default rate.
    assert bad["target"].str.extract(r"(\d+\.\d)%")[0].tolist() == ["6.5", "12.5", "19.0"]
    assert (bad["bad rate among approved"].to_numpy() <= [0.065, 0.125, 0.19]).all()
