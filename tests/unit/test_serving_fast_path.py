"""The pandas-free scoring path: same features and PD as the pipeline, or a safe fallback."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from serving_bundle import applicant, shared
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.pipeline import Pipeline

from greenscore.errors import DataError
from greenscore.models.bundle import ScoringBundle
from greenscore.serving.fast_path import (
    ColumnFrame,
    CompiledFeatures,
    FastScorer,
    NotCompilableError,
    probe_rows,
    rows_frame,
)


@pytest.fixture(scope="module")
def data():
    ds, bundle = shared()
    rows = [applicant(ds, i) for i in range(120)]
    ids = [r[ds.spec.id_column] for r in rows]
    return ds, bundle, rows, ids


def test_compiled_path_matches_the_pipeline(data) -> None:
    ds, bundle, rows, ids = data
    scorer = FastScorer(bundle)
    assert scorer.mode == "lightgbm", scorer.reason
    got, matrix = scorer.predict(rows, ids)
    expected = bundle.predict_pd(ds.X.iloc[:120])
    assert np.max(np.abs(got - expected)) <= 1e-9
    # One applicant alone gives the same answer as in a batch.
    one, _ = scorer.predict(rows[7:8], ids[7:8])
    assert abs(one[0] - expected[7]) <= 1e-9
    assert matrix.shape == (120, len(scorer.features.model_features))


def test_frame_from_matrix_is_the_pipeline_output(data) -> None:
    ds, bundle, rows, ids = data
    features = CompiledFeatures(bundle)
    frame = features.frame(rows[:20], ids[:20])
    expected = bundle.features.transform(ds.X.iloc[:20])[features.model_features]
    for column in features.model_features:
        if isinstance(expected[column].dtype, pd.CategoricalDtype):
            assert list(frame[column].astype(object)) == list(expected[column].astype(object))
        else:
            np.testing.assert_allclose(frame[column], expected[column].astype(float), rtol=1e-9)


def test_unseen_category_and_text_numbers_score_as_the_pipeline(data) -> None:
    ds, bundle, rows, ids = data
    odd = dict(rows[3])
    odd["housing"] = "houseboat"  # never seen in training: the coercer makes it missing
    odd["income"] = str(odd["income"])  # numbers sent as text are read as numbers
    scorer = FastScorer(bundle)
    got, _ = scorer.predict([odd], [ids[3]])
    frame = rows_frame([odd], [ids[3]], scorer.raw_columns, ds.spec.id_column)
    assert abs(got[0] - bundle.predict_pd(frame)[0]) <= 1e-9


def test_text_in_a_number_field_names_the_field(data) -> None:
    _, bundle, rows, ids = data
    bad = dict(rows[0])
    bad["loan_amount"] = "lots"
    with pytest.raises(DataError, match="field 'loan_amount'"):
        FastScorer(bundle).predict([bad], [ids[0]])


class _Doubler(TransformerMixin, BaseEstimator):
    """A step the fast path does not know."""

    def fit(self, X, y=None):  # noqa: N803
        return self

    def transform(self, X):  # noqa: N803
        return X


def test_unknown_steps_fall_back_to_the_pipeline(data) -> None:
    ds, bundle, rows, ids = data
    pipeline = Pipeline(
        [("features", bundle.features), ("odd", _Doubler()), ("model", bundle.estimator)]
    )
    odd = ScoringBundle(name="odd", spec=bundle.spec, pipeline=pipeline, metadata=bundle.metadata)
    with pytest.raises(NotCompilableError, match="_Doubler"):
        CompiledFeatures(odd)
    scorer = FastScorer(odd)
    assert scorer.mode == "pipeline" and "_Doubler" in scorer.reason
    got, matrix = scorer.predict(rows[:5], ids[:5])
    assert matrix is None
    np.testing.assert_allclose(got, bundle.predict_pd(ds.X.iloc[:5]), atol=1e-12)


def test_column_frame_blocks_and_index() -> None:
    frame = ColumnFrame(
        np.array([[1.0, 2.0], [3.0, 4.0]]), {"a": 0, "b": 1}, pd.Index([10, 11]), {}
    )
    frame.add("c", np.array([5.0, 6.0]))
    assert frame[["b", "a"]].to_numpy().tolist() == [[2.0, 1.0], [4.0, 3.0]]
    assert frame[["a", "c"]].to_numpy(dtype=float).tolist() == [[1.0, 5.0], [3.0, 6.0]]
    assert len(frame) == 2 and frame.columns == ["a", "b", "c"]
    assert frame.index.tolist() == [10, 11]


def test_probes_cover_ranges_gaps_and_unseen_levels(data) -> None:
    _, bundle, _, _ = data
    rows, ids = probe_rows(bundle, n=40)
    assert len(rows) == len(ids) == 40 and ids[0] is None
    assert all(v is None for v in rows[0].values())
    housing = {r["housing"] for r in rows}
    assert None in housing and any(isinstance(v, str) and "unseen" in v for v in housing)
    income = bundle.metadata["training_ranges"]["income"]
    assert rows[1]["income"] == income["min"] and rows[2]["income"] == income["max"]
