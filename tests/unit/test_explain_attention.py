"""Attention heatmaps from models that expose per-month or neighbour attention."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer

from greenscore.data.spec import DatasetSpec, SequenceGroup
from greenscore.errors import ModelError
from greenscore.explain.attention import (
    attention_report,
    month_labels,
    neighbour_attention,
    sequence_attention,
)
from greenscore.models.bundle import ScoringBundle

MONTHS = [f"dpd_m{m:02d}" for m in range(1, 7)]


class AttentiveClassifier(ClassifierMixin, BaseEstimator):
    """Weights each month by its value; neighbours link consecutive rows."""

    def __init__(self, *, form: str = "pair") -> None:
        self.form = form

    def fit(self, X, y):  # noqa: N803
        self.classes_ = np.array([0, 1])
        return self

    def predict_proba(self, X):  # noqa: N803
        p = 1 / (1 + np.exp(-X[MONTHS].to_numpy().mean(1)))
        return np.column_stack([1 - p, p])

    def attention_weights(self, X):  # noqa: N803
        w = X[MONTHS].to_numpy(dtype=float) + 1e-3
        return w / w.sum(1, keepdims=True)

    def attention_coefficients(self, X):  # noqa: N803
        n = len(X)
        edges = np.array([np.arange(n - 1), np.arange(1, n)])
        heads = np.column_stack([np.linspace(0.1, 0.9, n - 1), np.linspace(0.3, 0.7, n - 1)])
        if self.form == "pair":
            return edges, heads
        if self.form == "dense":
            dense = np.zeros((n, n))
            dense[edges[1], edges[0]] = heads.mean(1)
            return dense
        return "not attention"


@pytest.fixture
def bundle_and_frame():
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(rng.integers(0, 4, size=(30, 6)).astype(float), columns=MONTHS)
    frame.insert(0, "id", np.arange(500, 530))
    spec = DatasetSpec(
        target="y",
        id_column="id",
        numeric=MONTHS,
        sequences=[SequenceGroup(name="dpd", columns=MONTHS, kind="status")],
    )
    pipeline = Pipeline([("f", FunctionTransformer()), ("m", AttentiveClassifier())]).fit(
        frame[MONTHS], [0, 1] * 15
    )
    return ScoringBundle(name="lstm", spec=spec, pipeline=pipeline), frame


def test_month_labels_come_from_the_sequence_columns(bundle_and_frame):
    bundle, _ = bundle_and_frame
    assert month_labels(bundle.spec, 6) == ["01", "02", "03", "04", "05", "06"]
    assert month_labels(bundle.spec, 4) == ["month 1", "month 2", "month 3", "month 4"]


def test_sequence_attention_frame_and_heatmap(tmp_path, bundle_and_frame):
    bundle, frame = bundle_and_frame
    weights = sequence_attention(bundle, frame)
    assert weights.shape == (30, 6) and list(weights.index) == list(frame["id"])
    np.testing.assert_allclose(weights.sum(1), 1.0)
    files = attention_report(bundle, frame, tmp_path)
    for key in ("sequence", "neighbour"):
        path = tmp_path / f"attention_{'months' if key == 'sequence' else 'neighbours'}.png"
        assert files[key] == str(path) and path.stat().st_size > 5_000
    edges = pd.read_csv(tmp_path / "attention_neighbours.csv")
    assert len(edges) == 29 and set(edges["source"]) <= set(frame["id"])
    np.testing.assert_allclose(edges["weight"], np.linspace(0.2, 0.8, 29))


def test_neighbour_attention_forms(bundle_and_frame):
    bundle, frame = bundle_and_frame
    pair = neighbour_attention(bundle, frame)
    bundle.pipeline.steps[-1][1].form = "dense"
    dense = neighbour_attention(bundle, frame)
    pd.testing.assert_frame_equal(
        pair.sort_values(["source", "target"]).reset_index(drop=True),
        dense.sort_values(["source", "target"]).reset_index(drop=True),
    )
    bundle.pipeline.steps[-1][1].form = "junk"
    with pytest.raises(ModelError, match="cannot read"):
        neighbour_attention(bundle, frame)


def test_models_without_attention_write_nothing(tmp_path, bundle_and_frame):
    _, frame = bundle_and_frame
    from lightgbm import LGBMClassifier

    plain = Pipeline(
        [
            ("f", FunctionTransformer()),
            ("m", LGBMClassifier(n_estimators=2, verbose=-1, min_child_samples=2)),
        ]
    )
    plain.fit(frame[MONTHS], [0, 1] * 15)
    bundle = ScoringBundle(
        name="lgbm", spec=DatasetSpec(target="y", id_column="id", numeric=MONTHS), pipeline=plain
    )
    assert attention_report(bundle, frame, tmp_path) == {}
    with pytest.raises(ModelError, match="no per-month attention"):
        sequence_attention(bundle, frame)
