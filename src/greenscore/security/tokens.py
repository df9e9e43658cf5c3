"""Signed bearer tokens (JWT, HS256) for people and services, with rotating signing keys.

Every token names its signing key in the ``kid`` header. The keyring holds the secret from
``security.jwt_secret`` (if set) and the keys made by :func:`rotate_signing_key`, which are
stored in the database sealed under the keyring (see :mod:`greenscore.security._secrets`),
so a copy of the database alone cannot mint a token; the most recently activated key
signs, every key not retired verifies, so tokens issued before a rotation stay valid until
they expire. In the ``local`` and ``test`` environments a first key is generated on first
use; anywhere else ``security.jwt_secret`` must be set (32 bytes or more).
"""

from __future__ import annotations

import hashlib
import secrets
import threading
import uuid
from dataclasses import dataclass

import jwt
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from greenscore.config import MIN_JWT_SECRET_BYTES, Settings
from greenscore.errors import AuthError, ConfigError, NotFoundError
from greenscore.privacy.keys import Keyring
from greenscore.security import _clock
from greenscore.security._secrets import (
    GENERATING_ENVIRONMENTS,
    refuse_generated,
    reseal_rows,
    seal,
    unseal,
)
from greenscore.security.principal import Principal
from greenscore.security.rbac import ROLES, check_role
from greenscore.store import database, database_url
from greenscore.store.tables.security import SigningKey

ALGORITHM = "HS256"
MIN_SECRET_BYTES = MIN_JWT_SECRET_BYTES
EXPIRED = "token expired"
MALFORMED = "malformed token"
NO_KID = "token has no key id ('kid' header)"
UNKNOWN_KID = "token signed with unknown or retired key '{kid}'"
BAD_SIGNATURE = "token signature invalid"
BAD_AUDIENCE = "token audience is not '{aud}'"
BAD_ISSUER = "token issuer is not '{iss}'"
MISSING_CLAIM = "token lacks the '{claim}' claim"
BAD_ROLE = "token role '{role}' is not one of: {roles}"
NOT_YET_VALID = "token not yet valid"
SHORT_SECRET = "settings field 'security.jwt_secret' must be at least {n} bytes in '{environment}'"
RETIRE_ACTIVE = "signing key '{kid}' is the active one; rotate to a new key before retiring it"
NO_SUCH_KID = "no signing key with id '{kid}'"


@dataclass(frozen=True)
class _Keyring:
    active_kid: str
    secrets: dict[str, str]
    fetched: float


_cache: dict[tuple[str, str | None], _Keyring] = {}
_lock = threading.Lock()
# Bumped by every change of the keyring: a load that read the database before a retirement
# must not put its (stale) keyring into the cache after the retirement cleared it.
_generation = [0]


def _configured(settings: Settings) -> tuple[str | None, str | None]:
    """(kid, secret) of the configured secret, or (None, None); refuses weak or missing ones."""
    secret = settings.security.jwt_secret
    if secret is None or not secret.get_secret_value():
        refuse_generated(settings, "jwt_secret")
        return None, None
    value = secret.get_secret_value()
    if (
        settings.environment not in GENERATING_ENVIRONMENTS
        and len(value.encode("utf-8")) < MIN_SECRET_BYTES
    ):
        raise ConfigError(SHORT_SECRET.format(n=MIN_SECRET_BYTES, environment=settings.environment))
    digest = hashlib.sha256(b"greenscore-jwt-kid:" + value.encode("utf-8")).hexdigest()
    return f"cfg-{digest[:16]}", value


def _record_configured(settings: Settings, kid: str) -> None:
    """Note when the configured key was first seen, so a newer config secret takes over."""
    eng = database(settings).engine
    table = SigningKey.__table__
    with eng.connect() as conn:
        if conn.execute(select(table.c.kid).where(table.c.kid == kid)).first() is not None:
            return
    try:
        with eng.begin() as conn:
            conn.execute(table.insert().values(kid=kid, secret=None, activated_at=_clock.utcnow()))
    except IntegrityError:
        pass  # another process recorded it first


def _load(settings: Settings, *, fresh: bool = False) -> _Keyring:
    cfg_kid, cfg_secret = _configured(settings)
    url = database_url(settings)
    cache_key = (url, cfg_kid)
    now = _clock.monotonic()
    with _lock:
        ring = _cache.get(cache_key)
        if (
            ring is not None
            and not fresh
            and now - ring.fetched < settings.security.keyring_cache_seconds
        ):
            return ring
        generation = _generation[0]
    if cfg_kid is not None:
        _record_configured(settings, cfg_kid)
    table = SigningKey.__table__
    reseal_rows(settings, table, key="kid", column="secret")
    with database(settings).connect() as conn:
        rows = conn.execute(
            select(table.c.kid, table.c.secret, table.c.activated_at)
            .where(table.c.retired_at.is_(None))
            .order_by(table.c.activated_at, table.c.kid)
        ).all()
    usable: dict[str, str] = {}
    active = None
    keyring = Keyring.open(settings) if any(r.secret is not None for r in rows) else None
    for row in rows:
        secret: str | None
        if row.secret is not None:
            secret = unseal(row.secret, ref=_ref(row.kid), settings=settings, keyring=keyring)
        else:
            secret = cfg_secret if row.kid == cfg_kid else None
        if secret is not None:
            usable[row.kid] = secret
            active = row.kid
    if active is None:
        # No usable key yet (first use in local or test, or the configured one retired).
        _new_key(settings)
        return _load(settings, fresh=True)
    ring = _Keyring(active_kid=active, secrets=usable, fetched=now)
    with _lock:
        if _generation[0] == generation:
            _cache[cache_key] = ring
    return ring


def _ref(kid: str) -> str:
    return f"{SigningKey.__tablename__}/{kid}"


def _forget() -> None:
    with _lock:
        _cache.clear()
        _generation[0] += 1


def issue_token(
    *,
    subject: str,
    role: str,
    ttl_seconds: int | None = None,
    mfa: bool = False,
    settings: Settings,
) -> str:
    """Sign a token for ``subject`` with the active key.

    Parameters
    ----------
    subject : str
        Who the token is for (user name or service id); becomes ``Principal.id``.
    role : str
        One of ``scorer``, ``analyst``, ``admin``.
    ttl_seconds : int, optional
        Lifetime; ``security.jwt_ttl_seconds`` when omitted (negative values give an
        already expired token, which is what tests of expiry need).
    mfa : bool
        Whether the subject passed a second factor before the token was issued.
    settings : Settings
        Whose keyring (database), issuer, audience and lifetime.

    Raises
    ------
    ConfigError
        If the role is unknown, or no secret is configured outside local/test use.
    """
    check_role(role)
    if not subject:
        raise ConfigError("token subject must not be empty")
    ring = _load(settings)
    now = int(_clock.epoch())
    ttl = settings.security.jwt_ttl_seconds if ttl_seconds is None else ttl_seconds
    claims = {
        "sub": subject,
        "role": role,
        "mfa": bool(mfa),
        "iss": settings.security.jwt_issuer,
        "aud": settings.security.jwt_audience,
        "iat": now,
        "nbf": now,
        "exp": now + ttl,
        "jti": uuid.uuid4().hex,
    }
    return jwt.encode(
        claims, ring.secrets[ring.active_kid], algorithm=ALGORITHM, headers={"kid": ring.active_kid}
    )


def verify_token(token: str, *, settings: Settings) -> Principal:
    """Check a token's signature, expiry, audience and issuer and return its principal.

    Returns
    -------
    Principal
        ``kind="jwt"``, ``id`` the subject, ``mfa_verified`` from the ``mfa`` claim.

    Raises
    ------
    AuthError
        If the token is malformed, signed by an unknown or retired key, expired, for another
        audience or issuer, or names an unknown role.
    """
    try:
        kid = jwt.get_unverified_header(token).get("kid")
    except jwt.InvalidTokenError as exc:
        raise AuthError(MALFORMED) from exc
    if not kid or not isinstance(kid, str):
        raise AuthError(NO_KID)
    ring = _load(settings)
    if kid not in ring.secrets:
        # A key rotated in by another process may be newer than our cached keyring.
        ring = _load(settings, fresh=True)
        if kid not in ring.secrets:
            raise AuthError(UNKNOWN_KID.format(kid=kid))
    aud, iss = settings.security.jwt_audience, settings.security.jwt_issuer
    try:
        claims = jwt.decode(
            token,
            ring.secrets[kid],
            algorithms=[ALGORITHM],
            audience=aud,
            issuer=iss,
            options={"require": ["exp", "iat", "sub", "aud", "iss"]},
        )
    except jwt.ExpiredSignatureError as exc:
        raise AuthError(EXPIRED) from exc
    except jwt.InvalidAudienceError as exc:
        raise AuthError(BAD_AUDIENCE.format(aud=aud)) from exc
    except jwt.InvalidIssuerError as exc:
        raise AuthError(BAD_ISSUER.format(iss=iss)) from exc
    except jwt.MissingRequiredClaimError as exc:
        raise AuthError(MISSING_CLAIM.format(claim=exc.claim)) from exc
    except jwt.InvalidSignatureError as exc:
        raise AuthError(BAD_SIGNATURE) from exc
    except jwt.ImmatureSignatureError as exc:
        raise AuthError(NOT_YET_VALID) from exc
    except jwt.InvalidTokenError as exc:
        raise AuthError(MALFORMED) from exc
    role = claims.get("role")
    if role not in ROLES:
        raise AuthError(BAD_ROLE.format(role=role, roles=", ".join(ROLES)))
    return Principal(
        id=str(claims["sub"]), role=role, kind="jwt", mfa_verified=claims.get("mfa") is True
    )


def rotate_signing_key(*, settings: Settings) -> str:
    """Make a new signing key the active one and return its ``kid``.

    Tokens signed by earlier keys keep verifying until they expire or their key is retired.

    Raises
    ------
    ConfigError
        Outside local/test use when ``security.jwt_secret`` is not set.
    """
    return _new_key(settings)


def _new_key(settings: Settings) -> str:
    _configured(settings)  # refuses outside local/test without security.jwt_secret
    kid = f"k-{secrets.token_hex(8)}"
    sealed = seal(secrets.token_urlsafe(48), ref=_ref(kid), settings=settings)
    with database(settings).begin() as conn:
        conn.execute(
            SigningKey.__table__.insert().values(
                kid=kid, secret=sealed, activated_at=_clock.utcnow()
            )
        )
    _forget()
    return kid


def retire_signing_key(kid: str, *, settings: Settings) -> None:
    """Stop accepting tokens signed by ``kid`` (this process at once, others within the cache time).

    Raises
    ------
    NotFoundError
        If no key has this id.
    ConfigError
        If ``kid`` is the active signing key.
    """
    ring = _load(settings, fresh=True)
    if kid == ring.active_kid:
        raise ConfigError(RETIRE_ACTIVE.format(kid=kid))
    table = SigningKey.__table__
    with database(settings).begin() as conn:
        result = conn.execute(
            update(table)
            .where(table.c.kid == kid, table.c.retired_at.is_(None))
            .values(retired_at=_clock.utcnow())
        )
        if (
            result.rowcount == 0
            and conn.execute(select(table.c.kid).where(table.c.kid == kid)).first() is None
        ):
            raise NotFoundError(NO_SUCH_KID.format(kid=kid))
    _forget()


def active_kid(*, settings: Settings) -> str:
    """The ``kid`` that signs new tokens now."""
    return _load(settings).active_kid
