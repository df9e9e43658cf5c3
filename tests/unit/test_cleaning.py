"""Cleaning raw rows as the spec says, alike for a frame and one value: quotes, BOM,
missing markers, numbers as text, unreadable values named by row and column."""

from __future__ import annotations

import codecs
import math
import pickle
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from greenscore.data.cleaning import (
    TEXT_AS_MISSING,
    UNREADABLE,
    clean_frame,
    missing_tokens,
    read_number,
    unquote,
    unreadable_values,
)
from greenscore.data.loading import load_dataset
from greenscore.data.presets import load_preset
from greenscore.data.spec import DatasetSpec
from greenscore.data.validation import TEXT_READ_AS_MISSING, validate
from greenscore.errors import DataError

SPEC = DatasetSpec(
    target="bad",
    numeric=["income"],
    categorical=["grade"],
    strip_quotes=True,
    missing_values={"income": ["unk", "refused"]},
)
NUMBERS = [12, 12.5, "12", " 12.5 ", "'7'", "?", "n/a", "NA", None, np.nan, "UNK", "-", "1e3", "-4"]
GRADES = ["'A'", "B", "'<0'", "'it''s'", None, "''", "'", "C'"]


def test_a_frame_is_cleaned_value_by_value_as_one_applicant_is() -> None:
    raw = pd.DataFrame(
        {
            "income": pd.Series(NUMBERS, dtype=object),
            "grade": pd.Series((GRADES * 2)[: len(NUMBERS)], dtype=object),
            "bad": [0, 1] * (len(NUMBERS) // 2),
        }
    )
    out = clean_frame(raw, SPEC)
    missing = missing_tokens(SPEC, "income")
    one_by_one = [read_number(v, strip_quotes=True, missing=missing) for v in NUMBERS]
    np.testing.assert_array_equal(out["income"].to_numpy(), np.array(one_by_one))
    assert out["income"].tolist()[:5] == [12.0, 12.5, 12.0, 12.5, 7.0]
    assert math.isnan(out["income"].iat[10])  # "UNK": the spec's own missing marker
    expected = [unquote(v, strip_quotes=True) for v in raw["grade"]]
    assert out["grade"].tolist() == expected
    assert expected[:4] == ["A", "B", "<0", "it''s"] and expected[5:8] == ["", "'", "C'"]
    assert out.attrs[TEXT_AS_MISSING] == {"income": ["UNK"]}


def test_column_names_lose_a_byte_order_mark_and_spaces() -> None:
    raw = pd.DataFrame({"\ufeffgrade": ["A"], " income ": ["1"], "bad": [0]})
    assert list(clean_frame(raw, SPEC).columns) == ["grade", "income", "bad"]


def test_an_unreadable_number_names_its_row_and_column() -> None:
    raw = pd.DataFrame({"income": ["1", "lots", "2", "x"], "grade": ["A"] * 4, "bad": [0] * 4})
    problems = unreadable_values(raw, SPEC)
    assert [(p.row, p.column, p.value) for p in problems] == [
        (1, "income", "lots"),
        (3, "income", "x"),
    ]
    message = UNREADABLE.format(row=1, column="income", value="lots", more="")
    assert problems[0].message == message == "row 1, column 'income': 'lots' is not a number"
    with pytest.raises(
        DataError, match=r"^row 1, column 'income': 'lots' is not a number \(1 more"
    ):
        clean_frame(raw, SPEC)
    lenient = clean_frame(raw, SPEC, strict=False)
    assert lenient["income"].tolist() == ["1", "lots", "2", "x"]  # for validation to name


def test_read_number_refuses_text() -> None:
    with pytest.raises(ValueError, match="'lots' is not a number"):
        read_number("lots", strip_quotes=False, missing=missing_tokens(SPEC, "income"))


def test_text_the_spec_reads_as_missing_is_a_validation_warning(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    income = rng.integers(1000, 9000, 40).astype(str).astype(object)
    income[[3, 9]] = "refused"
    path = tmp_path / "apps.csv"
    pd.DataFrame({"income": income, "grade": ["A", "B"] * 20, "bad": [0, 1] * 20}).to_csv(
        path, index=False
    )
    dataset = load_dataset(path, spec=SPEC)
    assert dataset.frame["income"].isna().sum() == 2
    warnings = [f for f in validate(dataset.frame, SPEC).warnings if f.rule == TEXT_READ_AS_MISSING]
    assert len(warnings) == 1 and warnings[0].column == "income"
    assert "'refused'" in warnings[0].message


def test_a_file_with_a_bom_and_semicolons_loads_like_the_plain_one(tmp_path: Path) -> None:
    frame = pd.DataFrame({"grade": ["'A'", "'B'"], "income": ["1.5", "?"], "bad": [0, 1]})
    plain, other = tmp_path / "a.csv", tmp_path / "b.csv"
    frame.to_csv(plain, index=False)
    other.write_bytes(codecs.BOM_UTF8 + frame.to_csv(index=False, sep=";").encode())
    a, b = load_dataset(plain, spec=SPEC).frame, load_dataset(other, spec=SPEC).frame
    pd.testing.assert_frame_equal(a, b)
    assert a["grade"].tolist() == ["A", "B"]


def test_derived_columns_need_their_source_only_when_loading(tmp_path: Path) -> None:
    german = load_preset("german")
    raw = pd.DataFrame(
        {"age": [30], "personal_status": ["'female div/dep/mar'"], "class": ["good"]}
    )
    assert clean_frame(raw, german)["sex"].tolist() == ["female"]
    assert "sex" not in clean_frame(raw.drop(columns="personal_status"), german).columns
    path = tmp_path / "g.csv"
    raw.drop(columns="personal_status").to_csv(path, index=False)
    with pytest.raises(DataError, match="derived column 'sex' needs missing column"):
        load_dataset(path, spec=german)


def test_a_spec_pickled_before_new_fields_reads_them_as_defaults() -> None:
    spec = load_preset("german")
    state = spec.__getstate__()
    for name in ("bounds", "missing_values", "max_category_levels"):
        del state["__dict__"][name]
    old = DatasetSpec.__new__(DatasetSpec)
    old.__setstate__(state)
    assert old.bounds == {} and old.missing_values == {} and old.max_category_levels is None
    assert old.domain_bounds()["age"] == (18, 100)
    assert pickle.loads(pickle.dumps(old)) == spec
