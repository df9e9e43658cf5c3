"""The federation's shared feature steps, agreed without sharing a row.

Every lender must turn its applications into the same model columns, so the feature
pipeline (:func:`greenscore.features.pipeline.build_feature_pipeline`) must be fitted
once, the same for all. What it learns from data is small: the levels of each categorical
column and a typical value of a few numeric ones (whether interest rates are percentages).
So each lender reports a :class:`SchemaReport` (its row count, the levels it has seen and,
per numeric column, the mean of ``sign(x) * log1p(|x|)``), the server merges the reports
into a :class:`FederationSchema`, and everyone fits the pipeline on the same small
*schema frame* built from it: one row per level, numerics at the federation's typical
value. Fitting is deterministic, so the server and every lender hold identical pipelines
although only the schema (JSON) travelled.

Levels are schema, not data: a level appears in the shared schema if any lender has it.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from sklearn.pipeline import Pipeline

from greenscore.data.spec import DatasetSpec
from greenscore.errors import DataError
from greenscore.features.pipeline import build_feature_pipeline

ERR_COLUMNS = (
    "lender '{lender}' reported columns {got}, the federation expects {expected}; a lender "
    "whose columns differ cannot join"
)


def _plain(value: Any) -> Any:
    """A level as JSON: NumPy scalars become Python numbers, integral floats ints."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _signed_log(values: np.ndarray) -> np.ndarray:
    return np.sign(values) * np.log1p(np.abs(values))


@dataclass
class SchemaReport:
    """What one lender tells the federation about its columns (no rows).

    Attributes
    ----------
    lender : its name.
    rows : number of training rows.
    columns : model-input columns, in order.
    levels : categorical column -> sorted levels seen.
    log_means : numeric column -> mean of ``sign(x) log1p(|x|)`` (NaN if all missing).
    """

    lender: str
    rows: int
    columns: list[str]
    levels: dict[str, list[Any]]
    log_means: dict[str, float]

    def to_json(self) -> str:
        """JSON text (NaN as null)."""
        data = asdict(self)
        data["log_means"] = {
            k: (None if not np.isfinite(v) else v) for k, v in self.log_means.items()
        }
        return json.dumps(data)

    @classmethod
    def from_json(cls, text: str) -> SchemaReport:
        """Inverse of :meth:`to_json`."""
        data = json.loads(text)
        data["log_means"] = {
            k: (np.nan if v is None else float(v)) for k, v in data["log_means"].items()
        }
        return cls(**data)


def categorical_columns(X: pd.DataFrame, spec: DatasetSpec) -> list[str]:  # noqa: N803
    """Columns the feature pipeline treats as categorical (declared, or not numeric)."""
    declared = set(spec.categorical)
    return [
        c
        for c in X.columns
        if c in declared
        or not (pd.api.types.is_numeric_dtype(X[c]) or pd.api.types.is_bool_dtype(X[c]))
    ]


def schema_report(X: pd.DataFrame, spec: DatasetSpec, *, lender: str) -> SchemaReport:  # noqa: N803
    """A lender's report on its model input ``X`` (see :class:`SchemaReport`)."""
    categorical = categorical_columns(X, spec)
    levels: dict[str, list[Any]] = {}
    for column in categorical:
        seen = {_plain(v) for v in pd.unique(X[column].dropna())}
        levels[column] = sorted(
            seen, key=lambda v: (isinstance(v, str), str(v) if isinstance(v, str) else v)
        )
    log_means: dict[str, float] = {}
    for column in X.columns:
        if column in levels:
            continue
        values = pd.to_numeric(X[column], errors="coerce").to_numpy(dtype=float)
        finite = values[np.isfinite(values)]
        log_means[column] = float(_signed_log(finite).mean()) if finite.size else float("nan")
    return SchemaReport(lender, len(X), [str(c) for c in X.columns], levels, log_means)


@dataclass
class FederationSchema:
    """The merged schema every party fits its feature steps on.

    Attributes
    ----------
    columns : model-input columns, in the spec's order (the feature steps put any
        lender's columns in this order).
    levels : categorical column -> union of the lenders' levels, sorted.
    typical : numeric column -> ``sign(m) expm1(|m|)`` of the row-weighted mean ``m`` of
        the lenders' log means (NaN when no lender has a value).
    rows : lender -> its row count.
    """

    columns: list[str]
    levels: dict[str, list[Any]]
    typical: dict[str, float]
    rows: dict[str, int] = field(default_factory=dict)

    def to_json(self) -> str:
        """JSON text (NaN as null), sent to every lender."""
        data = asdict(self)
        data["typical"] = {k: (None if not np.isfinite(v) else v) for k, v in self.typical.items()}
        return json.dumps(data, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> FederationSchema:
        """Inverse of :meth:`to_json`."""
        data = json.loads(text)
        data["typical"] = {
            k: (np.nan if v is None else float(v)) for k, v in data["typical"].items()
        }
        return cls(**data)

    def fingerprint(self) -> str:
        """Short hash of the schema: identical pipelines have identical fingerprints."""
        return hashlib.sha256(self.to_json().encode()).hexdigest()[:16]


def merge_reports(reports: list[SchemaReport], *, expected: list[str]) -> FederationSchema:
    """Merge lender reports into the federation's schema.

    Raises
    ------
    DataError
        If a lender's columns differ from ``expected`` (the spec's feature columns).
    """
    for report in reports:
        if sorted(report.columns) != sorted(expected):
            raise DataError(
                ERR_COLUMNS.format(lender=report.lender, got=report.columns, expected=expected)
            )
    levels: dict[str, list[Any]] = {}
    for column in expected:
        seen: set[Any] = set()
        for report in reports:
            seen.update(report.levels.get(column, []))
        if any(column in r.levels for r in reports):
            levels[column] = sorted(
                seen, key=lambda v: (isinstance(v, str), str(v) if isinstance(v, str) else v)
            )
    typical: dict[str, float] = {}
    for column in expected:
        if column in levels:
            continue
        pairs = [(r.rows, r.log_means.get(column, np.nan)) for r in reports]
        pairs = [(n, m) for n, m in pairs if np.isfinite(m)]
        if not pairs:
            typical[column] = float("nan")
            continue
        m = sum(n * v for n, v in pairs) / sum(n for n, _ in pairs)
        typical[column] = float(np.sign(m) * np.expm1(abs(m)))
    return FederationSchema(list(expected), levels, typical, {r.lender: r.rows for r in reports})


def schema_frame(schema: FederationSchema, spec: DatasetSpec) -> pd.DataFrame:
    """The frame the feature steps are fitted on: one row per level, numerics typical."""
    n = max([1, *(len(v) for v in schema.levels.values())])
    data: dict[str, Any] = {}
    for column in schema.columns:
        if column in schema.levels:
            levels = schema.levels[column] or [np.nan]
            values = [levels[i % len(levels)] for i in range(n)]
            is_text = any(isinstance(v, str) for v in levels)
            data[column] = pd.Series(values, dtype=object if is_text else float)
        else:
            data[column] = np.full(n, schema.typical.get(column, np.nan), dtype=float)
    frame = pd.DataFrame(data)
    if spec.id_column:
        frame.index = pd.RangeIndex(n, name=spec.id_column)
    return frame


def fit_shared_features(schema: FederationSchema, spec: DatasetSpec) -> Pipeline:
    """The fitted feature pipeline of the federation (identical wherever it is built)."""
    frame = schema_frame(schema, spec)
    # Relations stay with each lender (a borrower graph never leaves its bank), so the
    # relational step is fitted without any and adds nothing.
    return build_feature_pipeline(spec).fit(frame, np.zeros(len(frame), dtype=int))
