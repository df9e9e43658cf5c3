"""Check a credit table against its :class:`DatasetSpec` before anything is fitted on it.

:func:`validate` returns a :class:`ValidationReport` of findings, each an *error* (the
data cannot be modelled as declared) or a *warning* (it can, but a person should look).
Column presence and numeric coercibility come from a pandera schema built from the spec;
the credit rules (binary target, unique ids, plausible ages and amounts, missing rates,
constant columns, leakage suspects, complete monthly histories, duplicate rows) follow.
Rule names are module constants so callers and tests can match them exactly.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd

from greenscore.config import get_settings
from greenscore.data.cleaning import TEXT_AS_MISSING
from greenscore.data.infer import broken_numeric, identifier_like
from greenscore.data.io import MISSING_TOKENS
from greenscore.data.loading import encode_target
from greenscore.data.spec import AGE_RANGE, DatasetSpec
from greenscore.errors import DataError

Level = Literal["error", "warning"]

COLUMN_MISSING = "column_missing"
NOT_NUMERIC = "not_numeric"
TARGET_MISSING = "target_missing"
TARGET_NULL = "target_null"
TARGET_NOT_BINARY = "target_not_binary"
POSITIVE_LABEL_ABSENT = "positive_label_absent"
ID_NULL = "id_null"
DUPLICATE_IDS = "duplicate_ids"
NEGATIVE_AMOUNT = "negative_amount"
IMPOSSIBLE_AGE = "impossible_age"
HIGH_MISSING = "high_missing_rate"
ALL_MISSING = "all_missing"
CONSTANT_COLUMN = "constant_column"
LEAKAGE_SUSPECT = "leakage_suspect"
SEQUENCE_COLUMNS_MISSING = "sequence_columns_missing"
SEQUENCE_HOLES = "sequence_holes"
DUPLICATE_ROWS = "duplicate_rows"
DECLARED_ABSENT = "declared_column_absent"
TEXT_READ_AS_MISSING = "text_read_as_missing"
TOO_MANY_LEVELS = "too_many_levels"
OUTSIDE_BOUNDS = "outside_bounds"
IDENTIFIER_LIKE = "identifier_like"
BROKEN_NUMERIC = "broken_numeric"
RELATION_ENDPOINT_MISSING = "relation_endpoint_missing"
RELATIONS_UNMATCHED = "relations_unmatched"

#: Share of missing values above which a column is a warning.
MISSING_WARN_SHARE = 0.20
#: Univariate AUC (either direction) at or above which a feature is a leakage suspect.
LEAKAGE_AUC = 0.95
#: How many offending row labels a finding lists.
ROWS_SHOWN = 5
# A categorical is scored for leakage only with enough rows per level to trust its rates.
_MIN_ROWS_PER_LEVEL = 20
_MAX_LEAKAGE_LEVELS = 50


@dataclass(frozen=True)
class Finding:
    """One problem found in the data.

    Attributes
    ----------
    level : "error" or "warning".
    rule : the rule's name (a module constant such as ``DUPLICATE_IDS``).
    column : the column concerned, or None for table-wide findings.
    rows : index labels of the first offending rows (for a file read by
        :func:`~greenscore.data.loading.load_dataset`, 0-based data rows: file line = row + 2).
    message : one line naming the column and what was expected.
    """

    level: Level
    rule: str
    column: str | None
    rows: list[Any]
    message: str

    def to_dict(self) -> dict[str, Any]:
        """The finding as plain JSON-ready data."""
        return asdict(self)


@dataclass
class ValidationReport:
    """All findings for one table, errors first.

    Attributes
    ----------
    findings : list of Finding
    n_rows, n_columns : shape of the table checked.
    spec_name : name of the spec it was checked against.
    """

    findings: list[Finding] = field(default_factory=list)
    n_rows: int = 0
    n_columns: int = 0
    spec_name: str = ""

    @property
    def errors(self) -> list[Finding]:
        """Findings that make the data unusable as declared."""
        return [f for f in self.findings if f.level == "error"]

    @property
    def warnings(self) -> list[Finding]:
        """Findings a person should review."""
        return [f for f in self.findings if f.level == "warning"]

    @property
    def ok(self) -> bool:
        """True when there are no errors (warnings allowed)."""
        return not self.errors

    def to_dict(self) -> dict[str, Any]:
        """The report as plain JSON-ready data."""
        return {
            "ok": self.ok,
            "spec": self.spec_name,
            "rows": self.n_rows,
            "columns": self.n_columns,
            "errors": len(self.errors),
            "warnings": len(self.warnings),
            "findings": [f.to_dict() for f in self.findings],
        }

    def raise_for_errors(self) -> None:
        """Raise :class:`DataError` with the first error's message if there is one."""
        if self.errors:
            more = len(self.errors) - 1
            suffix = f" (and {more} more error{'s' * (more != 1)})" if more else ""
            raise DataError(f"validation failed: {self.errors[0].message}{suffix}")


def _rows(mask: pd.Series | np.ndarray, index: pd.Index) -> list[Any]:
    labels = index[np.asarray(mask, dtype=bool)][:ROWS_SHOWN]
    return [label.item() if isinstance(label, np.generic) else label for label in labels]


def _show(values: Any, limit: int = 3) -> str:
    items = [v.item() if isinstance(v, np.generic) else v for v in list(values)[:limit]]
    return ", ".join(repr(v) for v in items)


# ---------------------------------------------------------------------- schema (pandera)
def _without_placeholders(frame: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    """Blank out missing-value tokens ("?", "n/a", …) in text-typed numeric columns."""
    out = frame
    for column in columns:
        series = frame[column]
        if pd.api.types.is_numeric_dtype(series) or pd.api.types.is_bool_dtype(series):
            continue
        text = series.astype("string").str.strip()
        placeholder = text.str.lower().isin(MISSING_TOKENS).fillna(False)
        if placeholder.any():
            out = out.copy() if out is frame else out
            out[column] = series.where(~placeholder.to_numpy(), None)
    return out


def _required_columns(spec: DatasetSpec) -> list[str]:
    """Columns the spec uses as data (not sequences or the target: they have own rules)."""
    derived = set(spec.derived_names)
    named = [
        spec.id_column,
        spec.time_column,
        *spec.numeric,
        *spec.categorical,
        *spec.protected,
        *spec.roles.values(),
        *spec.amount_columns,
        *(d.source for d in spec.derived),
    ]
    skip = {spec.target, *spec.sequence_columns, *derived}
    return list(dict.fromkeys(c for c in named if c and c not in skip))


def _schema_findings(frame: pd.DataFrame, spec: DatasetSpec) -> list[Finding]:
    import pandera.pandas as pa
    from pandera.errors import SchemaErrors

    numeric = set(spec.numeric) | set(spec.sequence_columns)
    columns = {
        name: pa.Column(float if name in numeric else None, coerce=name in numeric, nullable=True)
        for name in _required_columns(spec)
    }
    for name in spec.sequence_columns:
        if name in frame.columns:  # absent sequence columns are reported per group
            columns[name] = pa.Column(float, coerce=True, nullable=True)
    try:
        pa.DataFrameSchema(columns).validate(frame, lazy=True)
    except SchemaErrors as exc:
        return _translate(exc.failure_cases, frame)
    return []


def _translate(cases: pd.DataFrame, frame: pd.DataFrame) -> list[Finding]:
    findings = []
    absent = cases[cases["check"] == "column_in_dataframe"]
    for name in absent["failure_case"]:
        findings.append(
            Finding(
                "error",
                COLUMN_MISSING,
                str(name),
                [],
                f"column '{name}' named in the spec is not in the data",
            )
        )
    coerce = cases[cases["check"].astype(str).str.startswith("coerce_dtype")]
    for column in dict.fromkeys(coerce["column"]):
        # pandera lists failures in no particular order; the rows come from the data.
        values = frame[column]
        bad = values.notna() & pd.to_numeric(values, errors="coerce").isna()
        rows = _rows(bad, frame.index)
        findings.append(
            Finding(
                "error",
                NOT_NUMERIC,
                str(column),
                rows,
                f"column '{column}' should be numeric but {int(bad.sum())} of {len(frame)} values "
                f"are text, e.g. {_show(values[bad].unique())} (rows {rows}); if they mean "
                f"'unknown', list them under missing_values: {{{column}: [...]}} in the spec",
            )
        )
    return findings


# ---------------------------------------------------------------------- credit rules
def _target_findings(
    frame: pd.DataFrame, spec: DatasetSpec
) -> tuple[list[Finding], np.ndarray | None]:
    """Target rules; also the 0/1 target for rows where it is known (None if unusable)."""
    target = spec.target
    if target not in frame.columns:
        message = f"target column '{target}' is not in the data"
        return [Finding("error", TARGET_MISSING, target, [], message)], None
    values = frame[target]
    findings = []
    missing = values.isna()
    if missing.any():
        rows = _rows(missing, frame.index)
        findings.append(
            Finding(
                "error",
                TARGET_NULL,
                target,
                rows,
                f"target '{target}' is missing in {int(missing.sum())} rows (rows {rows})",
            )
        )
    known = values[~missing]
    if not (pd.api.types.is_numeric_dtype(known) or pd.api.types.is_bool_dtype(known)):
        known = known.astype(str).str.strip()
    levels = pd.unique(known)
    if len(levels) != 2:
        shown = _show(levels, 6) or "none"
        message = f"target '{target}' must have exactly two values, found {len(levels)}: {shown}"
        return [*findings, Finding("error", TARGET_NOT_BINARY, target, [], message)], None
    y = encode_target(values[~missing], spec)
    if y.sum() == 0:
        message = (
            f"positive label {spec.positive_label!r} is not a value of target '{target}' "
            f"(values: {_show(levels)})"
        )
        return [*findings, Finding("error", POSITIVE_LABEL_ABSENT, target, [], message)], None
    full = np.full(len(frame), np.nan)
    full[~missing.to_numpy()] = y
    return findings, full


def _id_findings(frame: pd.DataFrame, spec: DatasetSpec) -> list[Finding]:
    column = spec.id_column
    if not column or column not in frame.columns:
        return []
    ids = frame[column]
    findings = []
    if ids.isna().any():
        rows = _rows(ids.isna(), frame.index)
        message = f"id column '{column}' is empty in {int(ids.isna().sum())} rows (rows {rows})"
        findings.append(Finding("error", ID_NULL, column, rows, message))
    repeated = ids.duplicated(keep=False) & ids.notna()
    if repeated.any():
        rows = _rows(repeated, frame.index)
        values = ids[repeated].unique()
        message = (
            f"id column '{column}' repeats {len(values)} values over {int(repeated.sum())} rows, "
            f"e.g. {_show(values)} (rows {rows})"
        )
        findings.append(Finding("error", DUPLICATE_IDS, column, rows, message))
    return findings


def _amount_findings(
    frame: pd.DataFrame, numbers: dict[str, pd.Series], spec: DatasetSpec
) -> list[Finding]:
    findings = []
    for column in spec.amount_columns:
        if column not in numbers:
            continue
        values = numbers[column]
        negative = values < 0
        count = int(negative.sum())
        known = int(values.notna().sum())
        # Mostly negative means a sign convention (money owed as negative), not bad rows.
        if count and count <= known / 2:
            rows = _rows(negative, frame.index)
            message = (
                f"amount column '{column}' is negative in {count} rows "
                f"(min {values.min():g}; rows {rows})"
            )
            findings.append(Finding("warning", NEGATIVE_AMOUNT, column, rows, message))
    return findings


def _age_findings(
    frame: pd.DataFrame, numbers: dict[str, pd.Series], spec: DatasetSpec
) -> list[Finding]:
    column = spec.roles.get("age")
    if not column or column not in numbers:
        return []
    ages = numbers[column]
    low, high = AGE_RANGE
    outside = (ages < low) | (ages > high)
    count = int(outside.sum())
    if not count:
        return []
    rows = _rows(outside, frame.index)
    message = (
        f"age column '{column}' has {count} impossible values outside {low}-{high} "
        f"(seen {ages[outside].min():g} to {ages[outside].max():g}; rows {rows})"
    )
    return [Finding("warning", IMPOSSIBLE_AGE, column, rows, message)]


def _bounds_findings(
    frame: pd.DataFrame, numbers: dict[str, pd.Series], spec: DatasetSpec
) -> list[Finding]:
    """Values outside the spec's own ``bounds`` (ages and amounts have their rules above)."""
    findings = []
    for column, (low, high) in spec.bounds.items():
        if column not in numbers:
            continue
        values = numbers[column]
        outside = (values < low if low is not None else False) | (
            values > high if high is not None else False
        )
        count = int(np.asarray(outside, dtype=bool).sum())
        if not count:
            continue
        rows = _rows(outside, frame.index)
        shown = f"[{'' if low is None else f'{low:g}'}, {'' if high is None else f'{high:g}'}]"
        message = (
            f"column '{column}' has {count} values outside its plausible range {shown} "
            f"(seen {values[outside].min():g} to {values[outside].max():g}; rows {rows})"
        )
        findings.append(Finding("warning", OUTSIDE_BOUNDS, column, rows, message))
    return findings


def _column_findings(
    frame: pd.DataFrame, spec: DatasetSpec, placeholders: pd.DataFrame
) -> list[Finding]:
    """Missing rates and constant columns over every column the spec does not set aside."""
    skip = {spec.target, spec.id_column, *spec.drop, *spec.pii}
    sequence = set(spec.sequence_columns)
    findings = []
    n = len(frame)
    missing_counts = placeholders.isna().sum()
    for column in frame.columns:
        if column in skip or n == 0:
            continue
        missing = int(missing_counts[column])
        if missing == n:
            message = f"column '{column}' is missing in every row"
            findings.append(Finding("error", ALL_MISSING, column, [], message))
            continue
        # Leading gaps in a monthly history are short histories, judged by the sequence rule.
        if column not in sequence and missing / n > MISSING_WARN_SHARE:
            message = (
                f"column '{column}' is missing in {missing / n:.0%} of rows ({missing} of {n})"
            )
            findings.append(Finding("warning", HIGH_MISSING, column, [], message))
        series = placeholders[column]
        try:
            levels = series.nunique(dropna=True)
        except TypeError:  # unhashable cells (lists from JSON)
            levels = series.astype(str).nunique(dropna=True)
        if levels == 1:
            value = series.dropna().iloc[0]
            message = f"column '{column}' holds one value ({_show([value])}) in every known row"
            findings.append(Finding("warning", CONSTANT_COLUMN, column, [], message))
    return findings


def _auc(score: np.ndarray, y: np.ndarray) -> float | None:
    positives = int(y.sum())
    negatives = len(y) - positives
    if positives < 2 or negatives < 2:
        return None
    ranks = pd.Series(score).rank(method="average").to_numpy()
    auc = (ranks[y == 1].sum() - positives * (positives + 1) / 2) / (positives * negatives)
    return float(max(auc, 1.0 - auc))


def _leakage_findings(
    frame: pd.DataFrame, numbers: dict[str, pd.Series], spec: DatasetSpec, y: np.ndarray
) -> list[Finding]:
    findings = []
    known_y = ~np.isnan(y)
    for column in spec.feature_columns(list(frame.columns)):
        if column in numbers and column not in spec.categorical:
            values = numbers[column].to_numpy(dtype=float)
            keep = known_y & ~np.isnan(values)
            score = values[keep]
        else:
            series = frame[column]
            keep = known_y & series.notna().to_numpy()
            try:
                levels = series[keep].nunique()
            except TypeError:
                continue
            if levels < 2 or levels > min(_MAX_LEAKAGE_LEVELS, keep.sum() / _MIN_ROWS_PER_LEVEL):
                continue
            # In-sample default rate per level: the best any model could do with this column.
            rates = pd.Series(y[keep]).groupby(series[keep].to_numpy()).transform("mean")
            score = rates.to_numpy()
        if keep.sum() < 10:
            continue
        auc = _auc(score, y[keep].astype(int))
        if auc is not None and auc >= LEAKAGE_AUC:
            message = (
                f"column '{column}' alone separates the target with AUC {auc:.3f}; "
                "check it is known before the decision (leakage?)"
            )
            findings.append(Finding("warning", LEAKAGE_SUSPECT, column, [], message))
    return findings


def _sequence_findings(
    frame: pd.DataFrame, numbers: dict[str, pd.Series], spec: DatasetSpec
) -> list[Finding]:
    findings = []
    for group in spec.sequences:
        absent = [c for c in group.columns if c not in frame.columns]
        if absent:
            message = f"sequence '{group.name}' lacks columns {absent}"
            findings.append(Finding("error", SEQUENCE_COLUMNS_MISSING, None, [], message))
            continue
        gaps = np.column_stack([numbers[c].isna().to_numpy() for c in group.columns])
        seen = np.logical_or.accumulate(~gaps, axis=1)
        # A gap after the first observed month is a hole; gaps before it are a short history.
        holes = gaps[:, 1:] & seen[:, :-1]
        bad = holes.any(axis=1)
        if bad.any():
            rows = _rows(bad, frame.index)
            message = (
                f"sequence '{group.name}' has a missing month after an observed one in "
                f"{int(bad.sum())} rows (rows {rows})"
            )
            findings.append(Finding("warning", SEQUENCE_HOLES, None, rows, message))
    return findings


def _duplicate_findings(frame: pd.DataFrame, spec: DatasetSpec) -> list[Finding]:
    columns = [c for c in frame.columns if c != spec.id_column]
    if not columns:
        return []
    try:
        repeated = frame[columns].duplicated(keep="first")
    except TypeError:  # unhashable cells (lists from JSON)
        repeated = frame[columns].astype(str).duplicated(keep="first")
    if not repeated.any():
        return []
    rows = _rows(repeated, frame.index)
    without_id = " (ignoring the id column)" if spec.id_column in frame.columns else ""
    message = f"{int(repeated.sum())} rows repeat an earlier row exactly{without_id} (rows {rows})"
    return [Finding("warning", DUPLICATE_ROWS, None, rows, message)]


def _text_as_missing(frame: pd.DataFrame) -> list[Finding]:
    """What cleaning read as missing because the spec lists it (``missing_values``)."""
    found = frame.attrs.get(TEXT_AS_MISSING) or {}
    return [
        Finding(
            "warning",
            TEXT_READ_AS_MISSING,
            column,
            [],
            f"column '{column}' is numeric: its text values {_show(values, 6)} are read as "
            "missing (the spec's missing_values)",
        )
        for column, values in found.items()
    ]


def _level_findings(frame: pd.DataFrame, spec: DatasetSpec, limit: int) -> list[Finding]:
    """Categorical features with more levels than a model can learn from."""
    numeric = {*spec.numeric, *spec.sequence_columns}
    findings = []
    for column in spec.feature_columns(list(frame.columns)):
        series = frame[column]
        categorical = column in spec.categorical or not (
            pd.api.types.is_numeric_dtype(series) or pd.api.types.is_bool_dtype(series)
        )
        if column in numeric or not categorical:
            continue
        try:
            levels = int(series.nunique(dropna=True))
        except TypeError:  # unhashable cells (lists from JSON)
            levels = int(series.astype(str).nunique(dropna=True))
        if levels > limit:
            message = (
                f"categorical feature '{column}' has {levels} distinct values, more than "
                f"{limit} (max_category_levels); drop it, declare it numeric if it is numbers "
                "(listing its few text values under missing_values), or raise "
                "max_category_levels in the spec"
            )
            findings.append(Finding("error", TOO_MANY_LEVELS, column, [], message))
    return findings


def _suspect_findings(frame: pd.DataFrame, spec: DatasetSpec) -> list[Finding]:
    """Text columns that look like identifiers or like broken numbers (an amount as text).

    An inferred spec drops them (:func:`~greenscore.data.infer.infer_spec`); a written
    spec may still use one as a feature, so the warning says which of the two happened.
    """
    features = set(spec.feature_columns(list(frame.columns)))
    skip = {spec.target, spec.id_column, *spec.pii, *spec.numeric, *spec.sequence_columns}
    findings = []
    for column in frame.columns:
        if column in skip:
            continue
        series = frame[column]
        fate = (
            "it is a feature because the spec does not drop it"
            if column in features
            else "kept out of the features"
        )
        if (why := broken_numeric(series)) is not None:
            message = f"column '{column}' is {why}: {fate}"
            findings.append(Finding("warning", BROKEN_NUMERIC, column, [], message))
        elif identifier_like(series):
            message = (
                f"column '{column}' looks like an identifier (all {len(series)} values are "
                f"distinct text): {fate}"
            )
            findings.append(Finding("warning", IDENTIFIER_LIKE, column, [], message))
    return findings


def _declared_absent(frame: pd.DataFrame, spec: DatasetSpec) -> list[Finding]:
    return [
        Finding(
            "warning",
            DECLARED_ABSENT,
            column,
            [],
            f"column '{column}' listed as PII or dropped is not in the data",
        )
        for column in dict.fromkeys([*spec.pii, *spec.drop])
        if column not in frame.columns and column not in spec.derived_names
    ]


# ---------------------------------------------------------------------- entry point
def _relation_findings(
    frame: pd.DataFrame, spec: DatasetSpec, relations: pd.DataFrame | None
) -> list[Finding]:
    """A relations table that train and score would refuse (a link missing an id), or
    whose links name none of the data's ids (other ids, or ids of another type)."""
    if relations is None or spec.relations is None:
        return []
    ends = [c for c in (spec.relations.source, spec.relations.target) if c in relations.columns]
    findings = []
    for column in ends:
        absent = relations[column].isna()
        if absent.any():
            findings.append(
                Finding(
                    "error",
                    RELATION_ENDPOINT_MISSING,
                    column,
                    _rows(absent, relations.index),
                    f"relations table: {int(absent.sum())} link(s) without '{column}'; "
                    "every link needs both borrower ids",
                )
            )
    ids = spec.id_column
    if ids and ids in frame.columns and ends and len(relations):
        named = pd.unique(pd.concat([relations[c] for c in ends]).dropna())
        if not frame[ids].isin(named).any():
            findings.append(
                Finding(
                    "warning",
                    RELATIONS_UNMATCHED,
                    ids,
                    [],
                    f"relations table: no link names an id of '{ids}' (other borrowers, or "
                    f"ids of another type: {_show(named)} against {_show(frame[ids])})",
                )
            )
    return findings


def validate(
    frame: pd.DataFrame,
    spec: DatasetSpec,
    *,
    max_category_levels: int | None = None,
    relations: pd.DataFrame | None = None,
) -> ValidationReport:
    """Check ``frame`` against ``spec``.

    Parameters
    ----------
    frame : pandas.DataFrame
        The table as read (target in its original labels).
    spec : DatasetSpec
        What the columns mean.
    max_category_levels : int, optional
        Most levels of a categorical feature; default the spec's ``max_category_levels``,
        else the ``training.max_category_levels`` setting.
    relations : pandas.DataFrame, optional
        The borrower links read with the table (the spec's relations file): a link
        missing an id is an error, links naming none of the table's ids a warning.

    Returns
    -------
    ValidationReport
        Errors first, then warnings. Errors: missing or non-numeric declared columns,
        an absent, incomplete or non-binary target, missing or repeated ids, wholly
        empty columns, incomplete sequence groups, categorical features with too many
        levels. Warnings: text read as missing in numeric columns, negative amounts,
        impossible ages, values outside the spec's bounds, missing rates over 20 %, constant columns, leakage suspects,
        holes inside monthly histories, duplicate rows, PII/drop columns not present, text
        columns that look like identifiers or like amounts stored as text.

    Examples
    --------
    >>> spec = DatasetSpec(target="bad", numeric=["income"])
    >>> frame = pd.DataFrame({"income": [1.0, 2.0, 3.0, 4.0], "bad": [0, 1, 0, 1]})
    >>> validate(frame, spec).ok
    True
    """
    text_findings = _text_as_missing(frame)
    frame = frame.rename(columns=str)
    if max_category_levels is None:
        max_category_levels = (
            spec.max_category_levels or get_settings().training.max_category_levels
        )
    numeric_declared = [
        c for c in dict.fromkeys([*spec.numeric, *spec.sequence_columns]) if c in frame.columns
    ]
    cleaned = _without_placeholders(frame, numeric_declared)
    findings = _schema_findings(cleaned, spec) + text_findings
    findings += _level_findings(frame, spec, max_category_levels)
    numbers = {c: pd.to_numeric(cleaned[c], errors="coerce") for c in numeric_declared}
    for column in frame.columns:
        if column not in numbers and pd.api.types.is_numeric_dtype(frame[column]):
            if not pd.api.types.is_bool_dtype(frame[column]):
                numbers[column] = frame[column]
    target_findings, y = _target_findings(frame, spec)
    findings += target_findings
    findings += _id_findings(frame, spec)
    findings += _sequence_findings(frame, numbers, spec)
    findings += _column_findings(frame, spec, cleaned)
    findings += _amount_findings(frame, numbers, spec)
    findings += _age_findings(frame, numbers, spec)
    findings += _bounds_findings(frame, numbers, spec)
    if y is not None:
        findings += _leakage_findings(frame, numbers, spec, y)
    findings += _duplicate_findings(frame, spec)
    findings += _suspect_findings(frame, spec)
    findings += _declared_absent(frame, spec)
    findings += _relation_findings(frame, spec, relations)
    findings.sort(key=lambda f: f.level != "error")
    return ValidationReport(findings, len(frame), frame.shape[1], spec.name)
