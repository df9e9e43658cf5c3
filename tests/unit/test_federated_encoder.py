"""The federation's feature steps and encoder, built from aggregates only.

With one lender, the aggregated statistics must give exactly the encoder
``TabularEncoder.fit`` learns from the rows; with several, the pooled one (up to the
log-decision vote), and the feature pipeline fitted on the schema frame must transform
rows exactly as one fitted on the rows themselves.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from greenscore.data.spec import DatasetSpec
from greenscore.errors import DataError
from greenscore.features.pipeline import build_feature_pipeline
from greenscore.federated.encoder_stats import (
    EncoderLayout,
    assemble_encoder,
    first_moments,
    read_first,
    second_moments,
)
from greenscore.federated.schema import (
    fit_shared_features,
    merge_reports,
    schema_frame,
    schema_report,
)
from greenscore.models.torch.encoding import TabularEncoder

SPEC = DatasetSpec(
    name="toy",
    target="default",
    numeric=["income", "age", "utilisation"],
    categorical=["grade", "region"],
)


def _lender(seed: int, n: int = 600, shift: float = 0.0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    income = rng.lognormal(10 + shift, 0.8, n)  # skewed: the encoder logs it
    income[rng.random(n) < 0.05] = np.nan
    return pd.DataFrame(
        {
            "income": income,
            "age": rng.integers(20, 70, n).astype(float),
            "utilisation": rng.uniform(0, 1, n),
            "grade": rng.choice(["A", "B", "C", "D"], n, p=[0.4, 0.3, 0.28, 0.02]),
            "region": rng.choice([1, 2, 3], n).astype(float),
        }
    )


def _federate(
    frames: list[pd.DataFrame], *, secure: bool
) -> tuple[TabularEncoder, pd.DataFrame, list]:
    reports = [schema_report(f, SPEC, lender=f"l{i}") for i, f in enumerate(frames)]
    schema = merge_reports(reports, expected=SPEC.feature_columns())
    pipeline = fit_shared_features(schema, SPEC)
    layout = EncoderLayout.from_frame(pipeline.transform(schema_frame(schema, SPEC)), SPEC)
    transformed = [pipeline.transform(f) for f in frames]
    weights = np.array([len(f) for f in frames], dtype=float)

    def mean(vectors: list[np.ndarray]) -> np.ndarray:
        return np.average(np.vstack(vectors), axis=0, weights=weights)

    first = read_first(mean([first_moments(t, layout) for t in transformed]), layout)
    scales = first.scales if secure else None
    second = mean(
        [second_moments(t, layout, log_mask=first.log_mask, scales=scales) for t in transformed]
    )
    encoder = assemble_encoder(
        layout=layout,
        spec=SPEC,
        first=first,
        second_mean=second,
        scales=scales,
        rows=int(weights.sum()),
    )
    return encoder, pd.concat(transformed), transformed


def test_one_lender_gets_exactly_the_encoder_fit_learns() -> None:
    frame = _lender(0)
    encoder, pooled, _ = _federate([frame], secure=False)
    reference = TabularEncoder(spec=SPEC).fit(pooled)
    a, b = encoder.transform(pooled), reference.transform(pooled)
    assert a.num.shape == b.num.shape
    np.testing.assert_allclose(a.num, b.num, atol=1e-6)
    np.testing.assert_array_equal(a.cat, b.cat)
    assert encoder.category_maps_ == reference.category_maps_
    assert encoder.log_mask_.tolist() == reference.log_mask_.tolist()


def test_three_lenders_get_the_pooled_moments() -> None:
    frames = [_lender(1, 500), _lender(2, 900, shift=0.3), _lender(3, 300, shift=-0.2)]
    encoder, pooled, _ = _federate(frames, secure=False)
    reference = TabularEncoder(spec=SPEC).fit(pooled)
    np.testing.assert_allclose(encoder.center_, reference.center_, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(encoder.scale_, reference.scale_, rtol=1e-9)
    # Grade D is rare at every lender but frequent enough pooled: it gets its own slot.
    assert encoder.category_maps_ == reference.category_maps_


def test_secure_path_scaling_stays_close_to_the_pooled_moments() -> None:
    frames = [_lender(4, 500), _lender(5, 700, shift=0.5)]
    encoder, pooled, _ = _federate(frames, secure=True)
    reference = TabularEncoder(spec=SPEC).fit(pooled)
    np.testing.assert_allclose(encoder.center_, reference.center_, atol=0.05)
    np.testing.assert_allclose(encoder.scale_, reference.scale_, rtol=0.1)


def test_shared_pipeline_transforms_like_one_fitted_on_rows() -> None:
    frames = [_lender(6), _lender(7)]
    _, pooled, transformed = _federate(frames, secure=False)
    rows = pd.concat(frames)
    central = build_feature_pipeline(SPEC).fit(rows, np.zeros(len(rows))).transform(rows)
    central = central[pooled.columns]
    numeric = central.select_dtypes("number").columns
    np.testing.assert_allclose(central[numeric].to_numpy(), pooled[numeric].to_numpy())
    for column in ("grade", "region"):
        assert list(central[column].cat.categories) == list(pooled[column].cat.categories)


def test_a_lender_with_other_columns_cannot_join_the_schema() -> None:
    good = schema_report(_lender(8), SPEC, lender="good")
    odd = schema_report(_lender(9).drop(columns="age"), SPEC, lender="odd")
    with pytest.raises(DataError, match="lender 'odd' reported columns"):
        merge_reports([good, odd], expected=SPEC.feature_columns())
