"""TabularEncoder: numerics, categoricals and sequences as the nets read them."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from greenscore.data.spec import DatasetSpec, SequenceGroup
from greenscore.errors import DataError
from greenscore.models.torch.encoding import TabularEncoder

SPEC = DatasetSpec(
    target="y",
    id_column="id",
    categorical=["grade"],
    sequences=[
        SequenceGroup(name="dpd", columns=["d1", "d2", "d3", "d4"], kind="status"),
        SequenceGroup(name="bal", columns=["b3", "b4"], kind="balance"),
    ],
)


def frame() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    n = 40
    out = pd.DataFrame(
        {
            "income": rng.lognormal(10, 1.5, n),
            "age": rng.normal(40, 10, n),
            "grade": rng.choice([1, 2, 3], n),
            "purpose": pd.Categorical(rng.choice(["car", "home"], n)),
            "d1": rng.integers(0, 3, n).astype(float),
            "d2": rng.integers(0, 3, n).astype(float),
            "d3": rng.integers(0, 3, n).astype(float),
            "d4": rng.integers(0, 3, n).astype(float),
            "b3": rng.normal(100, 10, n),
            "b4": rng.normal(100, 10, n),
        },
        index=pd.Index(np.arange(1000, 1000 + n), name="id"),
    )
    out.loc[1000:1004, "age"] = np.nan
    # Row 1001 is a newer customer: no history before month 3 (two leading NaN months).
    out.loc[1001, ["d1", "d2"]] = np.nan
    return out


def test_static_block_is_standardised_with_nan_indicators():
    X = frame()
    enc = TabularEncoder(spec=SPEC).fit(X)
    data = enc.transform(X)
    assert enc.categorical_columns_ == ["grade", "purpose"]
    assert "income" in enc.numeric_columns_ and "d1" in enc.numeric_columns_
    # income is heavy-tailed: it is logged before scaling.
    assert enc.log_mask_[enc.numeric_columns_.index("income")]
    n_numeric = len(enc.numeric_columns_)
    assert data.num.shape == (40, enc.num_features_)
    np.testing.assert_allclose(data.num[:, :n_numeric].mean(axis=0), 0, atol=1e-5)
    age = enc.numeric_columns_.index("age")
    assert np.all(data.num[:5, age] == 0)  # filled at the mean
    indicators = data.num[:, n_numeric:]
    assert indicators.shape[1] == int(enc.nan_indicator_.sum()) >= 1
    assert indicators[:5].max(axis=1).tolist() == [1.0] * 5
    assert data.seq is None and data.lengths is None


def test_categories_map_to_indices_with_an_unknown_slot():
    X = frame()
    enc = TabularEncoder(spec=SPEC).fit(X)
    new = X.head(3).copy()
    new["purpose"] = pd.Categorical(["boat", None, "car"])
    new["grade"] = [1.0, 9.0, np.nan]  # float where fit saw int: still category "1"
    codes = enc.transform(new).cat
    grade, purpose = codes[:, 0], codes[:, 1]
    assert grade[0] == enc.category_maps_[0]["1"] and grade[1] == 0 and grade[2] == 0
    assert purpose[0] == 0 and purpose[1] == 0 and purpose[2] == enc.category_maps_[1]["car"]
    assert enc.cardinalities_ == [4, 3]


def test_category_dtype_and_plain_values_get_the_same_indices():
    X = frame()
    enc = TabularEncoder(spec=SPEC).fit(X)
    values = ["car", "boat", None, "car", "tv"]
    as_category = X.head(5).assign(purpose=pd.Categorical(values))
    as_objects = X.head(5).assign(purpose=pd.Series(values, index=X.index[:5], dtype=object))
    got = enc.transform(as_category).cat
    assert np.array_equal(got, enc.transform(as_objects).cat)
    assert got[:, 1].tolist()[2] == 0  # missing -> the unknown slot


def test_sequences_are_packed_observed_first_with_lengths():
    X = frame()
    enc = TabularEncoder(spec=SPEC, use_sequences=True).fit(X)
    data = enc.transform(X)
    assert enc.seq_len_ == 4 and enc.seq_features_ == 2
    assert "d1" not in enc.numeric_columns_ and "b3" not in enc.numeric_columns_
    assert data.seq.shape == (40, 4, 2)
    # Row 0: full history of dpd; balance (2 months) is aligned on the latest months.
    assert data.lengths[0] == 4
    assert data.seq[0, 0, 1] == 0.0 and data.seq[0, 1, 1] == 0.0  # bal missing -> 0
    # Row 1 (1001) starts in month 3: two observed steps, moved to the front, zeros after.
    assert data.lengths[1] == 2
    expected = (X.loc[1001, "d3"] - enc.seq_center_[0]) / enc.seq_scale_[0]
    assert data.seq[1, 0, 0] == pytest.approx(expected, rel=1e-5)
    assert np.all(data.seq[1, 2:] == 0)
    positions = enc.calendar_positions(data.lengths[:2])
    assert positions.tolist() == [[0, 1, 2, 3], [2, 3, -1, -1]]
    # The history length joins the static block.
    assert data.num[1, -1] == pytest.approx(0.5)


def test_bad_input_names_the_problem():
    X = frame()
    enc = TabularEncoder(spec=SPEC).fit(X)
    with pytest.raises(DataError, match=r"lacks the column\(s\) \['age'\]"):
        enc.transform(X.drop(columns="age"))
    with pytest.raises(DataError, match="expects a pandas DataFrame"):
        enc.transform(X.to_numpy())
    # Fitted as numeric, scored as text: refused with the column's name.
    with pytest.raises(DataError, match="column 'age' must be numeric"):
        enc.transform(X.assign(age=X["age"].astype(str)))
