"""API keys for machine callers: created once, stored hashed, verified on every request.

A key reads ``gs_<key_id>_<secret>``. Only the SHA-256 of the secret is stored: the
secret is 256 random bits, so a slow password hash would add nothing but latency to
every request. Verified keys are cached in-process for a few seconds
(``security.api_key_cache_seconds``) so the API does not ask the database per call.

A revocation is refused at once in the process that revokes (its cache entry is dropped,
and a verification that read the key from the database before the revocation committed
does not put it back: every revocation bumps a generation the cache write checks). Other
processes — API workers, when the CLI revokes — refuse the key within
``security.api_key_cache_seconds``; set it to 0 to ask the database on every request.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update

from greenscore.config import Settings
from greenscore.errors import AuthError, ConfigError, NotFoundError
from greenscore.security import _clock
from greenscore.security.principal import Principal
from greenscore.security.rbac import check_role
from greenscore.store import database, database_url
from greenscore.store.tables.security import ApiKey

PREFIX = "gs"
MALFORMED = "malformed API key: expected 'gs_<key_id>_<secret>'"
UNKNOWN = "unknown API key"
REVOKED = "API key '{key_id}' has been revoked"
EXPIRED = "API key '{key_id}' expired at {when}Z"
NOT_FOUND = "no API key with id '{key_id}'"


@dataclass(frozen=True)
class _Cached:
    key_id: str
    role: str
    expires_at: datetime | None
    fetched: float


_cache: OrderedDict[tuple[str, str], _Cached] = OrderedDict()
_cache_lock = threading.Lock()
# Bumped by every revocation (and clear_cache): a verification that started before it
# may have read the key as valid, and must not cache that.
_generation = [0]


def _sha256(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def _parse(plaintext: str) -> tuple[str, str]:
    parts = plaintext.strip().split("_", 2)
    if len(parts) != 3 or parts[0] != PREFIX or not parts[1] or not parts[2]:
        raise AuthError(MALFORMED)
    return parts[1], parts[2]


def create_key(
    *, name: str, role: str, ttl_days: int | None = None, settings: Settings
) -> tuple[str, str]:
    """Issue a new API key (in the settings' database).

    Parameters
    ----------
    name : str
        Who or what the key is for (shown in :func:`list_keys`).
    role : str
        One of ``scorer``, ``analyst``, ``admin``.
    ttl_days : int, optional
        Days until the key expires; ``security.api_key_ttl_days`` when omitted.
    settings : Settings

    Returns
    -------
    (key_id, plaintext) : tuple of str
        The plaintext is shown once and cannot be recovered later.

    Raises
    ------
    ConfigError
        If the role is unknown, the name empty or ``ttl_days`` below 1.
    """
    check_role(role)
    if not name.strip():
        raise ConfigError("API key name must not be empty")
    days = settings.security.api_key_ttl_days if ttl_days is None else ttl_days
    if days < 1:
        raise ConfigError(f"ttl_days must be at least 1, got {days}")
    key_id = secrets.token_hex(8)
    secret = secrets.token_urlsafe(32)
    now = _clock.utcnow()
    with database(settings).session() as db:
        db.add(
            ApiKey(
                key_id=key_id,
                name=name.strip(),
                role=role,
                secret_sha256=_sha256(secret),
                created_at=now,
                expires_at=now + timedelta(days=days),
            )
        )
    return key_id, f"{PREFIX}_{key_id}_{secret}"


def verify_key(plaintext: str, *, settings: Settings) -> Principal:
    """Return the principal of a valid API key.

    Parameters
    ----------
    plaintext : str
        The key as the caller sent it (``gs_<key_id>_<secret>``).
    settings : Settings
        Whose database and cache times.

    Returns
    -------
    Principal
        ``kind="api_key"``, ``id`` the key id, ``role`` the key's role.

    Raises
    ------
    AuthError
        If the key is malformed, unknown, revoked or expired (each with its own message).
    """
    key_id, secret = _parse(plaintext)
    digest = _sha256(secret)
    url = database_url(settings)
    ttl = settings.security.api_key_cache_seconds
    now_mono = _clock.monotonic()
    cache_key = (url, digest)
    with _cache_lock:
        hit = _cache.get(cache_key)
        if hit is not None and now_mono - hit.fetched < ttl and hit.key_id == key_id:
            _cache.move_to_end(cache_key)
        else:
            hit = None
        generation = _generation[0]
    if hit is None:
        hit = _load(settings, key_id, digest, now_mono)
        with _cache_lock:
            if _generation[0] == generation:
                _cache[cache_key] = hit
                while len(_cache) > settings.security.api_key_cache_size:
                    _cache.popitem(last=False)
    if hit.expires_at is not None and _clock.utcnow() >= hit.expires_at:
        raise AuthError(EXPIRED.format(key_id=key_id, when=hit.expires_at.isoformat()))
    return Principal(id=hit.key_id, role=hit.role, kind="api_key")


def _load(settings: Settings, key_id: str, digest: str, now_mono: float) -> _Cached:
    table = ApiKey.__table__
    with database(settings).connect() as conn:
        row = conn.execute(
            select(
                table.c.secret_sha256, table.c.role, table.c.expires_at, table.c.revoked_at
            ).where(table.c.key_id == key_id)
        ).one_or_none()
    # compare_digest on the stored hash keeps the timing of a wrong secret flat.
    if row is None or not hmac.compare_digest(row.secret_sha256, digest):
        raise AuthError(UNKNOWN)
    if row.revoked_at is not None:
        raise AuthError(REVOKED.format(key_id=key_id))
    return _Cached(key_id=key_id, role=row.role, expires_at=row.expires_at, fetched=now_mono)


def revoke_key(key_id: str, *, settings: Settings) -> None:
    """Revoke a key: refused here at once, in other processes within the cache time.

    Raises
    ------
    NotFoundError
        If no key has this id.
    """
    url = database_url(settings)
    table = ApiKey.__table__
    with database(settings).begin() as conn:
        result = conn.execute(
            update(table)
            .where(table.c.key_id == key_id, table.c.revoked_at.is_(None))
            .values(revoked_at=_clock.utcnow())
        )
        if result.rowcount == 0:
            exists = conn.execute(select(table.c.key_id).where(table.c.key_id == key_id)).first()
            if exists is None:
                raise NotFoundError(NOT_FOUND.format(key_id=key_id))
    with _cache_lock:
        _generation[0] += 1
        for cache_key in [k for k, v in _cache.items() if k[0] == url and v.key_id == key_id]:
            del _cache[cache_key]


def list_keys(*, settings: Settings) -> list[dict]:
    """Every key's id, name, role, dates and status (``active``, ``revoked``, ``expired``).

    The secret and its hash are never part of the answer.
    """
    now = _clock.utcnow()
    with database(settings).session() as db:
        rows = db.execute(select(ApiKey).order_by(ApiKey.created_at)).scalars().all()
        out = []
        for row in rows:
            if row.revoked_at is not None:
                status = "revoked"
            elif row.expires_at is not None and now >= row.expires_at:
                status = "expired"
            else:
                status = "active"
            out.append(
                {
                    "key_id": row.key_id,
                    "name": row.name,
                    "role": row.role,
                    "status": status,
                    "created_at": _iso(row.created_at),
                    "expires_at": _iso(row.expires_at),
                    "revoked_at": _iso(row.revoked_at),
                }
            )
    return out


def _iso(when: datetime | None) -> str | None:
    return None if when is None else when.isoformat(timespec="seconds") + "Z"


def clear_cache() -> None:
    """Forget every cached verification (tests; after restoring a database backup)."""
    with _cache_lock:
        _cache.clear()
        _generation[0] += 1
