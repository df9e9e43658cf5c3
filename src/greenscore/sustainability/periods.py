"""Reporting periods: budget periods (month, quarter, year, total) and report periods
named like ``2026-Q4``, ``2026-11`` or ``2026``, as half-open UTC intervals."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime

from greenscore.errors import ConfigError

BUDGET_PERIODS = ("month", "quarter", "year", "total")
BAD_BUDGET_PERIOD = "budget period must be one of {allowed}, got '{period}'"
BAD_PERIOD = "period must look like 2026-Q4, 2026-11 or 2026, got '{text}'"

_QUARTER = re.compile(r"^(\d{4})-Q([1-4])$")
_MONTH = re.compile(r"^(\d{4})-(\d{2})$")
_YEAR = re.compile(r"^(\d{4})$")


@dataclass(frozen=True)
class Period:
    """A named interval ``[start, end)`` in UTC (both None for ``total``)."""

    key: str
    start: datetime | None
    end: datetime | None

    def contains(self, moment: datetime) -> bool:
        """Whether ``moment`` (naive values taken as UTC) falls in the period."""
        at = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
        return (self.start is None or at >= self.start) and (self.end is None or at < self.end)


def _month(year: int, month: int) -> datetime:
    return datetime(year + (month - 1) // 12, (month - 1) % 12 + 1, 1, tzinfo=UTC)


def budget_period(period: str, at: datetime) -> Period:
    """The month, quarter or year containing ``at`` (or all time for ``total``).

    Raises
    ------
    ConfigError
        If ``period`` is not one of :data:`BUDGET_PERIODS`.
    """
    at = at if at.tzinfo else at.replace(tzinfo=UTC)
    at = at.astimezone(UTC)
    if period == "month":
        return Period(
            f"{at.year}-{at.month:02d}", _month(at.year, at.month), _month(at.year, at.month + 1)
        )
    if period == "quarter":
        q = (at.month - 1) // 3
        return Period(f"{at.year}-Q{q + 1}", _month(at.year, 3 * q + 1), _month(at.year, 3 * q + 4))
    if period == "year":
        return Period(str(at.year), _month(at.year, 1), _month(at.year + 1, 1))
    if period == "total":
        return Period("total", None, None)
    raise ConfigError(BAD_BUDGET_PERIOD.format(allowed=", ".join(BUDGET_PERIODS), period=period))


def parse_period(text: str) -> Period:
    """``2026-Q4``, ``2026-11`` or ``2026`` as a :class:`Period`.

    Raises
    ------
    ConfigError
        If the text is none of these forms.
    """
    text = str(text).strip()
    if found := _QUARTER.match(text):
        year, quarter = int(found[1]), int(found[2])
        return Period(text, _month(year, 3 * quarter - 2), _month(year, 3 * quarter + 1))
    if (found := _MONTH.match(text)) and 1 <= int(found[2]) <= 12:
        year, month = int(found[1]), int(found[2])
        return Period(text, _month(year, month), _month(year, month + 1))
    if found := _YEAR.match(text):
        return Period(text, _month(int(found[1]), 1), _month(int(found[1]) + 1, 1))
    raise ConfigError(BAD_PERIOD.format(text=text))


def current_quarter(at: datetime | None = None) -> Period:
    """The quarter containing ``at`` (default now)."""
    return budget_period("quarter", at or datetime.now(UTC))
