"""What the monitor compares with: the reference distribution of each column and of the PD.

A reference comes either from a file of applications (the training data or a stable
period: full bins, samples for KS and Wasserstein, ranges, levels and missing shares) or,
when no file is given, from the model bundle itself: the ranges and category levels
``greenscore train`` stores per feature and the quantiles of its out-of-fold PDs. The
bundle's reference is enough for the score PSI and for range and unseen-category checks;
per-feature PSI needs the file.

The monitored columns are the model's features plus the spec's protected attributes (a
shift in who applies matters to fairness even when the model never reads the column);
identifiers, PII, dates, the target and dropped columns are never monitored.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from greenscore.data.spec import DatasetSpec
from greenscore.errors import DataError
from greenscore.monitoring.drift import Bins, Kind, fit_bins, prepare, quantile_bins

COLUMNS_DIFFER = "current data does not match the reference: {problems}"
NO_MONITORED_COLUMNS = "no column of the reference is a model feature or protected attribute"
#: Reference values kept per numeric column for KS and Wasserstein (a seeded sample above).
MAX_SAMPLE = 20_000


@dataclass(frozen=True)
class ColumnReference:
    """The reference of one monitored column.

    Attributes
    ----------
    name, kind : the column and ``numeric`` or ``categorical``.
    role : ``feature`` (the model reads it) or ``protected``.
    bins : reference bins and shares (None when the reference is the bundle's ranges).
    sample : reference values of a numeric column for KS and Wasserstein, or None.
    low, high : reference range of a numeric column.
    levels : reference levels of a categorical column.
    missing_share : share of missing values in the reference, or None if unknown.
    """

    name: str
    kind: Kind
    role: str
    bins: Bins | None = None
    sample: np.ndarray | None = field(default=None, repr=False)
    low: float | None = None
    high: float | None = None
    levels: tuple[str, ...] | None = None
    missing_share: float | None = None


@dataclass(frozen=True)
class Reference:
    """Everything the monitor compares current data with.

    Attributes
    ----------
    source : ``file:<location>`` or ``bundle``.
    rows : reference rows (None for the bundle's reference).
    columns : monitored column name -> :class:`ColumnReference`.
    score : bins of the reference PDs (None when the model gave none).
    score_sample : reference PDs for KS and Wasserstein (None for the bundle's quantiles).
    file_columns : every column of the reference file (current files must have the same).
    """

    source: str
    rows: int | None
    columns: dict[str, ColumnReference]
    score: Bins | None = None
    score_sample: np.ndarray | None = field(default=None, repr=False)
    file_columns: tuple[str, ...] | None = None

    def check_columns(self, columns: Sequence[str], *, ignore: Sequence[str] = ()) -> None:
        """Refuse current data whose columns differ from the reference's, naming them.

        With a reference file the two must hold the same columns (order aside; ``ignore``,
        e.g. the target, may be in either). With the bundle's reference every monitored
        column must be present and extra columns are allowed.

        Raises
        ------
        DataError
            One line naming the missing and the extra columns.
        """
        have = [c for c in columns if c not in ignore]
        expected = (
            [c for c in self.file_columns if c not in ignore]
            if self.file_columns is not None
            else list(self.columns)
        )
        missing = [c for c in expected if c not in set(have)]
        extra = [c for c in have if c not in set(expected)] if self.file_columns is not None else []
        problems = []
        if missing:
            problems.append(f"missing columns {missing}")
        if extra:
            problems.append(f"extra columns {extra}")
        if problems:
            raise DataError(COLUMNS_DIFFER.format(problems="; ".join(problems)))


def column_kind(spec: DatasetSpec, column: str, values: pd.Series | None = None) -> Kind:
    """``categorical`` if the spec says so or the values are not numbers, else ``numeric``."""
    if column in spec.categorical:
        return "categorical"
    if column in spec.numeric or column in spec.sequence_columns:
        return "numeric"
    if values is None:
        return "numeric"
    numeric = pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values)
    return "numeric" if numeric else "categorical"


def monitored_columns(spec: DatasetSpec, columns: Sequence[str]) -> dict[str, str]:
    """Monitored column -> role (``feature`` or ``protected``), in the data's order."""
    features = set(spec.feature_columns(list(columns)))
    protected = set(spec.protected) - {spec.target}
    return {
        c: ("feature" if c in features else "protected")
        for c in columns
        if c in features or c in protected
    }


def _sample(values: np.ndarray, seed: int) -> np.ndarray:
    known = values[~np.isnan(values)]
    if len(known) <= MAX_SAMPLE:
        return known
    return np.random.default_rng(seed).choice(known, MAX_SAMPLE, replace=False)


def reference_from_frame(
    frame: pd.DataFrame,
    spec: DatasetSpec,
    *,
    scores: np.ndarray | None = None,
    n_bins: int = 10,
    source: str = "file",
    seed: int = 0,
) -> Reference:
    """Build the reference from a frame of applications (and the model's PDs on them).

    Raises
    ------
    DataError
        If no column of the frame is monitored.
    """
    roles = monitored_columns(spec, list(frame.columns))
    if not roles:
        raise DataError(NO_MONITORED_COLUMNS)
    columns: dict[str, ColumnReference] = {}
    for name, role in roles.items():
        series = frame[name]
        kind = column_kind(spec, name, series)
        values = prepare(series, kind)
        bins = fit_bins(values, kind=kind, n_bins=n_bins)
        missing = float(series.isna().mean()) if len(series) else 0.0
        if kind == "numeric":
            known = values[~np.isnan(values)]
            columns[name] = ColumnReference(
                name=name,
                kind=kind,
                role=role,
                bins=bins,
                sample=_sample(values, seed),
                low=float(known.min()) if len(known) else None,
                high=float(known.max()) if len(known) else None,
                missing_share=missing,
            )
        else:
            columns[name] = ColumnReference(
                name=name,
                kind=kind,
                role=role,
                bins=bins,
                levels=bins.levels,
                missing_share=missing,
            )
    score_bins = score_sample = None
    if scores is not None:
        p = np.asarray(scores, dtype=float)
        score_bins = fit_bins(p, kind="numeric", n_bins=n_bins)
        score_sample = _sample(p, seed)
    return Reference(
        source=source,
        rows=len(frame),
        columns=columns,
        score=score_bins,
        score_sample=score_sample,
        file_columns=tuple(map(str, frame.columns)),
    )


def reference_from_metadata(
    metadata: dict[str, Any], spec: DatasetSpec, *, n_bins: int = 10
) -> Reference:
    """Build the reference a bundle carries: training ranges, levels and PD quantiles.

    Raises
    ------
    DataError
        If the bundle stores neither training ranges nor PD quantiles.
    """
    ranges: dict[str, Any] = metadata.get("training_ranges") or {}
    quantiles = metadata.get("training_pd")
    if not ranges and not quantiles:
        raise DataError(
            "the model stores no training ranges or PD quantiles: give a reference file"
        )
    columns: dict[str, ColumnReference] = {}
    for name, entry in ranges.items():
        if "levels" in entry:
            columns[name] = ColumnReference(
                name=name,
                kind="categorical",
                role="feature",
                levels=tuple(str(v).strip() for v in entry["levels"]),
            )
        else:
            columns[name] = ColumnReference(
                name=name,
                kind="numeric",
                role="feature",
                low=entry.get("min"),
                high=entry.get("max"),
            )
    return Reference(
        source="bundle",
        rows=(metadata.get("lineage") or {}).get("rows"),
        columns=columns,
        score=quantile_bins(quantiles, n_bins) if quantiles else None,
    )
