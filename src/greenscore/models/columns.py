"""Which raw columns a bundle reads, which features its classifier sees, and how to get them.

A bundle's pipeline turns raw application columns into model features. The scoring
runtime, the explainers, fairness and compliance all need the same four answers: the raw
input columns (in the pipeline's order), the classifier's feature names, the model
features of some rows (the fitted feature steps), and the raw input columns of a frame
that may hold more. They live here, below both :mod:`greenscore.models.runtime` and
:mod:`greenscore.explain`, so neither has to import the other for them.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from greenscore.errors import DataError, ModelError
from greenscore.models.bundle import ScoringBundle

MISSING_INPUTS = "missing model input columns: {columns}"


def raw_input_columns(bundle: ScoringBundle) -> list[str]:
    """The raw columns a bundle's pipeline was fitted on, in order.

    Returns
    -------
    list of str
        ``pipeline.feature_names_in_`` when the pipeline was fitted on a DataFrame, else
        the spec's declared feature columns.

    Raises
    ------
    ModelError
        If neither is known.
    """
    names = getattr(bundle.pipeline, "feature_names_in_", None)
    if names is not None:
        return [str(n) for n in names]
    declared = bundle.spec.feature_columns()
    if declared:
        return declared
    raise ModelError(
        "cannot tell the model's input columns: fit the pipeline on a DataFrame "
        "or declare numeric/categorical columns in the spec"
    )


def model_feature_names(
    bundle: ScoringBundle, transformed: pd.DataFrame | None = None
) -> list[str]:
    """The names of the features the classifier sees, in its column order.

    Raises
    ------
    ModelError
        If the classifier does not record them and no transformed frame is given.
    """
    estimator = bundle.estimator
    names = getattr(estimator, "feature_names_in_", None)
    if names is not None:
        return [str(n) for n in names]
    booster = lightgbm_booster(estimator)
    if booster is not None:
        return list(booster.feature_name())
    if transformed is not None:
        return [str(c) for c in transformed.columns]
    raise ModelError(f"{type(estimator).__name__} does not record its feature names")


def lightgbm_booster(estimator: Any) -> Any | None:
    """The fitted ``lightgbm.Booster`` behind an estimator, or None if it is not LightGBM."""
    import lightgbm

    try:
        booster = getattr(estimator, "booster_", None)
    except (AttributeError, ValueError):  # LightGBM raises LGBMNotFittedError before fit
        return None
    return booster if isinstance(booster, lightgbm.Booster) else None


def model_frame(bundle: ScoringBundle, X: pd.DataFrame) -> pd.DataFrame:  # noqa: N803
    """Run the bundle's fitted feature steps on model-input rows (identity if there are none)."""
    pipeline = bundle.pipeline
    if len(pipeline) == 1:
        return X
    out = pipeline[:-1].transform(X)
    if not isinstance(out, pd.DataFrame):
        names = model_feature_names(bundle)
        out = pd.DataFrame(np.asarray(out), columns=names, index=X.index)
    return out


def select_model_input(bundle: ScoringBundle, frame: pd.DataFrame) -> pd.DataFrame:
    """The raw input columns of a frame (raw applications or model input), id as index.

    Raises
    ------
    DataError
        If an input column the pipeline needs is missing.
    """
    columns = raw_input_columns(bundle)
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise DataError(MISSING_INPUTS.format(columns=missing))
    out = frame[columns]
    spec = bundle.spec
    if spec.id_column and spec.id_column in frame.columns:
        out = out.set_axis(pd.Index(frame[spec.id_column].to_numpy(), name=spec.id_column), axis=0)
    return out
