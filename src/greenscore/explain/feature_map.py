"""Which raw input column each model feature is built from, and which features are protected.

A bundle's feature pipeline turns raw application columns into model features: some pass
through unchanged (``income``), some are one-hot columns of a category (``purpose_car``,
``cat__purpose_car``), some are derived (``age_band``, ``utilisation_mean``). Reason codes
and compliance checks need to know, for every model feature, whether it carries a
protected attribute, and reason codes group one-hot columns back under their category.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np
import pandas as pd

from greenscore.data.spec import DatasetSpec
from greenscore.errors import DataError, ModelError

_SPLIT = re.compile(r"[^0-9a-zA-Z]+")


def _tokens(name: str) -> list[str]:
    return [t for t in _SPLIT.split(name.lower()) if t]


def _strip_prefix(name: str) -> str:
    # ColumnTransformer names its outputs "<transformer>__<column>".
    return name.split("__", 1)[1] if "__" in name else name


def raw_input_columns(bundle: object) -> list[str]:
    """The raw columns a bundle's pipeline was fitted on, in order.

    Parameters
    ----------
    bundle : ScoringBundle
        A fitted bundle.

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
    names = getattr(bundle.pipeline, "feature_names_in_", None)  # type: ignore[attr-defined]
    if names is not None:
        return [str(n) for n in names]
    declared = bundle.spec.feature_columns()  # type: ignore[attr-defined]
    if declared:
        return declared
    raise ModelError(
        "cannot tell the model's input columns: fit the pipeline on a DataFrame "
        "or declare numeric/categorical columns in the spec"
    )


def model_feature_names(bundle: object, transformed: pd.DataFrame | None = None) -> list[str]:
    """The names of the features the classifier sees, in its column order.

    Raises
    ------
    ModelError
        If the classifier does not record them and no transformed frame is given.
    """
    estimator = bundle.estimator  # type: ignore[attr-defined]
    names = getattr(estimator, "feature_names_in_", None)
    if names is not None:
        return [str(n) for n in names]
    booster = getattr(estimator, "booster_", None)
    if booster is not None:
        return list(booster.feature_name())
    if transformed is not None:
        return [str(c) for c in transformed.columns]
    raise ModelError(f"{type(estimator).__name__} does not record its feature names")


def feature_sources(model_features: Sequence[str], raw_columns: Sequence[str]) -> list[str | None]:
    """For each model feature, the raw column it comes from, or None if it cannot be told.

    A feature comes from raw column ``c`` when it is ``c`` itself (after dropping a
    ``transformer__`` prefix) or starts with ``c`` followed by a separator
    (``purpose_car``, ``income_log``); the longest matching column wins.
    """
    by_length = sorted(raw_columns, key=len, reverse=True)
    out: list[str | None] = []
    for name in model_features:
        bare = _strip_prefix(name)
        if bare in raw_columns:
            out.append(bare)
            continue
        match = next(
            (
                c
                for c in by_length
                if bare.startswith(c) and bare[len(c) : len(c) + 1] in ("_", "=")
            ),
            None,
        )
        out.append(match)
    return out


def protected_columns(spec: DatasetSpec) -> set[str]:
    """Protected attributes plus the derived columns built from them and their sources.

    ``sex`` derived from German credit's ``personal_status`` makes ``personal_status`` a
    carrier of sex even if the spec forgot to list it.
    """
    protected = set(spec.protected)
    for derived in spec.derived:
        if derived.name in protected or derived.source in protected:
            protected |= {derived.name, derived.source}
    age = spec.roles.get("age")
    if age is not None and age in spec.protected:
        protected.add(age)
    return protected


def is_protected_feature(name: str, protected: set[str]) -> bool:
    """Whether a model feature name carries a protected attribute.

    Conservative on purpose: any run of name tokens equal to a protected column's tokens
    counts (``age_band``, ``cat__sex_female``, ``marital_status_single``), so a derived
    feature of a protected attribute is never cited as a reason.
    """
    tokens = _tokens(name)
    joined = "_" + "_".join(tokens) + "_"
    return any("_" + "_".join(_tokens(p)) + "_" in joined for p in protected if _tokens(p))


def protected_mask(model_features: Sequence[str], spec: DatasetSpec) -> np.ndarray:
    """Boolean array: True where a model feature carries a protected attribute."""
    protected = protected_columns(spec)
    return np.array([is_protected_feature(f, protected) for f in model_features], dtype=bool)


def reason_groups(
    model_features: Sequence[str], raw_columns: Sequence[str], categorical: set[str]
) -> list[str]:
    """The name each model feature is reported under in reason codes.

    One-hot columns of a categorical raw column are reported as that column
    (``purpose_car`` -> ``purpose``); everything else under its own name.
    """
    sources = feature_sources(model_features, raw_columns)
    groups = []
    for name, source in zip(model_features, sources, strict=True):
        bare = _strip_prefix(name)
        if source is not None and (bare == source or source in categorical):
            groups.append(source)
        else:
            groups.append(bare)
    return groups


def model_frame(bundle: object, X: pd.DataFrame) -> pd.DataFrame:  # noqa: N803
    """Run the bundle's fitted feature steps on model-input rows (identity if there are none)."""
    pipeline = bundle.pipeline  # type: ignore[attr-defined]
    if len(pipeline) == 1:
        return X
    out = pipeline[:-1].transform(X)
    if not isinstance(out, pd.DataFrame):
        names = model_feature_names(bundle)
        out = pd.DataFrame(np.asarray(out), columns=names, index=X.index)
    return out


def select_model_input(bundle: object, frame: pd.DataFrame) -> pd.DataFrame:
    """The raw input columns of a frame (raw applications or model input), id as index.

    Raises
    ------
    DataError
        If an input column the pipeline needs is missing.
    """
    columns = raw_input_columns(bundle)
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise DataError(f"missing model input columns: {missing}")
    out = frame[columns]
    spec = bundle.spec  # type: ignore[attr-defined]
    if spec.id_column and spec.id_column in frame.columns:
        out = out.set_axis(pd.Index(frame[spec.id_column].to_numpy(), name=spec.id_column), axis=0)
    return out
