"""The scoring runtime: the compiled path gives the pipeline's features and PD, or it is not taken."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from serving_bundle import applicant, shared
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.pipeline import Pipeline

from greenscore.errors import DataError
from greenscore.features.relational import LINKS_KEY
from greenscore.models.bundle import ScoringBundle
from greenscore.models.runtime import ScoringRuntime, probe_rows
from greenscore.models.runtime.features import (
    ColumnFrame,
    CompiledFeatures,
    NotCompilableError,
    rows_frame,
)


@pytest.fixture(scope="module")
def data():
    ds, bundle = shared()
    rows = [applicant(ds, i) for i in range(120)]
    ids = [r[ds.spec.id_column] for r in rows]
    return ds, bundle, rows, ids, ScoringRuntime(bundle)


def test_compiled_path_matches_the_pipeline(data) -> None:
    ds, bundle, rows, ids, runtime = data
    assert runtime.mode == "lightgbm" and runtime.terms == "treeshap", runtime.reason
    scored = runtime.score(rows, ids)
    expected = bundle.predict_pd(ds.X.iloc[:120])
    assert np.max(np.abs(scored.probability - expected)) <= 1e-9
    # One applicant alone gives the same answer as in a batch.
    one = runtime.score(rows[7:8], ids[7:8])
    assert abs(one.probability[0] - expected[7]) <= 1e-9
    assert scored.encoded.matrix.shape == (120, len(runtime.model_features))
    assert list(scored.decisions) == list(bundle.decisions(expected))


def test_the_matrix_is_the_pipeline_output(data) -> None:
    ds, bundle, rows, ids, runtime = data
    encoded = runtime.encode(rows[:20], ids[:20])
    frame = runtime.model_frame(encoded)
    expected = bundle.features.transform(ds.X.iloc[:20])[runtime.model_features]
    for column in runtime.model_features:
        if isinstance(expected[column].dtype, pd.CategoricalDtype):
            assert list(frame[column].astype(object)) == list(expected[column].astype(object))
        else:
            np.testing.assert_allclose(frame[column], expected[column].astype(float), rtol=1e-9)
    # A frame is encoded by the pipeline itself into the same matrix.
    from_frame = runtime.encode_frame(ds.X.iloc[:20])
    np.testing.assert_allclose(from_frame.matrix, encoded.matrix, rtol=1e-9, equal_nan=True)


def test_contributions_are_lightgbm_pred_contrib_on_the_same_matrix(data) -> None:
    _, bundle, rows, ids, runtime = data
    encoded = runtime.encode(rows, ids)
    values, base = runtime.contributions(encoded)
    reference = bundle.estimator.booster_.predict(encoded.matrix, pred_contrib=True)
    np.testing.assert_allclose(values, reference[:, :-1], rtol=0, atol=1e-9)
    np.testing.assert_allclose(base, reference[:, -1], rtol=0, atol=1e-9)


def test_unseen_category_and_text_numbers_score_as_the_pipeline(data) -> None:
    ds, bundle, rows, ids, runtime = data
    odd = dict(rows[3])
    odd["housing"] = "houseboat"  # never seen in training: the coercer makes it missing
    odd["income"] = str(odd["income"])  # numbers sent as text are read as numbers
    got = runtime.score([odd], [ids[3]]).probability
    frame = rows_frame([odd], [ids[3]], runtime.raw_columns, ds.spec.id_column)
    assert abs(got[0] - bundle.predict_pd(frame)[0]) <= 1e-9


def test_a_row_without_a_field_or_not_a_dict_encodes_it_as_missing(data) -> None:
    """Plain dicts holding every field are read by one lookup per row; a row that lacks a
    field, or is another kind of mapping, is read field by field: the same matrix."""
    from types import MappingProxyType

    _, _, rows, ids, runtime = data
    numeric = runtime.features.numeric_columns
    short = [dict(r) for r in rows[:30]]
    del short[4][numeric[0]]
    gapped = [dict(r) for r in rows[:30]]
    gapped[4][numeric[0]] = None
    expected = runtime.encode(gapped, ids[:30]).matrix
    assert np.isnan(expected[4]).any()
    for variant in (short, [MappingProxyType(r) for r in gapped]):
        got = runtime.encode(variant, ids[:30]).matrix
        np.testing.assert_array_equal(got, expected)


def test_text_in_a_number_field_names_the_field(data) -> None:
    _, _, rows, ids, runtime = data
    bad = dict(rows[0])
    bad["loan_amount"] = "lots"
    with pytest.raises(DataError, match="field 'loan_amount'"):
        runtime.score([bad], [ids[0]])


class _Doubler(TransformerMixin, BaseEstimator):
    """A step the compiled path does not know."""

    def fit(self, X, y=None):  # noqa: N803
        return self

    def transform(self, X):  # noqa: N803
        return X


def test_unknown_steps_encode_through_the_pipeline(data) -> None:
    ds, bundle, rows, ids, _ = data
    pipeline = Pipeline(
        [("features", bundle.features), ("odd", _Doubler()), ("model", bundle.estimator)]
    )
    odd = ScoringBundle(name="odd", spec=bundle.spec, pipeline=pipeline, metadata=bundle.metadata)
    with pytest.raises(NotCompilableError, match="_Doubler"):
        CompiledFeatures(odd)
    runtime = ScoringRuntime(odd)
    assert runtime.mode == "pipeline" and "_Doubler" in runtime.reason
    # Still one matrix for the PD and the exact contributions.
    assert runtime.terms == "treeshap"
    scored = runtime.score(rows[:5], ids[:5])
    np.testing.assert_allclose(scored.probability, bundle.predict_pd(ds.X.iloc[:5]), atol=1e-12)
    reference = bundle.estimator.booster_.predict(scored.encoded.matrix, pred_contrib=True)
    np.testing.assert_allclose(
        runtime.contributions(scored.encoded)[0], reference[:, :-1], atol=1e-9
    )


def test_a_compiled_path_that_disagrees_is_refused(data, monkeypatch) -> None:
    _, bundle, rows, ids, _ = data
    original = CompiledFeatures.matrix

    def shifted(self, rows, ids):  # noqa: ANN001
        out = original(self, rows, ids)
        out[:, 0] += 1.0
        return out

    monkeypatch.setattr(CompiledFeatures, "matrix", shifted)
    runtime = ScoringRuntime(bundle)
    assert runtime.mode == "pipeline" and "differs from the pipeline" in runtime.reason
    monkeypatch.undo()
    scored = runtime.score(rows[:10], ids[:10])
    np.testing.assert_allclose(
        scored.probability,
        bundle.predict_pd(rows_frame(rows[:10], ids[:10], runtime.raw_columns, None)),
        atol=1e-12,
    )


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
    _, bundle, _, _, _ = data
    rows, ids = probe_rows(bundle, n=40)
    assert len(rows) == len(ids) == 40 and ids[0] is None
    assert all(v is None for v in rows[0].values())
    housing = {r["housing"] for r in rows}
    assert None in housing and any(isinstance(v, str) and "unseen" in v for v in housing)
    income = bundle.metadata.training_ranges["income"]
    assert rows[1]["income"] == income["min"] and rows[2]["income"] == income["max"]


def test_score_frame_cleans_checks_and_scores_as_the_pipeline(data) -> None:
    ds, bundle, _, _, runtime = data
    scored = runtime.score_frame(ds.frame.iloc[:200])
    expected = bundle.predict_pd(bundle.model_input(ds.frame.iloc[:200]))
    np.testing.assert_allclose(scored["probability_of_default"], expected, atol=1e-12)
    assert list(scored.columns) == [
        ds.spec.id_column,
        "probability_of_default",
        "score",
        "decision",
        "flags",
    ]


def test_rows_with_their_own_links_score_alike_on_both_paths(data) -> None:
    """An applicant's own links (the row's ``LINKS_KEY``) reach the relational step on the
    compiled path and through the pipeline alike, and give the PD of the bundle with those
    links added as a relations file; a row without links scores as it always did."""
    ds, bundle, rows, ids, runtime = data
    edges = ds.relations
    trained = edges["source_id"].iloc[0]  # a borrower of the training graph
    own = [
        [(trained, "Household"), (trained, "guarantor")],  # twice: two kinds, one borrower
        [(10**9, None), (10**9 + 1, "employer")],  # new borrowers; a kind unseen at fit
        [(ids[2], "household")],  # a link to itself counts for nothing
        [],
    ]
    new_ids = [f"new-{i}" for i in range(len(own))]
    new_ids[2] = ids[2]
    linked = [{**rows[i], LINKS_KEY: links} for i, links in enumerate(own)]
    pipeline = Pipeline(
        [("features", bundle.features), ("odd", _Doubler()), ("model", bundle.estimator)]
    )
    odd = ScoringBundle(name="odd", spec=bundle.spec, pipeline=pipeline, metadata=bundle.metadata)
    slow = ScoringRuntime(odd)
    assert runtime.mode == "lightgbm" and slow.mode == "pipeline"
    fast_pd = runtime.score(linked, new_ids).probability
    np.testing.assert_allclose(slow.score(linked, new_ids).probability, fast_pd, atol=1e-12)
    file = pd.DataFrame(
        [(a, b, k) for a, links in zip(new_ids, own, strict=True) for b, k in links],
        columns=["source_id", "target_id", "relation"],
    )
    frame = rows_frame(rows[: len(own)], new_ids, runtime.raw_columns, None)
    expected = bundle.with_relations(file).predict_pd(frame)
    np.testing.assert_allclose(fast_pd, expected, atol=1e-12)
    scored = runtime.score(linked, new_ids)
    alone = runtime.score(rows[: len(own)], new_ids)
    got = runtime.model_frame(scored.encoded)["relational_links"].tolist()
    before = runtime.model_frame(alone.encoded)["relational_links"].tolist()
    assert got == [1, 2, before[2], 0] and before[:2] == [0, 0]
    assert fast_pd[0] != alone.probability[0]
    assert fast_pd[2:].tolist() == alone.probability[2:].tolist()
