"""Tests for OutlierFlagger: flags at transform, filtering only while fitting."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.pipeline import Pipeline

from greenscore.features import OutlierFlagger


def _frame(n: int = 200) -> tuple[pd.DataFrame, pd.Series]:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(
        {
            "a": rng.normal(size=n),
            "b": rng.normal(size=n),
            "grade": pd.Categorical(rng.choice(["A", "B"], size=n)),
        },
        index=pd.RangeIndex(1000, 1000 + n, name="id"),
    )
    frame.iloc[0, :2] = [40.0, -40.0]  # one obvious outlier
    frame.iloc[1, 0] = np.nan  # missing values must not break the detector
    return frame, pd.Series(rng.integers(0, 2, n), index=frame.index)


@pytest.mark.parametrize("method", ["isolation_forest", "lof"])
def test_flag_appends_flag_and_score(method: str) -> None:
    X, _ = _frame()
    step = OutlierFlagger(method=method, contamination=0.02)
    out = step.fit_transform(X)
    flag, score = f"outlier_{method}_flag", f"outlier_{method}_score"
    assert list(out.columns) == ["a", "b", "grade", flag, score]
    assert out.index.equals(X.index)
    assert out.loc[1000, flag] == 1.0
    assert out[score].idxmax() == 1000
    expected = (step.detector_.predict(step._matrix(X)) == -1).astype(float)
    np.testing.assert_array_equal(out[flag].to_numpy(), expected)
    assert not hasattr(step, "fit_resample")


def test_filter_drops_training_rows_only() -> None:
    X, y = _frame()
    step = OutlierFlagger(action="filter", contamination=0.02)
    assert not hasattr(step, "transform")
    X_kept, y_kept = step.fit_resample(X, y)
    assert 1000 not in X_kept.index
    assert step.n_filtered_ == len(X) - len(X_kept) > 0
    assert step.n_seen_ == len(X)
    assert y_kept.index.equals(X_kept.index)


def test_filter_refuses_to_be_a_plain_transformer() -> None:
    X, y = _frame()
    pipe = Pipeline([("f", OutlierFlagger(action="filter")), ("g", OutlierFlagger())])
    with pytest.raises(TypeError):
        pipe.fit(X, y)
