"""Tests for TypeCoercer: float numerics, fixed categories, unseen levels as NaN."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from greenscore.data.spec import DatasetSpec
from greenscore.errors import DataError
from greenscore.features import TypeCoercer


def _frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "grade": ["A", "B", None, "A"],
            "education": [1, 2, 3, 2],
            "income": [10, 20, np.nan, 40],
        },
        index=pd.Index([11, 12, 13, 14], name="ID"),
    )


def _spec() -> DatasetSpec:
    return DatasetSpec(target="y", categorical=["education"])


def test_types_levels_and_index() -> None:
    coercer = TypeCoercer(spec=_spec()).fit(_frame())
    out = coercer.transform(_frame())
    assert out.index.equals(_frame().index)
    assert list(out.columns) == ["grade", "education", "income"]
    assert out["income"].dtype == np.float64
    assert isinstance(out["grade"].dtype, pd.CategoricalDtype)
    assert list(out["grade"].cat.categories) == ["A", "B"]
    assert list(out["education"].cat.categories) == [1, 2, 3]
    assert coercer.categorical_columns_ == ["grade", "education"]


def test_unseen_categories_become_missing_not_errors() -> None:
    coercer = TypeCoercer(spec=_spec()).fit(_frame())
    new = pd.DataFrame(
        {"grade": ["C", "B"], "education": ["2", "9"], "income": [5, 6]}, index=[101, 102]
    )
    out = coercer.transform(new)
    assert out["grade"].isna().tolist() == [True, False]
    # Codes sent as text (a JSON payload) still match the numeric training levels.
    assert out["education"].tolist()[0] == 2
    assert pd.isna(out["education"].tolist()[1])
    assert list(out["grade"].cat.categories) == ["A", "B"]


def test_text_in_a_numeric_column_is_named() -> None:
    coercer = TypeCoercer(spec=_spec()).fit(_frame())
    bad = _frame().astype({"income": object})
    bad.loc[12, "income"] = "lots"
    with pytest.raises(DataError, match="'income'.*'lots'"):
        coercer.transform(bad)


def test_missing_column_and_non_frame_are_data_errors() -> None:
    coercer = TypeCoercer().fit(_frame())
    with pytest.raises(DataError, match=r"lacks columns .*income"):
        coercer.transform(_frame().drop(columns="income"))
    with pytest.raises(DataError, match="expects a pandas DataFrame"):
        coercer.transform(_frame().to_numpy())


def test_set_output_pandas_keeps_index_and_names() -> None:
    coercer = TypeCoercer(spec=_spec()).set_output(transform="pandas")
    out = coercer.fit_transform(_frame())
    assert out.index.equals(_frame().index)
    assert list(coercer.get_feature_names_out()) == list(out.columns)
