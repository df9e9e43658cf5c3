"""Inputs outside the training data: flagged and clipped, or refused; unknown categories flagged."""

from __future__ import annotations

import pytest

from greenscore.errors import DataError
from greenscore.serving.validation import InputGuard, input_hash

RANGES = {
    "income": {"min": 1000.0, "max": 200000.0, "p01": 5000.0, "p99": 150000.0},
    "housing": {"levels": ["own", "rent"]},
    "unused": {"min": 0.0, "max": 1.0},
}


def test_out_of_range_values_are_clipped_and_flagged() -> None:
    guard = InputGuard(RANGES, ["income", "housing"])
    row = {"income": 1e12, "housing": "rent"}
    flags = guard.check(row)
    assert [(f.field, f.issue, f.action) for f in flags] == [
        ("income", "above_training_range", "clipped")
    ]
    assert row["income"] == 200000.0
    row = {"income": -5.0, "housing": None}
    assert guard.check(row)[0].issue == "below_training_range" and row["income"] == 1000.0


def test_margin_widens_the_accepted_range() -> None:
    guard = InputGuard(RANGES, ["income"], margin=0.1)
    assert guard.check({"income": 210000.0}) == []
    assert guard.check({"income": 230000.0})[0].issue == "above_training_range"


def test_refusing_guard_names_the_field() -> None:
    guard = InputGuard(RANGES, ["income", "housing"], refuse=True)
    with pytest.raises(DataError, match=r"field 'income': 1e\+12 is outside the training range"):
        guard.check({"income": 1e12, "housing": "own"})


def test_unknown_categories_are_flagged_not_changed() -> None:
    guard = InputGuard(RANGES, ["income", "housing"])
    row = {"income": 5000.0, "housing": "yacht"}
    flags = guard.check(row)
    assert [(f.field, f.issue, f.action) for f in flags] == [
        ("housing", "unknown_category", "flagged")
    ]
    assert row["housing"] == "yacht"


def test_input_hash_depends_on_inputs_and_id_only() -> None:
    a = input_hash({"income": 1.0, "housing": "own", "email": "x"}, ["income", "housing"], 7)
    b = input_hash({"housing": "own", "income": 1.0}, ["income", "housing"], 7)
    assert a == b and len(a) == 64
    assert a != input_hash({"income": 2.0, "housing": "own"}, ["income", "housing"], 7)
    assert a != input_hash({"income": 1.0, "housing": "own"}, ["income", "housing"], 8)
