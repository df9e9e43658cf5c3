"""Protected groups of applicants, read from the spec.

Fairness is measured by protected attribute: categorical ones as they are (missing values
become their own ``missing`` group, never dropped), the age column in bands, other
numeric ones in quartiles. Derived protected columns (German credit's ``sex`` from
``personal_status``) are used like any other.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

import numpy as np
import pandas as pd

from greenscore.data.spec import DatasetSpec
from greenscore.errors import ConfigError, DataError

#: Age band edges (years): under 25, 25-34, 35-49, 50-64, 65 and over.
AGE_EDGES = (25, 35, 50, 65)
MISSING = "missing"
_MAX_LEVELS = 10
UNKNOWN_ATTRIBUTE = "unknown protected attribute '{name}': choose from {choices}"
# The first number in a band label: "<25" -> 25 (after the "<"), "25-34" -> 25, "65+" -> 65,
# "(-0.001, 25.0]" -> -0.001.
_FIRST_NUMBER = re.compile(r"-?\d+(?:\.\d+)?")


def age_bands(values: pd.Series) -> pd.Series:
    """Ages in bands ``<25``, ``25-34``, ``35-49``, ``50-64``, ``65+`` (``missing`` if unknown)."""
    ages = pd.to_numeric(values, errors="coerce")
    labels = ["<25"] + [f"{lo}-{hi - 1}" for lo, hi in zip(AGE_EDGES, AGE_EDGES[1:], strict=False)]
    labels.append(f"{AGE_EDGES[-1]}+")
    bands = pd.cut(ages, bins=[-np.inf, *AGE_EDGES, np.inf], right=False, labels=labels)
    return bands.astype(object).where(ages.notna(), MISSING).astype(str)


def _quartiles(values: pd.Series) -> pd.Series:
    numbers = pd.to_numeric(values, errors="coerce")
    bands = pd.qcut(numbers, q=4, duplicates="drop")
    return bands.astype(str).where(numbers.notna(), MISSING)


def is_age_column(name: str, spec: DatasetSpec) -> bool:
    """Whether a protected column is the applicant's age (by role, or by name)."""
    return spec.roles.get("age") == name or name.lower() in ("age", "age_years", "person_age")


def group_column_name(name: str, spec: DatasetSpec, values: pd.Series) -> str:
    """The name a protected column is reported under (``age`` -> ``age_band``)."""
    numeric = pd.api.types.is_numeric_dtype(values) and values.nunique(dropna=True) > _MAX_LEVELS
    if is_age_column(name, spec) and pd.api.types.is_numeric_dtype(values):
        return f"{name}_band"
    return f"{name}_quartile" if numeric else name


def group_order(labels: Iterable[str]) -> list[str]:
    """Group labels in reading order: bands and quartiles by value, ``missing`` last.

    Labels that are all numeric ranges (``<25``, ``25-34``, ``65+``, ``(0.5, 2.0]``)
    sort by their lower bound, ``<x`` first; anything else sorts alphabetically.
    """
    unique = list(dict.fromkeys(str(label) for label in labels))
    present = [g for g in unique if g != MISSING]

    def lower(label: str) -> float | None:
        match = _FIRST_NUMBER.search(label)
        if match is None:
            return None
        return -np.inf if label.startswith("<") else float(match.group())

    bounds = {g: lower(g) for g in present}
    if present and all(b is not None for b in bounds.values()):
        ordered = sorted(present, key=lambda g: (bounds[g], g))
    else:
        ordered = sorted(present)
    return ordered + ([MISSING] if MISSING in unique else [])


def resolve_attribute(
    name: str, frame: pd.DataFrame, spec: DatasetSpec, protected: Sequence[str] | None = None
) -> str:
    """The protected column behind a name as reports show it (``age_band`` -> ``age``).

    Raises
    ------
    ConfigError
        If the name is neither a column of the data nor a protected attribute's label.
    """
    names = [c for c in (spec.protected if protected is None else protected) if c in frame.columns]
    if name in frame.columns:
        return name
    labels = {group_column_name(c, spec, frame[c]): c for c in names}
    if name in labels:
        return labels[name]
    choices = sorted({*names, *labels})
    raise ConfigError(UNKNOWN_ATTRIBUTE.format(name=name, choices=choices))


def sensitive_features(
    frame: pd.DataFrame, spec: DatasetSpec, protected: Sequence[str] | None = None
) -> pd.DataFrame:
    """One column of group labels (strings) per protected attribute, same rows as ``frame``.

    Parameters
    ----------
    frame : DataFrame
        Raw applications, including the protected columns (and derived ones).
    spec : DatasetSpec
        Names the protected columns and the age role.
    protected : sequence of str, optional
        Attributes to use; defaults to ``spec.protected``.

    Raises
    ------
    DataError
        If a protected column is not in the frame, or there is none to use.
    """
    names = list(spec.protected if protected is None else protected)
    if not names:
        raise DataError("no protected attributes: declare them in the spec or pass --protected")
    missing = [c for c in names if c not in frame.columns]
    if missing:
        raise DataError(f"protected columns missing from the data: {missing}")
    out = {}
    for name in names:
        values = frame[name]
        label = group_column_name(name, spec, values)
        if label.endswith("_band"):
            out[label] = age_bands(values)
        elif label.endswith("_quartile"):
            out[label] = _quartiles(values)
        else:
            out[label] = values.astype(object).where(values.notna(), MISSING).astype(str)
    return pd.DataFrame(out, index=frame.index)
