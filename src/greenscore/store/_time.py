"""Datetimes as the store keeps them: UTC, whatever zone the caller's values carry.

SQLite keeps a datetime's wall time and drops its zone, and returns naive values; PostgreSQL
returns aware ones. Values are stored aware in UTC and compared naive in UTC.
"""

from __future__ import annotations

from datetime import UTC, datetime


def utc(moment: datetime) -> datetime:
    """A naive UTC datetime (a naive input is taken to be UTC already)."""
    return moment.astimezone(UTC).replace(tzinfo=None) if moment.tzinfo else moment


def aware(moment: datetime) -> datetime:
    """An aware UTC datetime (a naive input is taken to be UTC already)."""
    return utc(moment).replace(tzinfo=UTC)
