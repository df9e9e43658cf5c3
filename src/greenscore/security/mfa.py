"""Second factor for operators: TOTP (RFC 6238) enrolment, verification and replay refusal.

An enrolled user also has a role, so a verified code yields a :class:`Principal` the CLI's
admin actions can authorise. A code is accepted within ``security.totp_valid_window``
steps of clock drift, and only once: the last used time step is stored and a code for that
step or an earlier one is refused, even from another process. Wrong codes are limited
per user (back-off, then lockout; see :mod:`greenscore.security.lockout`). The secret is
stored sealed under the keyring, bound to the user name (see
:mod:`greenscore.security._secrets`).
"""

from __future__ import annotations

import hmac

import pyotp
from sqlalchemy import or_, select, update

from greenscore.config import Settings
from greenscore.errors import AuthError, ConfigError
from greenscore.security import _clock, lockout
from greenscore.security._secrets import reseal_rows, seal, unseal
from greenscore.security.principal import Principal
from greenscore.security.rbac import check_role
from greenscore.store import database
from greenscore.store.tables.security import TotpUser

DIGITS = 6  # what authenticator apps show
NOT_ENROLLED = "user '{user}' is not enrolled for multi-factor authentication"
ALREADY_ENROLLED = "user '{user}' is already enrolled; re-enrol with replace=True (CLI: --replace)"
BAD_FORMAT = "TOTP code for user '{user}' must be {digits} digits"
WRONG_CODE = "wrong TOTP code for user '{user}'"
REPLAYED = "TOTP code for user '{user}' was already used; wait for the next code"


def _ref(user: str) -> str:
    return f"{TotpUser.__tablename__}/{user}"


def enroll(
    user: str, *, role: str = "admin", replace: bool = False, settings: Settings
) -> tuple[str, str]:
    """Enrol ``user`` for TOTP and return the secret and its ``otpauth://`` URI.

    Parameters
    ----------
    user : str
        The operator's user name.
    role : str
        The role a verified code grants (default ``admin``).
    replace : bool
        Issue a new secret for a user who is already enrolled (the old one stops working).

    Returns
    -------
    (secret, uri) : tuple of str
        Base32 secret and provisioning URI for an authenticator app; shown once.

    Raises
    ------
    ConfigError
        If the user name is empty, the role unknown, or the user already enrolled and
        ``replace`` is False.
    """
    user = user.strip()
    if not user:
        raise ConfigError("user name must not be empty")
    check_role(role)
    secret = pyotp.random_base32()
    sealed = seal(secret, ref=_ref(user), settings=settings)
    with database(settings).session() as db:
        row = db.get(TotpUser, user)
        if row is not None and not replace:
            raise ConfigError(ALREADY_ENROLLED.format(user=user))
        if row is None:
            db.add(TotpUser(user=user, role=role, secret=sealed, enrolled_at=_clock.utcnow()))
        else:
            row.role, row.secret, row.enrolled_at, row.last_step = (
                role,
                sealed,
                _clock.utcnow(),
                None,
            )
    uri = pyotp.TOTP(secret, digits=DIGITS).provisioning_uri(
        name=user, issuer_name=settings.security.totp_issuer
    )
    return secret, uri


def verify_totp(user: str, code: str, *, settings: Settings) -> None:
    """Accept ``code`` for ``user`` once, or raise.

    Raises
    ------
    AuthError
        If the user is not enrolled, locked out or backing off, the code is malformed or
        wrong, or it was already used.
    """
    authenticate_user(user, code, settings=settings)


def authenticate_user(user: str, code: str, *, settings: Settings) -> Principal:
    """Verify a TOTP code and return the user's principal with ``mfa_verified=True``.

    Raises
    ------
    AuthError
        As :func:`verify_totp`.
    """
    eng = database(settings).engine
    table = TotpUser.__table__
    reseal_rows(settings, table, key="user", column="secret")
    with eng.connect() as conn:
        row = conn.execute(
            select(table.c.secret, table.c.role).where(table.c.user == user)
        ).one_or_none()
    if row is None:
        raise AuthError(NOT_ENROLLED.format(user=user))
    code = str(code).replace(" ", "")
    if len(code) != DIGITS or not code.isdigit():
        raise AuthError(BAD_FORMAT.format(user=user, digits=DIGITS))
    # Counted before the code is checked, so parallel guesses share one allowance.
    reservation = lockout.reserve(user, settings)
    try:
        secret = unseal(row.secret, ref=_ref(user), settings=settings)
    except BaseException:
        lockout.give_back(reservation, settings)  # a key problem is no guess
        raise
    totp = pyotp.TOTP(secret, digits=DIGITS)
    now_step = int(_clock.epoch() // totp.interval)
    window = settings.security.totp_valid_window
    step = next(
        (
            s
            for s in range(now_step - window, now_step + window + 1)
            if hmac.compare_digest(totp.generate_otp(s), code)
        ),
        None,
    )
    if step is None:
        lockout.failed(reservation, settings)
        raise AuthError(WRONG_CODE.format(user=user))
    # The conditional update is the replay check: it succeeds for one caller per step only.
    with eng.begin() as conn:
        taken = conn.execute(
            update(table)
            .where(table.c.user == user, or_(table.c.last_step.is_(None), table.c.last_step < step))
            .values(last_step=step)
        ).rowcount
    if taken != 1:
        lockout.give_back(reservation, settings)  # a right code seen before: no guess
        raise AuthError(REPLAYED.format(user=user))
    lockout.succeeded(user, settings)
    return Principal(id=user, role=row.role, kind="user", mfa_verified=True)


def unlock_user(user: str, *, settings: Settings) -> int:
    """Lift a user's TOTP back-off or lockout; returns the wrong codes that were counted.

    Raises
    ------
    AuthError
        If the user is not enrolled.
    """
    if not is_enrolled(user, settings=settings):
        raise AuthError(NOT_ENROLLED.format(user=user))
    return lockout.unlock(user, settings)


def is_enrolled(user: str, *, settings: Settings) -> bool:
    """Whether ``user`` has a TOTP secret."""
    with database(settings).session() as db:
        return db.get(TotpUser, user) is not None


def enrolled_users(*, settings: Settings) -> list[dict]:
    """Each enrolled user's name, role and enrolment time (never the secret)."""
    with database(settings).session() as db:
        rows = db.execute(select(TotpUser).order_by(TotpUser.user)).scalars().all()
        return [
            {
                "user": r.user,
                "role": r.role,
                "enrolled_at": r.enrolled_at.isoformat(timespec="seconds") + "Z",
            }
            for r in rows
        ]
