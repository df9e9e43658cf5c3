"""Outcome files: from a table of observed defaults to :class:`~greenscore.store.outcomes.Outcome`.

A file (CSV, JSON, Parquet: whatever :func:`greenscore.data.io.read_table` reads) holds one
row per loan: ``request_id`` (the decision's id) or ``applicant_id``, ``defaulted``
(1/0, true/false, yes/no), ``observed_at`` (a date) and optionally ``loan_date``. Every row
is checked before any is recorded; the first bad one is named with its row number (0 is
the first data row) and column. An API route builds the same ``Outcome`` values from its
request body and calls the same store function.
"""

from __future__ import annotations

import pandas as pd

from greenscore.errors import DataError
from greenscore.store.outcomes import Outcome

#: The audit action of every load of outcomes (``greenscore outcomes load``, ``POST /v1/outcomes``).
AUDIT_ACTION = "outcomes.load"
ID_COLUMNS = ("request_id", "applicant_id")
REQUIRED = ("defaulted", "observed_at")
MISSING_COLUMNS = (
    "outcomes need the columns {needed} and one of request_id, applicant_id; missing {missing}"
)
BAD_FLAG = "row {row}, column 'defaulted': {value!r} is not 1/0, true/false or yes/no"
BAD_DATE = "row {row}, column '{column}': {value!r} is not a date"
NO_ID = "row {row}: neither request_id nor applicant_id is given"
EMPTY = "the outcomes file has no rows"
_TRUE = {"1", "1.0", "true", "t", "yes", "y", "default", "defaulted"}
_FALSE = {"0", "0.0", "false", "f", "no", "n", "current", "repaid"}


def _flag(value: object, row: int) -> bool:
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise DataError(BAD_FLAG.format(row=row, value=value))


def _date(value: object, row: int, column: str) -> pd.Timestamp:
    moment = pd.to_datetime(value, errors="coerce", utc=True)
    if pd.isna(moment):
        raise DataError(BAD_DATE.format(row=row, column=column, value=value))
    return moment


def _text(value: object) -> str | None:
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return None
    text = str(value).strip()
    if text.endswith(".0") and text[:-2].isdigit():
        text = text[:-2]  # an integer id read back as a float from a column with gaps
    return text or None


def parse_outcomes(frame: pd.DataFrame) -> list[Outcome]:
    """Read every row of an outcomes table, or refuse it naming the first bad row.

    Raises
    ------
    DataError
        If a required column is missing, a row has no id, ``defaulted`` is not a yes/no
        value, or a date cannot be read.
    """
    columns = {str(c).strip().lower(): c for c in frame.columns}
    missing = [c for c in REQUIRED if c not in columns]
    if missing or not any(c in columns for c in ID_COLUMNS):
        if not any(c in columns for c in ID_COLUMNS):
            missing.append("request_id or applicant_id")
        raise DataError(MISSING_COLUMNS.format(needed=list(REQUIRED), missing=missing))
    if frame.empty:
        raise DataError(EMPTY)
    rows = frame.rename(columns={v: k for k, v in columns.items()})
    out = []
    for row, record in enumerate(rows.to_dict("records")):
        request_id = _text(record.get("request_id"))
        applicant_id = _text(record.get("applicant_id"))
        if request_id is None and applicant_id is None:
            raise DataError(NO_ID.format(row=row))
        loan = record.get("loan_date")
        out.append(
            Outcome(
                defaulted=_flag(record["defaulted"], row),
                observed_at=_date(record["observed_at"], row, "observed_at").to_pydatetime(),
                request_id=request_id,
                applicant_id=None if request_id is not None else applicant_id,
                loan_date=(
                    None if _text(loan) is None else _date(loan, row, "loan_date").to_pydatetime()
                ),
            )
        )
    return out
