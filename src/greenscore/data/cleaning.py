"""Cleaning raw applications into what their spec says they are: one implementation for a
file read in bulk and for one applicant sent to the API.

Only *format* is fixed here, never values: column names (surrounding spaces, a UTF-8
byte-order mark read as part of the first name), the spec's quote stripping (ARFF exports
write ``'<0'``), numbers stored as text with missing-value markers (``?``, ``n/a``, … and
the spec's ``missing_values``) and the spec's derived columns. A value that still is not a
number in a numeric column is *unreadable*: :func:`clean_frame` names its row and column,
or (``strict=False``, when training data is read) leaves the column as text for
validation to report.

A frame is cleaned by mapping the same scalar functions (:func:`unquote`,
:func:`read_number`) over its distinct values, so the CLI, batch jobs, the API and the
Python API turn the same raw value into the same model input.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from greenscore.data.io import MISSING_TOKENS
from greenscore.data.spec import DatasetSpec
from greenscore.errors import DataError

NOT_A_NUMBER = "{value!r} is not a number"
UNREADABLE = "row {row}, column '{column}': {value!r} is not a number{more}"
DERIVED_SOURCE_MISSING = "derived column '{name}' needs missing column '{source}'"
#: ``DataFrame.attrs`` key listing the text values cleaning read as missing, per column.
TEXT_AS_MISSING = "greenscore_text_as_missing"
_QUOTED = re.compile(r"^'(.*)'$", re.DOTALL)
_BOM = "\ufeff"


@dataclass(frozen=True)
class RowProblem:
    """Why one row cannot be scored as it is.

    Attributes
    ----------
    row : the row's index label (for a file read by GreenScore, the 0-based data row).
    position : the row's 0-based position in the frame.
    column : the offending column.
    value : the value as given.
    message : one line naming the row, the column and what was expected.
    """

    row: Any
    position: int
    column: str
    value: Any
    message: str


# ---------------------------------------------------------------------- one value
def clean_name(name: Any) -> str:
    """A column name without surrounding spaces or a byte-order mark."""
    return str(name).replace(_BOM, "").strip()


def unquote(value: Any, *, strip_quotes: bool) -> Any:
    """Remove one pair of single quotes around a text value when the spec says so."""
    if strip_quotes and isinstance(value, str):
        match = _QUOTED.match(value)
        if match:
            return match.group(1)
    return value


def missing_tokens(spec: DatasetSpec, column: str) -> frozenset[str]:
    """Lower-case text values that mean *missing* in a numeric column of the spec."""
    extra = spec.missing_values.get(column)
    if not extra:
        return MISSING_TOKENS
    return MISSING_TOKENS | {str(v).strip().lower() for v in extra}


def read_number(value: Any, *, strip_quotes: bool, missing: frozenset[str]) -> float:
    """A numeric column's value as a float; NaN for missing.

    Parameters
    ----------
    value : Any
        As read or sent: a number, numeric text (``" 12.5"``, ``"'12'"``), a missing
        marker (None, NaN, ``"?"``, one of ``missing``) or something else.
    strip_quotes : bool
        Whether one pair of single quotes around the text is removed first.
    missing : frozenset of str
        Lower-case texts that mean missing (:func:`missing_tokens`).

    Raises
    ------
    ValueError
        If the value is text that is not a number and not a missing marker.
    """
    if value is None or value is pd.NA:
        return math.nan
    if isinstance(value, bool | np.bool_):
        return float(value)
    if isinstance(value, int | float | np.integer | np.floating):
        return float(value)
    if isinstance(value, str):
        text = unquote(value.strip(), strip_quotes=strip_quotes).strip()
        if text.lower() in missing:
            return math.nan
        try:
            return float(text)
        except ValueError:
            raise ValueError(NOT_A_NUMBER.format(value=value)) from None
    raise ValueError(NOT_A_NUMBER.format(value=value))


# ---------------------------------------------------------------------- a frame
def _is_number_column(series: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(series) or pd.api.types.is_bool_dtype(series)


def _map_distinct(series: pd.Series, convert: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``convert`` applied once per distinct value.

    Returns
    -------
    codes : ndarray of int
        Index of each row's value in ``converted`` (missing values point at a final None).
    converted : ndarray of object
        Converted distinct values, then None.
    failed : ndarray of bool
        Per distinct value, whether ``convert`` raised ``ValueError``.
    """
    codes, uniques = pd.factorize(series, use_na_sentinel=True)
    converted: list[Any] = []
    failed = np.zeros(len(uniques), dtype=bool)
    for k, value in enumerate(uniques):
        try:
            converted.append(convert(value))
        except ValueError:
            converted.append(None)
            failed[k] = True
    return codes, np.asarray([*converted, None], dtype=object), failed


def _numbers(
    frame: pd.DataFrame, column: str, spec: DatasetSpec
) -> tuple[pd.Series | None, list[RowProblem], list[str]]:
    """A text column as floats (None if some value cannot be read), the rows it cannot
    read, and the texts it read as missing only because the spec lists them."""
    series = frame[column]
    missing = missing_tokens(spec, column)

    def convert(value: Any) -> float:
        return read_number(value, strip_quotes=spec.strip_quotes, missing=missing)

    codes, converted, failed = _map_distinct(series, convert)
    if failed.any():
        problems = []
        for position in np.flatnonzero(np.isin(codes, np.flatnonzero(failed))):
            value, row = series.iat[position], frame.index[position]
            row = row.item() if isinstance(row, np.generic) else row
            message = UNREADABLE.format(row=row, column=column, value=value, more="")
            problems.append(RowProblem(row, int(position), column, value, message))
        return None, problems, []
    values = pd.Series(converted[codes].astype(float), index=frame.index, name=column)
    declared = {str(v).strip().lower() for v in spec.missing_values.get(column, [])}
    found: list[str] = []
    if declared - MISSING_TOKENS:
        texts = pd.unique(series[values.isna().to_numpy() & series.notna().to_numpy()])
        for value in texts:
            text = unquote(str(value).strip(), strip_quotes=spec.strip_quotes).strip().lower()
            if text not in MISSING_TOKENS:
                found.append(str(value))
    return values, [], found


def numeric_columns(spec: DatasetSpec) -> list[str]:
    """Columns the spec declares numeric: features and monthly histories."""
    return list(dict.fromkeys([*spec.numeric, *spec.sequence_columns]))


def unreadable_values(frame: pd.DataFrame, spec: DatasetSpec) -> list[RowProblem]:
    """Every value of a numeric column that is neither a number nor a missing marker.

    ``frame`` may be raw (names and quotes are cleaned first); rows are in frame order.
    """
    frame = _clean_names(frame)
    problems: list[RowProblem] = []
    for column in numeric_columns(spec):
        if column in frame.columns and not _is_number_column(frame[column]):
            problems += _numbers(frame, column, spec)[1]
    return sorted(problems, key=lambda p: p.position)


def _clean_names(frame: pd.DataFrame) -> pd.DataFrame:
    names = [clean_name(c) for c in frame.columns]
    if names == list(frame.columns):
        return frame
    return frame.set_axis(names, axis=1)


def _unquoted(series: pd.Series) -> pd.Series:
    codes, converted, _ = _map_distinct(series, lambda v: unquote(v, strip_quotes=True))
    return pd.Series(converted[codes], index=series.index, name=series.name, dtype=object)


def unquote_frame(frame: pd.DataFrame, *, skip: Iterable[str] = ()) -> pd.DataFrame:
    """A copy of ``frame`` with one pair of single quotes removed from every text value
    (columns in ``skip`` and number columns untouched); missing values become None."""
    out = frame.copy()
    skipped = set(skip)
    for column in out.columns:
        if column not in skipped and not _is_number_column(out[column]):
            out[column] = _unquoted(out[column])
    return out


def add_derived_columns(
    frame: pd.DataFrame, spec: DatasetSpec, *, require: bool = True
) -> pd.DataFrame:
    """Add the spec's derived columns (e.g. sex from ``personal_status``).

    Parameters
    ----------
    require : bool
        Raise when a source column is absent; False skips that derived column (a file
        to score need not carry columns the model does not read).
    """
    if not spec.derived:
        return frame
    out = frame.copy()
    for derived in spec.derived:
        if derived.source not in out.columns:
            if require:
                raise DataError(
                    DERIVED_SOURCE_MISSING.format(name=derived.name, source=derived.source)
                )
            continue
        source = out[derived.source].astype(str).str.lower()
        labels = pd.Series(derived.default, index=out.index, dtype=object)
        # Longest key first so "female" is matched before its substring "male".
        for key in sorted(derived.contains, key=len, reverse=True):
            hit = source.str.contains(key.lower(), regex=False) & labels.isna()
            labels[hit] = derived.contains[key]
        out[derived.name] = labels
    return out


def clean_frame(
    frame: pd.DataFrame, spec: DatasetSpec, *, strict: bool = True, derived: bool = True
) -> pd.DataFrame:
    """Clean a raw applications frame as its spec says; never drops or reorders rows.

    Parameters
    ----------
    frame : DataFrame
        As read (``pandas.read_csv`` or :func:`greenscore.data.io.read_table`).
    spec : DatasetSpec
    strict : bool, default True
        Raise on a value of a numeric column that cannot be read; False leaves such a
        column as text (validation then names its rows).
    derived : bool, default True
        Add the spec's derived columns whose source column is present.

    Returns
    -------
    DataFrame
        A new frame: clean names, quotes stripped, numeric columns as floats. Text
        values read as missing because the spec lists them are named in
        ``attrs[TEXT_AS_MISSING]`` (column -> values) for validation to report.

    Raises
    ------
    DataError
        (strict) Naming the first row and column holding an unreadable number.

    Examples
    --------
    >>> spec = DatasetSpec(target="y", numeric=["income"], strip_quotes=True)
    >>> raw = pd.DataFrame({"\\ufeffgrade": ["'A'", "B"], "income": ["1200", "?"]})
    >>> clean_frame(raw, spec).to_dict("list")
    {'grade': ['A', 'B'], 'income': [1200.0, nan]}
    """
    out = _clean_names(frame)
    # Numeric columns are unquoted value by value as they are read (read_number).
    out = unquote_frame(out, skip=numeric_columns(spec)) if spec.strip_quotes else out.copy()
    problems: list[RowProblem] = []
    text_as_missing: dict[str, list[str]] = {}
    for column in numeric_columns(spec):
        if column not in out.columns or _is_number_column(out[column]):
            continue
        values, bad, found = _numbers(out, column, spec)
        if values is not None:
            out[column] = values
        problems += bad
        if found:
            text_as_missing[column] = found
    if problems and strict:
        first = min(problems, key=lambda p: p.position)
        more = len(problems) - 1
        raise DataError(
            UNREADABLE.format(
                row=first.row,
                column=first.column,
                value=first.value,
                more=f" ({more} more unreadable value{'s' * (more != 1)})" if more else "",
            )
        )
    if derived:
        out = add_derived_columns(out, spec, require=False)
    out.attrs[TEXT_AS_MISSING] = text_as_missing
    return out


def rows_without(frame: pd.DataFrame, problems: Iterable[RowProblem]) -> pd.DataFrame:
    """``frame`` without the rows named by ``problems`` (by position)."""
    drop = {p.position for p in problems}
    if not drop:
        return frame
    keep = np.array([i not in drop for i in range(len(frame))], dtype=bool)
    return frame.iloc[keep]
