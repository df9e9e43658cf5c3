"""A small fitted LightGBM bundle on generated data, for the serving tests (not a test module)."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import numpy as np
import pandas as pd
from sklearn.pipeline import Pipeline

from greenscore.data.loading import Dataset
from greenscore.data.presets import load_preset
from greenscore.data.synthetic import generate
from greenscore.explain.reason_codes import attach_reason_codes
from greenscore.features.pipeline import build_feature_pipeline
from greenscore.models.bundle import ScoringBundle
from greenscore.models.gbm import LightGBMCreditClassifier


def training_ranges(X: pd.DataFrame) -> dict:  # noqa: N803
    """Per-column ranges and levels, as ``greenscore train`` stores them."""
    out: dict = {}
    for column in X.columns:
        s = X[column]
        if pd.api.types.is_numeric_dtype(s):
            v = s.dropna()
            out[column] = {
                "min": float(v.min()),
                "max": float(v.max()),
                "p01": float(v.quantile(0.01)),
                "p99": float(v.quantile(0.99)),
            }
        else:
            out[column] = {"levels": sorted(map(str, s.dropna().unique()))}
    return out


def dataset(rows: int = 1500, seed: int = 1) -> Dataset:
    """Generated applications with the synthetic preset and its borrower graph."""
    data = generate(rows, seed=seed)
    return Dataset(
        frame=data.applications,
        spec=load_preset("synthetic"),
        location="synthetic",
        sha256="test",
        relations=data.relations,
    )


def fit_bundle(ds: Dataset, model: Any, *, name: str) -> ScoringBundle:
    """The feature pipeline and ``model`` fitted on a dataset, as a bundle with its
    training ranges (no reason codes)."""
    pipeline = Pipeline(
        [("features", build_feature_pipeline(ds.spec, relations=ds.relations)), ("model", model)]
    ).fit(ds.X, ds.y)
    return ScoringBundle(
        name=name,
        spec=ds.spec,
        pipeline=pipeline,
        metadata={"training_ranges": training_ranges(ds.X)},
    )


def build_bundle(
    ds: Dataset, *, n_estimators: int = 60, seed: int = 0, name: str = "lightgbm"
) -> ScoringBundle:
    """Fit the feature pipeline and a small LightGBM on a dataset."""
    pipe = Pipeline(
        [
            ("features", build_feature_pipeline(ds.spec, relations=ds.relations)),
            (
                "model",
                LightGBMCreditClassifier(
                    n_estimators=n_estimators,
                    early_stopping_rounds=None,
                    n_jobs=1,
                    random_state=seed,
                ),
            ),
        ]
    )
    pipe.fit(ds.X, ds.y)
    pd_ = pipe.predict_proba(ds.X)[:, 1]
    bundle = ScoringBundle(
        name=name,
        spec=ds.spec,
        pipeline=pipe,
        metadata={
            "training_ranges": training_ranges(ds.X),
            "training_pd": np.quantile(pd_, np.linspace(0, 1, 101)).tolist(),
            "metrics": {
                "energy_kwh_per_1k_predictions": 1e-6,
                "final_energy_kwh": 1e-3,
                "final_co2_kg": 2e-4,
            },
        },
    )
    attach_reason_codes(bundle, reference=ds.X.head(400))
    return bundle


def applicant(ds: Dataset, i: int) -> dict:
    """Row ``i`` as a JSON-ready applicant (model inputs, id and a PII field)."""
    row = ds.frame.iloc[i]
    out = {}
    for column in [*ds.spec.feature_columns(list(ds.frame.columns)), ds.spec.id_column, "email"]:
        value = row[column]
        if isinstance(value, np.generic):
            value = value.item()
        out[column] = None if (isinstance(value, float) and value != value) else value
    return out


@lru_cache(maxsize=2)
def shared(rows: int = 1500, seed: int = 1) -> tuple[Dataset, ScoringBundle]:
    """One dataset and bundle per test process (fitting takes a second or two)."""
    ds = dataset(rows, seed)
    return ds, build_bundle(ds)


def quiet_app(settings: Any, bundle: ScoringBundle) -> Any:
    """The scoring app in-process serving ``bundle`` as ``good``: no energy calibration, no
    job worker, no answer cache (each request reaches the service), for tests of faults and
    refusals."""
    from greenscore.serving.app import create_app
    from greenscore.serving.model_store import ModelStore

    settings.serving.energy_calibration = False
    settings.serving.job_worker = False
    settings.serving.cache_size = 0
    store = ModelStore(settings.serving, loader=lambda uri: bundle)
    store.load("good")
    return create_app(settings, store=store)
