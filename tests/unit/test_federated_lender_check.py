"""A lender whose columns do not match the federation's spec is refused, by name."""

from __future__ import annotations

import pandas as pd
import pytest

from greenscore.data.spec import DatasetSpec
from greenscore.errors import DataError
from greenscore.federated.lender_data import (
    ERR_EXTRA,
    ERR_KIND,
    ERR_MISSING,
    ERR_TARGET,
    check_columns,
    load_lender,
)

SPEC = DatasetSpec(
    name="toy",
    target="default",
    id_column="id",
    numeric=["income", "debt"],
    categorical=["grade"],
)


def _frame(**changes: object) -> pd.DataFrame:
    frame = pd.DataFrame(
        {
            "id": [1, 2, 3, 4],
            "income": [10.0, 20.0, 30.0, 40.0],
            "debt": [1.0, 2.0, 3.0, 4.0],
            "grade": ["A", "B", "A", "C"],
            "default": [0, 1, 0, 1],
        }
    )
    for column, values in changes.items():
        if values is None:
            frame = frame.drop(columns=column)
        else:
            frame[column] = values
    return frame


def test_matching_columns_pass() -> None:
    check_columns(_frame(), SPEC, lender="bank-a")


def test_missing_column_is_named() -> None:
    with pytest.raises(DataError) as err:
        check_columns(_frame(debt=None), SPEC, lender="bank-a")
    assert err.value.message == ERR_MISSING.format(lender="bank-a", columns=["debt"], spec="toy")


def test_undeclared_column_is_refused_not_trained_on() -> None:
    with pytest.raises(DataError) as err:
        check_columns(_frame(branch=["x", "y", "x", "y"]), SPEC, lender="bank-b")
    assert err.value.message == ERR_EXTRA.format(lender="bank-b", columns=["branch"], spec="toy")


def test_text_in_a_numeric_column_is_refused() -> None:
    with pytest.raises(DataError) as err:
        check_columns(_frame(income=["10", "n/a", "x", "40"]), SPEC, lender="bank-c")
    assert err.value.message == ERR_KIND.format(
        lender="bank-c", column="income", spec="toy", dtype="object"
    )


def test_missing_target_is_refused() -> None:
    with pytest.raises(DataError) as err:
        check_columns(_frame(default=None), SPEC, lender="bank-d")
    assert err.value.message == ERR_TARGET.format(lender="bank-d", target="default", spec="toy")


def test_load_lender_reads_and_checks_a_file(tmp_path) -> None:
    path = tmp_path / "bank.csv"
    _frame(extra=[1, 2, 3, 4]).to_csv(path, index=False)
    with pytest.raises(DataError, match="does not declare"):
        load_lender(path, SPEC, lender="bank-e")
    _frame().to_csv(path, index=False)
    data = load_lender(path, SPEC, lender="bank-e")
    assert list(data.y) == [0, 1, 0, 1] and set(data.X.columns) == {"income", "debt", "grade"}
