"""TOTP guessing limits: exponential back-off, then lockout, per user, audited.

A six-digit code with one step of drift allowed has three right answers in a million, so
an unlimited guesser wins within minutes. Each wrong code therefore makes the user wait
before the next try: ``security.totp_backoff_seconds`` after the first, doubling with
each further one. After ``security.totp_max_failures`` wrong codes in a row the user is
locked out for ``security.totp_lockout_seconds`` (doubling again with every wrong code
after a lockout ends; 0 keeps the user locked until an admin runs ``greenscore mfa
unlock``). A right code resets the count. Every wrong code is an ``mfa.failure`` audit
event and every lockout an ``mfa.lockout`` event.

A try is *reserved* before its code is checked: the count goes up first, with a
compare-and-set on the stored count, so parallel guesses cannot all slip in before the
first failure is recorded; a right code then resets the count and a replayed one (a right
code, no guess) gives its reservation back.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from sqlalchemy import delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from greenscore.config import Settings
from greenscore.errors import AuthError
from greenscore.security import _clock
from greenscore.security.audit import record_event
from greenscore.store import database
from greenscore.store.tables.security import TotpAttempts

BACKING_OFF = "too many wrong TOTP codes for user '{user}'; retry in {seconds} s"
LOCKED_OUT = (
    "user '{user}' is locked out after {n} wrong TOTP codes; retry in {seconds} s "
    "or ask an admin to run 'greenscore mfa unlock --user {user}'"
)
LOCKED_UNTIL_UNLOCK = (
    "user '{user}' is locked out after {n} wrong TOTP codes; "
    "an admin must run 'greenscore mfa unlock --user {user}'"
)
_MAX_DOUBLINGS = 20  # keeps 2**n finite; 2**20 lockouts is years


_TABLE = TotpAttempts.__table__


@dataclass(frozen=True)
class Reservation:
    """A reserved try: the count and time before it, to give it back."""

    user: str
    failures: int
    last_failure: float | None


def wait_seconds(failures: int, last_failure: float, now: float, settings: Settings) -> float:
    """Seconds until the next try is allowed (``inf``: until an admin unlocks; 0: now)."""
    if failures <= 0:
        return 0.0
    sec = settings.security
    if failures < sec.totp_max_failures:
        delay = sec.totp_backoff_seconds * 2.0 ** min(failures - 1, _MAX_DOUBLINGS)
    elif sec.totp_lockout_seconds <= 0:
        return math.inf
    else:
        delay = sec.totp_lockout_seconds * 2.0 ** min(
            failures - sec.totp_max_failures, _MAX_DOUBLINGS
        )
    return max(0.0, last_failure + delay - now)


def _refusal(user: str, failures: int, wait: float, settings: Settings) -> AuthError:
    if math.isinf(wait):
        return AuthError(LOCKED_UNTIL_UNLOCK.format(user=user, n=failures))
    seconds = max(1, math.ceil(wait))
    if failures >= settings.security.totp_max_failures:
        return AuthError(LOCKED_OUT.format(user=user, n=failures, seconds=seconds))
    return AuthError(BACKING_OFF.format(user=user, seconds=seconds))


def reserve(user: str, settings: Settings) -> Reservation:
    """Count a try before its code is checked, or refuse it during back-off or lockout.

    Raises
    ------
    AuthError
        If the user must wait (the message says how long) or is locked out.
    """
    eng = database(settings).engine
    for _ in range(20):
        now = _clock.epoch()
        with eng.connect() as conn:
            row = conn.execute(
                select(_TABLE.c.failures, _TABLE.c.last_failure).where(_TABLE.c.user == user)
            ).one_or_none()
        if row is None:
            try:
                with eng.begin() as conn:
                    conn.execute(insert(_TABLE).values(user=user, failures=1, last_failure=now))
                return Reservation(user, 0, None)
            except IntegrityError:
                continue  # a parallel try inserted first: read its count
        wait = wait_seconds(row.failures, row.last_failure, now, settings)
        if wait > 0:
            raise _refusal(user, row.failures, wait, settings)
        with eng.begin() as conn:
            taken = conn.execute(
                update(_TABLE)
                .where(_TABLE.c.user == user, _TABLE.c.failures == row.failures)
                .values(failures=row.failures + 1, last_failure=now)
            ).rowcount
        if taken == 1:
            return Reservation(user, row.failures, row.last_failure)
    raise AuthError(BACKING_OFF.format(user=user, seconds=1))


def give_back(reservation: Reservation, settings: Settings) -> None:
    """Undo a reservation whose try was no guess (a replayed right code)."""
    with database(settings).begin() as conn:
        if reservation.last_failure is None:
            conn.execute(
                delete(_TABLE).where(_TABLE.c.user == reservation.user, _TABLE.c.failures == 1)
            )
        else:
            conn.execute(
                update(_TABLE)
                .where(
                    _TABLE.c.user == reservation.user,
                    _TABLE.c.failures == reservation.failures + 1,
                )
                .values(failures=reservation.failures, last_failure=reservation.last_failure)
            )


def succeeded(user: str, settings: Settings) -> None:
    """A right code: the count starts again from zero."""
    with database(settings).begin() as conn:
        conn.execute(delete(_TABLE).where(_TABLE.c.user == user))


def failed(reservation: Reservation, settings: Settings) -> None:
    """A wrong code: its reservation stands; audit it, and the lockout it may start."""
    failures = reservation.failures + 1
    limit = settings.security.totp_max_failures
    record_event(
        "mfa.failure",
        actor=reservation.user,
        details={"user": reservation.user, "failures": failures, "max_failures": limit},
        settings=settings,
    )
    if failures >= limit:
        wait = wait_seconds(failures, _clock.epoch(), _clock.epoch(), settings)
        record_event(
            "mfa.lockout",
            actor=reservation.user,
            details={
                "user": reservation.user,
                "failures": failures,
                "locked_seconds": None if math.isinf(wait) else wait,
            },
            settings=settings,
        )


def unlock(user: str, settings: Settings) -> int:
    """Clear a user's wrong codes (lockout included); returns how many there were."""
    with database(settings).begin() as conn:
        before = conn.execute(
            select(_TABLE.c.failures).where(_TABLE.c.user == user)
        ).scalar_one_or_none()
        conn.execute(delete(_TABLE).where(_TABLE.c.user == user))
    return int(before or 0)
