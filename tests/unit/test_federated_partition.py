"""Splitting one dataset into lenders: disjoint, complete, and skewed the way asked."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from greenscore.errors import ConfigError, DataError
from greenscore.federated.partition import (
    ERR_REGIONS,
    ERR_SPLIT,
    split_by_region,
    split_iid,
    split_label_skew,
    split_lenders,
    split_portfolios,
    split_quantity_skew,
)


def _labels(n: int = 4000, rate: float = 0.22, seed: int = 0) -> np.ndarray:
    return (np.random.default_rng(seed).random(n) < rate).astype(int)


def _check_partition(parts: list[np.ndarray], n: int) -> None:
    joined = np.concatenate(parts)
    assert len(joined) == n and np.unique(joined).size == n  # disjoint and complete


def test_iid_parts_are_equal_and_alike() -> None:
    y = _labels()
    parts = split_iid(y, 4, seed=1)
    _check_partition(parts, len(y))
    assert max(len(p) for p in parts) - min(len(p) for p in parts) <= 1
    assert np.ptp([y[p].mean() for p in parts]) < 0.05


def test_label_skew_gives_lenders_different_default_rates() -> None:
    y = _labels()
    parts = split_label_skew(y, 5, alpha=0.3, seed=2)
    _check_partition(parts, len(y))
    rates = [y[p].mean() for p in parts]
    assert np.ptp(rates) > 0.1
    assert all(0 < r < 1 for r in rates)


def test_quantity_skew_gives_lenders_different_sizes() -> None:
    y = _labels()
    parts = split_quantity_skew(y, 5, alpha=0.3, seed=3)
    _check_partition(parts, len(y))
    sizes = sorted(len(p) for p in parts)
    assert sizes[-1] > 3 * sizes[0]


def test_region_split_keeps_whole_regions_with_one_lender() -> None:
    rng = np.random.default_rng(4)
    regions = pd.Series(rng.choice(["north", "south", "east", "west", "centre"], 3000))
    y = _labels(3000)
    parts = split_by_region(y, regions, 3, seed=4)
    _check_partition(parts, 3000)
    owners = {}
    for k, rows in enumerate(parts):
        for region in regions.iloc[rows].unique():
            assert owners.setdefault(region, k) == k


def test_region_split_refuses_more_lenders_than_regions() -> None:
    y = _labels(500)
    with pytest.raises(ConfigError) as err:
        split_by_region(y, pd.Series(["a", "b"] * 250), 3)
    assert err.value.message == ERR_REGIONS.format(found=2, lenders=3)


def test_portfolios_keep_every_default_rate_within_bounds() -> None:
    y = _labels(6000, rate=0.22)
    parts = split_portfolios(y, 5, alpha=0.5, rate_bounds=(0.05, 0.5), seed=5)
    _check_disjoint = np.concatenate(parts)
    assert np.unique(_check_disjoint).size == len(_check_disjoint)
    rates = [y[p].mean() for p in parts]
    assert all(0.05 - 1e-9 <= r <= 0.5 + 1e-9 for r in rates)
    assert np.ptp([len(p) for p in parts]) > 0  # sizes differ too


def test_unknown_split_and_too_little_data_are_refused_by_name() -> None:
    y = _labels(100)
    frame = pd.DataFrame({"x": range(100)})
    with pytest.raises(ConfigError) as err:
        split_lenders(frame, y, method="random", lenders=2)
    assert err.value.message.startswith(ERR_SPLIT.split("{")[0])
    with pytest.raises(DataError, match="cannot make 10 lenders"):
        split_lenders(frame, y, method="iid", lenders=10)
    with pytest.raises(DataError, match="needs a 'region' column"):
        split_lenders(frame, y, method="region", lenders=2)
