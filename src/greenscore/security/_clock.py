"""Time for the security modules, in one place so tests can move it."""

from __future__ import annotations

import time
from datetime import UTC, datetime


def utcnow() -> datetime:
    """Current UTC time as a naive datetime (how every security table stores time)."""
    return datetime.now(UTC).replace(tzinfo=None)


def monotonic() -> float:
    """Seconds on the monotonic clock, for cache lifetimes."""
    return time.monotonic()


def epoch() -> float:
    """Seconds since the Unix epoch, for TOTP steps and token claims."""
    return time.time()
