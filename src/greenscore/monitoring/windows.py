"""Calendar windows (day, week, month) over a column of timestamps.

Weeks start on Monday (ISO 8601); months are calendar months. Rows without a timestamp
belong to no window, and the monitor counts them so they are never dropped unseen.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd

from greenscore.errors import DataError

Window = Literal["day", "week", "month"]
WINDOWS: tuple[str, ...] = ("day", "week", "month")
#: pandas period of each window; W-SUN is the week that ends on Sunday, so starts on Monday.
PERIODS = {"day": "D", "week": "W-SUN", "month": "M"}
BAD_WINDOW = "window must be one of {choices}, got '{window}'"
BAD_TIMES = "column '{column}' holds values that are not dates, e.g. row {row}: {value!r}"


@dataclass(frozen=True)
class WindowSlice:
    """One window: its label, first and last day, and which rows fall in it."""

    label: str
    start: str
    end: str
    rows: np.ndarray


def label_of(period: pd.Period, window: str) -> str:
    """A window's label: ``2024-05-31``, ``2024-W22`` (ISO week) or ``2024-05``."""
    return str(period) if window != "week" else period.start_time.strftime("%G-W%V")


def parse_times(values: pd.Series, *, column: str = "time") -> pd.Series:
    """Timestamps (naive UTC) of a column; missing stays missing.

    Raises
    ------
    DataError
        Naming the first value that is not a date.
    """
    parsed = pd.to_datetime(values, errors="coerce", utc=True)
    bad = parsed.isna() & values.notna()
    if bad.any():
        row = bad.to_numpy().nonzero()[0][0]
        raise DataError(BAD_TIMES.format(column=column, row=int(row), value=values.iloc[row]))
    return parsed.dt.tz_localize(None)


def split_windows(times: pd.Series, window: str) -> list[WindowSlice]:
    """Row positions per calendar window, oldest first (empty windows are left out).

    Parameters
    ----------
    times : Series of datetime64
        One timestamp per row (see :func:`parse_times`).
    window : ``day``, ``week`` or ``month``
    """
    if window not in PERIODS:
        raise DataError(BAD_WINDOW.format(choices=", ".join(WINDOWS), window=window))
    periods = times.dt.to_period(PERIODS[window])
    out = []
    for period in sorted(periods.dropna().unique()):
        rows = np.flatnonzero((periods == period).to_numpy())
        label = label_of(period, window)
        out.append(
            WindowSlice(
                label=label,
                start=period.start_time.date().isoformat(),
                end=period.end_time.date().isoformat(),
                rows=rows,
            )
        )
    return out
