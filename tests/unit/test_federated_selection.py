"""Choosing lenders per round: at random, by size, by their record of answering."""

from __future__ import annotations

from collections import Counter

import pytest

from greenscore.errors import ConfigError
from greenscore.federated.selection import Selector


def test_fraction_one_takes_everyone() -> None:
    assert Selector("size", 1.0, sizes={1: 10, 2: 20}).choose([2, 1, 3]) == [1, 2, 3]


def test_size_policy_prefers_large_lenders() -> None:
    selector = Selector("size", 0.25, min_lenders=1, sizes={1: 10, 2: 10, 3: 10, 4: 1000}, seed=1)
    counts = Counter(n for _ in range(200) for n in selector.choose([1, 2, 3, 4]))
    assert counts[4] > 150


def test_availability_policy_avoids_lenders_that_drop_out() -> None:
    selector = Selector("availability", 0.5, min_lenders=1, seed=2)
    for _ in range(5):
        selector.observe([1, 2, 3, 4], answered=[1, 2, 3])  # lender 4 never answers
    counts = Counter(n for _ in range(200) for n in selector.choose([1, 2, 3, 4]))
    assert counts[4] < 0.3 * counts[1]


def test_excluded_lenders_are_never_chosen() -> None:
    assert Selector("random", 1.0).choose([1, 2, 3], excluded=[2]) == [1, 3]


def test_bad_policy_and_fraction_are_refused() -> None:
    with pytest.raises(ConfigError, match="--selection must be one of"):
        Selector("greedy")
    with pytest.raises(ConfigError, match="--fraction must be in"):
        Selector("random", 0.0)
