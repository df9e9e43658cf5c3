"""Inputs outside the training data: flagged and clipped, or refused; unknown categories
flagged, others normalised whatever their case; the spec's domain rules refuse or flag;
a frame is checked exactly as its rows are one by one."""

from __future__ import annotations

import re
from typing import get_args

import numpy as np
import pandas as pd
import pytest

from greenscore.data.input_rules import (
    ACTIONS,
    IMPLAUSIBLE,
    ISSUES,
    NORMALISED,
    OUT_OF_DOMAIN,
    SENT_KEY,
    UNKNOWN_CATEGORY,
    InputRules,
)
from greenscore.data.spec import DatasetSpec
from greenscore.errors import DataError
from greenscore.serving.schemas import FlagIssue, InputFlag
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


# ---------------------------------------------------------------------- the spec's rules
SPEC = DatasetSpec(
    target="bad",
    numeric=["income", "age", "months"],
    categorical=["grade", "housing"],
    protected=["age"],
    roles={"age": "age"},
    amount_columns=["income"],
    bounds={"months": (1, 480)},
    strip_quotes=True,
)
SPEC_RANGES = {
    "income": {"min": 4000.0, "max": 200000.0},
    "months": {"min": 6.0, "max": 72.0},
    "grade": {"levels": ["A", "B", "C"]},
    "housing": {"levels": ["own", "Own", "rent"]},
}
COLUMNS = ["income", "months", "grade", "housing"]  # age is protected: not a model input


def _guard(**kwargs) -> InputGuard:
    return InputGuard(SPEC_RANGES, COLUMNS, spec=SPEC, **kwargs)


def _row(**values) -> dict:
    return {"income": 50000.0, "months": 24.0, "grade": "A", "housing": "own"} | values


def test_quotes_and_numeric_text_are_read_as_in_a_file() -> None:
    row = _row(grade="'B'", income="52000", months="?")
    assert _guard().check(row) == []
    assert row["grade"] == "B" and row["income"] == 52000.0 and row["months"] is None
    with pytest.raises(DataError, match=r"^field 'income': 'lots' is not a number$"):
        _guard().check(_row(income="lots"))


def test_implausible_values_are_refused_naming_the_field() -> None:
    message = OUT_OF_DOMAIN.format(where="field 'income'", value=-60000.0, bounds=">= 0")
    with pytest.raises(DataError, match=re.escape(message)):
        _guard().check(_row(income=-60000.0))
    with pytest.raises(
        DataError, match=r"field 'months': 0 is outside the plausible range \[1, 480\]"
    ):
        _guard().check(_row(months=0.0))


def test_flagged_instead_the_value_sent_is_kept_for_the_reasons() -> None:
    row = _row(income=-60000.0)
    flags = _guard(refuse_implausible=False).check(row)
    assert [(f.field, f.issue, f.value, f.action) for f in flags] == [
        ("income", IMPLAUSIBLE, -60000.0, "clipped")
    ]
    assert row["income"] == 4000.0 and row[SENT_KEY] == {"income": -60000.0}


def test_a_value_seen_in_training_is_never_implausible() -> None:
    ranges = SPEC_RANGES | {"months": {"min": 0.0, "max": 600.0}}
    guard = InputGuard(ranges, COLUMNS, spec=SPEC)
    assert guard.check(_row(months=0.0)) == [] and guard.check(_row(months=590.0)) == []


def test_fields_the_model_does_not_read_are_flagged_not_refused() -> None:
    payload = _row(age=-5) | {"email": "x"}
    row = {c: payload[c] for c in COLUMNS}
    flags = _guard().check(row, payload)
    assert [(f.field, f.issue, f.value, f.action) for f in flags] == [
        ("age", IMPLAUSIBLE, -5.0, "flagged")
    ]
    assert _guard().check(dict(row), _row(age="not given")) == []


def test_categories_match_the_training_levels_whatever_their_case() -> None:
    row = _row(grade="b", housing="RENT ")
    flags = _guard().check(row)
    assert [(f.field, f.issue, f.value, f.action) for f in flags] == [
        ("grade", NORMALISED, "b", "normalised"),
        ("housing", NORMALISED, "RENT ", "normalised"),
    ]
    assert (row["grade"], row["housing"]) == ("B", "rent")
    assert row[SENT_KEY] == {"grade": "b", "housing": "RENT "}
    row = _row(housing="OWN")  # own and Own were both training levels: no guess
    assert [(f.issue, f.action) for f in _guard().check(row)] == [(UNKNOWN_CATEGORY, "flagged")]
    assert row["housing"] == "OWN"


def test_a_frame_is_checked_as_its_rows_are_one_by_one() -> None:
    rng = np.random.default_rng(4)
    n = 60
    frame = pd.DataFrame(
        {
            "income": rng.choice([-10.0, 0.0, 3000.0, 50000.0, 9e9, np.nan], n),
            "months": rng.choice([0.0, 5.0, 24.0, 100.0, 500.0, np.nan], n),
            "grade": rng.choice(["A", "b", " c", "Z", None], n),
            "housing": rng.choice(["own", "OWN", "Rent", None], n),
        }
    )
    others = pd.DataFrame({"age": rng.choice([-5.0, 30.0, 150.0, np.nan], n)})
    rules = InputRules(SPEC_RANGES, COLUMNS, spec=SPEC, margin=0.1)
    checked = rules.check_frame(frame, others=others, refuse_domain=False)
    for i in range(n):
        row = {c: (None if pd.isna(v) else v) for c, v in frame.iloc[i].items()}
        flags = rules.check_row(row, others=others.iloc[i].to_dict(), refuse_domain=False)
        assert checked.flags[i] == flags, i
        row.pop(SENT_KEY, None)
        repaired = checked.frame.iloc[i].to_dict()
        assert {c: (None if pd.isna(v) else v) for c, v in repaired.items()} == row, i
    refused = rules.check_frame(frame, others=others, refuse_domain=True).problems
    rows = sorted({p.position for p in refused})
    assert rows == [i for i in range(n) if frame.income[i] < 0 or frame.months[i] in (0.0, 500.0)]
    assert refused[0].message.startswith(f"row {refused[0].row}, column '")


def test_repair_is_what_every_pd_goes_through() -> None:
    rules = InputRules(SPEC_RANGES, COLUMNS, spec=SPEC)
    frame = pd.DataFrame(
        {
            "income": [9e9, 100.0],
            "months": [24.0, 1.0],
            "grade": ["b", "Z"],
            "housing": ["OWN", "own"],
        }
    )
    out = rules.repair(frame)
    assert out["income"].tolist() == [200000.0, 4000.0] and out["months"].tolist() == [24.0, 6.0]
    assert out["grade"].tolist() == ["B", "Z"] and out["housing"].tolist() == ["OWN", "own"]
    fine = frame.iloc[[1]].assign(income=5000.0, months=24.0, grade="A")
    assert rules.repair(fine) is fine  # nothing to change: no copy


def test_the_hash_tells_apart_requests_whose_reasons_would_differ() -> None:
    a = {"grade": "B", "income": 1.0}
    b = a | {SENT_KEY: {"grade": "b"}}
    assert input_hash(a, ["grade", "income"], 1) != input_hash(b, ["grade", "income"], 1)


def test_flag_issues_and_actions_are_the_api_schemas() -> None:
    assert set(get_args(FlagIssue)) == set(ISSUES)
    assert set(get_args(InputFlag.model_fields["action"].annotation)) == set(ACTIONS)


def test_a_monthly_history_keeps_its_direction_when_clipped() -> None:
    """Each month clipped to its own training range turned a falling balance into a rising
    one (``balance_recent_change`` -4444 scored as +907); the months of a history share one
    range, the widest of theirs, so clipping can flatten a history but never turn it."""
    spec = DatasetSpec.model_validate(
        {
            "target": "default",
            "sequences": [{"name": "balance", "kind": "balance", "columns": ["b3", "b2", "b1"]}],
        }
    )
    ranges = {
        "b3": {"min": 0.0, "max": 9000.0},
        "b2": {"min": 0.0, "max": 6000.0},
        "b1": {"min": 0.0, "max": 3000.0},  # the latest month, oldest first
    }
    rules = InputRules(ranges, ["b3", "b2", "b1"], spec=spec)
    falling = pd.DataFrame({"b3": [8000.0], "b2": [7000.0], "b1": [5000.0]})
    out = rules.repair(falling)
    assert out.iloc[0].tolist() == [8000.0, 7000.0, 5000.0]  # inside the history's range
    steep = pd.DataFrame({"b3": [20000.0], "b2": [12000.0], "b1": [10000.0]})
    assert rules.repair(steep).iloc[0].tolist() == [9000.0, 9000.0, 9000.0]  # flat, not up
