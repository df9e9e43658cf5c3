"""Protected groups of applicants, read from the spec.

Fairness is measured by protected attribute: categorical ones as they are (missing values
become their own ``missing`` group, never dropped), the age column in bands, other
numeric ones in quartiles. Derived protected columns (German credit's ``sex`` from
``personal_status``) are used like any other.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from greenscore.data.spec import DatasetSpec
from greenscore.errors import DataError

#: Age band edges (years): under 25, 25-34, 35-49, 50-64, 65 and over.
AGE_EDGES = (25, 35, 50, 65)
MISSING = "missing"
_MAX_LEVELS = 10


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
