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

from greenscore.data.spec import DatasetSpec
from greenscore.models.columns import (
    model_feature_names,
    model_frame,
    raw_input_columns,
    select_model_input,
)

# The bundle's columns live with the bundle (below the runtime); explainers import them here.
__all__ = [
    "feature_sources",
    "is_protected_feature",
    "model_feature_names",
    "model_frame",
    "protected_columns",
    "protected_mask",
    "raw_input_columns",
    "reason_groups",
    "select_model_input",
]

_SPLIT = re.compile(r"[^0-9a-zA-Z]+")


def _tokens(name: str) -> list[str]:
    return [t for t in _SPLIT.split(name.lower()) if t]


def _strip_prefix(name: str) -> str:
    # ColumnTransformer names its outputs "<transformer>__<column>".
    return name.split("__", 1)[1] if "__" in name else name


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
