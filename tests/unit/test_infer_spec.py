"""Spec inference on an unfamiliar, untidy credit file: labels, ids, dates, PII, types,
money columns, roles, monthly histories and protected attributes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from greenscore.data.infer import TOO_MANY_LEVELS as TOO_MANY_LEVELS_NOTE
from greenscore.data.infer import guess_target, infer_positive_label, infer_spec, tokens
from greenscore.data.io import read_table
from greenscore.data.loading import load_dataset
from greenscore.data.spec import DatasetSpec
from greenscore.data.validation import TOO_MANY_LEVELS, validate
from greenscore.errors import DataError
from greenscore.workflows.load import load_validated

N = 60


def _luhn_number(seed: int) -> str:
    digits = [4] + [int(d) for d in f"{seed:014d}"]
    total = 0
    for i, d in enumerate(reversed(digits)):
        if i % 2 == 0:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    check = (10 - total % 10) % 10
    number = "".join(map(str, digits)) + str(check)
    return " ".join(number[i : i + 4] for i in range(0, 16, 4))


@pytest.fixture
def odd() -> pd.DataFrame:
    """A lender's export: mixed types, placeholders, odd labels, PII under plain names."""
    rng = np.random.default_rng(3)
    income = rng.integers(20_000, 90_000, N).astype(str).astype(object)
    income[[4, 17, 33]] = "?"
    loan = rng.integers(1_000, 20_000, N).astype(float)
    loan[[2, 9]] = np.nan
    dpd = rng.integers(0, 4, (N, 4)).astype(float)
    dpd[:10, 0] = np.nan  # short histories
    frame = pd.DataFrame(
        {
            "Customer ID": [f"C{i:04d}" for i in range(N)],
            "Full Name": [f"Person {i}" for i in range(N)],
            "E-mail": [f"p{i}@example.org" for i in range(N)],
            "contact": [f"+44 20 7946 {i:04d}" for i in range(N)],
            "payment_card": [_luhn_number(1000 + 7 * i) for i in range(N)],
            "application_date": pd.date_range("2021-01-01", periods=N, freq="D").strftime(
                "%Y-%m-%d"
            ),
            "AnnualIncome": income,
            "loan_amt": loan,
            "loan_pct_income": rng.random(N).round(3),
            "Gender": rng.choice(["M", "F", " f ", "n/a"], N),
            "MaritalStatus": rng.choice(["single", "married", "div."], N),
            "Age": rng.integers(19, 80, N),
            "region_code": rng.integers(1, 5, N),
            "own_telephone": rng.choice(["yes", "none"], N),
            "dpd_m1": dpd[:, 0],
            "dpd_m2": dpd[:, 1],
            "dpd_m3": dpd[:, 2],
            "dpd_m10": dpd[:, 3],
            "BAL_1": rng.integers(0, 900, N),
            "BAL_2": rng.integers(0, 900, N),
            "BAL_3": rng.integers(0, 900, N),
            "notes": [f"free text remark number {i}" for i in range(N)],
            "employer_id": [f"E{i}" for i in range(N - 3)] + ["E1", "E2", "E3"],
            "empty": [np.nan] * N,
            "Outcome": rng.choice(["Fully Paid", "Charged Off"], N, p=[0.7, 0.3]),
        }
    )
    return frame


def test_odd_file(odd: pd.DataFrame) -> None:
    spec = infer_spec(odd, target="Outcome", name="lender")
    assert spec.name == "lender"
    assert spec.positive_label == "Charged Off"
    assert spec.id_column == "Customer ID"
    assert spec.time_column == "application_date"
    assert set(spec.pii) == {"Full Name", "E-mail", "contact", "payment_card"}
    assert "AnnualIncome" in spec.numeric  # numbers with "?" placeholders are still numbers
    assert {"Gender", "MaritalStatus", "region_code", "own_telephone"} <= set(spec.categorical)
    assert {"Age", "loan_amt", "loan_pct_income"} <= set(spec.numeric)
    assert {"notes", "employer_id", "empty"} <= set(spec.drop)
    assert set(spec.protected) == {"Gender", "MaritalStatus", "Age"}
    assert spec.roles == {"income": "AnnualIncome", "loan_amount": "loan_amt", "age": "Age"}
    assert set(spec.amount_columns) == {"AnnualIncome", "loan_amt", "BAL_1", "BAL_2", "BAL_3"}
    groups = {g.name: g for g in spec.sequences}
    assert groups["dpd_m"].columns == [
        "dpd_m1",
        "dpd_m2",
        "dpd_m3",
        "dpd_m10",
    ]  # by number, not text
    assert groups["dpd_m"].kind == "status"
    assert groups["bal"].kind == "balance"
    features = set(spec.feature_columns(list(odd.columns)))
    assert not features & {"Outcome", "Customer ID", "Full Name", "E-mail", "application_date"}


def test_inferred_spec_round_trips_and_validates_without_errors(
    odd: pd.DataFrame, tmp_path: Path
) -> None:
    spec = infer_spec(odd, target="Outcome")
    spec.to_yaml(tmp_path / "s.yaml")
    assert DatasetSpec.from_yaml(tmp_path / "s.yaml") == spec
    assert validate(odd, spec).errors == []
    path = tmp_path / "odd.csv"
    odd.to_csv(path, index=False)
    dataset = load_dataset(path, target="Outcome")
    assert pd.api.types.is_float_dtype(dataset.frame["AnnualIncome"])  # "?" became NaN
    assert dataset.frame["AnnualIncome"].isna().sum() == 3
    assert validate(dataset.frame, dataset.spec).errors == []
    assert dataset.y.sum() == (odd["Outcome"] == "Charged Off").sum()


def test_payment_families_and_row_counter() -> None:
    frame = pd.DataFrame(
        {
            "seq": range(1, 41),
            "PAY_0": [0, 1] * 20,
            "PAY_2": [1, 0] * 20,
            "PAY_3": [2, 0] * 20,
            "PAY_AMT1": range(40),
            "PAY_AMT2": range(40),
            "PAY_AMT3": range(40),
            "y": [0, 1, 0, 0] * 10,
        }
    )
    spec = infer_spec(frame, target="y")
    assert spec.id_column == "seq"  # a unique increasing integer with no meaning in its name
    kinds = {g.name: (g.kind, g.columns) for g in spec.sequences}
    assert kinds["pay"] == ("status", ["PAY_0", "PAY_2", "PAY_3"])
    assert kinds["pay_amt"] == ("payment", ["PAY_AMT1", "PAY_AMT2", "PAY_AMT3"])


def test_arff_quotes_are_detected_and_stripped_before_labels_are_read() -> None:
    frame = pd.DataFrame(
        {
            "checking_status": ["'<0'", "'0<=X<200'", "'no checking'", "'<0'"] * 5,
            "amount": range(20),
            "class": ["'good'", "'bad'", "'good'", "'good'"] * 5,
        }
    )
    spec = infer_spec(frame, target="class")
    assert spec.strip_quotes is True
    assert spec.positive_label == "bad"


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ([0, 1, 0, 0], 1),
        ([0.0, 1.0, 0.0], 1),
        ([True, False, False], True),
        (["good", "bad", "good"], "bad"),
        (["N", "Y", "N"], "Y"),
        (["no default", "default", "no default"], "default"),
        (["non-default", "Default", "non-default"], "Default"),
        (["Fully Paid", "Charged Off", "Fully Paid"], "Charged Off"),
        (["0", "1", "0"], "1"),
        ([2, 1, 1, 1], 2),
        (["A", "B", "B", "B"], "A"),
    ],
)
def test_positive_label(values: list, expected: object) -> None:
    label = infer_positive_label(pd.Series(values))
    assert label == expected
    assert type(label) is type(expected)


def test_missing_target_names_close_matches() -> None:
    frame = pd.DataFrame({"loan_status": [0, 1], "income": [1, 2]})
    with pytest.raises(
        DataError, match=r"target column 'loan_stat' not found; did you mean 'loan_status'\?"
    ):
        infer_spec(frame, target="loan_stat")
    with pytest.raises(DataError, match="did you mean 'loan_status'"):
        infer_spec(frame, target="LOAN_STATUS")
    with pytest.raises(DataError, match="the columns are: loan_status, income"):
        infer_spec(frame, target="zzz")


def test_non_binary_target() -> None:
    frame = pd.DataFrame({"grade": ["A", "B", "C", "A"], "x": [1, 2, 3, 4]})
    with pytest.raises(DataError, match="exactly two values .* found 3: 'A', 'B', 'C'"):
        infer_spec(frame, target="grade")
    constant = pd.DataFrame({"bad": [0, 0, 0], "x": [1, 2, 3]})
    with pytest.raises(DataError, match="found 1"):
        infer_spec(constant, target="bad")


def test_empty_frame_is_refused() -> None:
    with pytest.raises(DataError, match="without rows"):
        infer_spec(pd.DataFrame({"bad": []}), target="bad")


def test_tokens() -> None:
    assert tokens("BILL_AMT1") == ["bill", "amt", "1"]
    assert tokens("annualIncome") == ["annual", "income"]
    assert tokens("default.payment.next.month") == ["default", "payment", "next", "month"]


# ---------------------------------------------------------------------- issue 11, item 8
DATA = Path(__file__).parents[3] / "shared" / "data"
TEXTS = ["n.k.", "self-employed", "varies"]


def _incomes(n: int = 3000) -> pd.DataFrame:
    rng = np.random.default_rng(8)
    income = rng.integers(4_000, 200_000, n).astype(str).astype(object)
    income[[n // 300, n // 6, n // 3 * 2]] = TEXTS
    return pd.DataFrame(
        {
            "person_income": income,
            "loan_grade": rng.choice(list("ABCDEFG"), n),
            "loan_status": rng.integers(0, 2, n),
        }
    )


def test_a_mostly_numeric_column_is_numeric_and_its_few_texts_are_missing(tmp_path: Path) -> None:
    frame = _incomes()
    spec = infer_spec(frame, target="loan_status")
    assert "person_income" in spec.numeric and "person_income" not in spec.categorical
    assert spec.missing_values == {"person_income": TEXTS}
    path = tmp_path / "apps.csv"
    frame.to_csv(path, index=False)
    dataset, warnings = load_validated(path, target="loan_status")
    income = dataset.frame["person_income"]
    assert income.dtype == float and income.isna().sum() == 3
    assert [w for w in warnings if "person_income" in w and "'varies'" in w]


def test_a_column_with_many_texts_stays_text() -> None:
    frame = _incomes(200)
    frame.loc[:30, "person_income"] = [f"band {i % 12}" for i in range(31)]
    spec = infer_spec(frame, target="loan_status")
    assert "person_income" not in spec.numeric and spec.missing_values == {}


def test_a_categorical_with_too_many_levels_is_refused_naming_it() -> None:
    frame = _incomes(400).assign(branch=[f"BR{i % 80:03d}" for i in range(400)])
    frame["person_income"] = pd.to_numeric(frame["person_income"], errors="coerce")
    spec = DatasetSpec(target="loan_status", categorical=["loan_grade", "branch"])
    errors = validate(frame, spec).errors
    assert [(f.rule, f.column) for f in errors] == [(TOO_MANY_LEVELS, "branch")]
    assert "'branch' has 80 distinct values, more than 50" in errors[0].message
    assert validate(frame, spec.model_copy(update={"max_category_levels": 100})).ok
    inferred = infer_spec(frame, target="loan_status")
    assert "branch" in inferred.drop and "branch" not in inferred.categorical
    assert inferred.descriptions["branch"] == TOO_MANY_LEVELS_NOTE.format(n=80, limit=50)


@pytest.mark.parametrize(
    ("file", "target"),
    [
        ("german_credit.csv", "class"),
        ("UCI_Credit_Card.csv", "default.payment.next.month"),
        ("credit_risk_dataset.csv", "loan_status"),  # not cb_person_default_on_file
    ],
)
def test_the_target_is_guessed_from_the_column_names(file: str, target: str) -> None:
    assert guess_target(read_table(DATA / file)) == target


def test_a_target_that_cannot_be_guessed_is_asked_for() -> None:
    with pytest.raises(DataError, match="no two-valued column is named like a target"):
        guess_target(pd.DataFrame({"income": [1, 2, 3], "grade": ["a", "b", "a"]}))
    tied = pd.DataFrame({"bad": [0, 1, 0], "is_bad": [1, 0, 1], "x": [1, 2, 3]})
    with pytest.raises(DataError, match="several two-valued columns .*: bad, is_bad"):
        guess_target(tied)
    assert infer_spec(_incomes(100)).target == "loan_status"


def test_german_personal_status_is_protected() -> None:
    spec = infer_spec(read_table(DATA / "german_credit.csv"))
    assert spec.target == "class" and spec.positive_label == "bad"
    assert {"personal_status", "age", "foreign_worker"} <= set(spec.protected)
