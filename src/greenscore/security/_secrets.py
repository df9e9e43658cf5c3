"""Secrets the security core keeps in its database, sealed, and those it generates for itself.

Every secret column (JWT signing keys, TOTP secrets, the generated audit pepper) holds a
*sealed* value: the secret encrypted with the keyring's envelope encryption
(:func:`greenscore.privacy.crypto.encrypt_bytes`, AES-256-GCM under a fresh data key
wrapped by the current KEK), stored as ``gsenc:`` + base64. The object name, which the
cipher authenticates, is the row's identity (``security_totp_users/alice``), so a sealed
value copied into another row does not open. A copy of the database alone therefore holds
no usable secret: the keyring and the master key live outside it (see
:mod:`greenscore.privacy.keys`).

Rows written by a release before sealing hold the plaintext; :func:`reseal_rows`
encrypts them in place on first use (once per process), and :func:`unseal` still reads one
it meets. The same pass re-seals values wrapped by a KEK older than the current one, so a
KEK can be retired once every process has started since the rotation.

Secrets are generated only in the ``local`` and ``test`` environments: anywhere else
(production) the operator must configure each, so a copy of the home alone never holds
every key.
"""

from __future__ import annotations

import base64
import secrets
import threading

from sqlalchemy import Table, select, update
from sqlalchemy.exc import IntegrityError

from greenscore.config import GENERATING_ENVIRONMENTS, Settings
from greenscore.errors import ConfigError
from greenscore.privacy.crypto import decrypt_bytes, encrypt_bytes
from greenscore.privacy.keys import Keyring
from greenscore.privacy.object_format import SEALED_TEXT_PREFIX, sealed_text_kek_version
from greenscore.security import _clock
from greenscore.store import database, database_url
from greenscore.store.tables.security import SEALED_COLUMNS, StoredSecret

__all__ = [
    "GENERATING_ENVIRONMENTS",
    "SEALED_PREFIX",
    "is_sealed",
    "refuse_generated",
    "seal",
    "reseal_all",
    "reseal_rows",
    "stored_secret",
    "unseal",
]

SEALED_PREFIX = SEALED_TEXT_PREFIX
SECRET_KIND = "db-secret"
MISSING_SECRET = (
    "settings field 'security.{field}' must be set when environment is '{environment}' "
    "(GREENSCORE_SECURITY__{env}); only local and test generate one"
)


_sealed_tables: set[tuple[str, str]] = set()
_sealed_lock = threading.Lock()


def is_sealed(stored: str) -> bool:
    """Whether a stored value is sealed (else it is a plaintext row from an older release)."""
    return stored.startswith(SEALED_PREFIX)


def seal(value: str, *, ref: str, settings: Settings, keyring: Keyring | None = None) -> str:
    """Encrypt a secret for the row ``ref`` (``"<table>/<key>"``) and return the text to store.

    Raises
    ------
    PrivacyError
        If there is no usable master key (see :class:`~greenscore.privacy.keys.MasterKey`).
    """
    blob = encrypt_bytes(
        value.encode("utf-8"),
        name=ref,
        kind=SECRET_KIND,
        keyring=keyring or Keyring.open(settings),
    )
    return SEALED_PREFIX + base64.b64encode(blob).decode("ascii")


def unseal(stored: str, *, ref: str, settings: Settings, keyring: Keyring | None = None) -> str:
    """The secret of a stored value; a plaintext value (older release) is returned as it is.

    Raises
    ------
    PrivacyError
        If the value was sealed for another row, tampered with, or the key is wrong.
    """
    if not is_sealed(stored):
        return stored
    blob = base64.b64decode(stored.removeprefix(SEALED_PREFIX).encode("ascii"))
    data = decrypt_bytes(blob, name=ref, keyring=keyring or Keyring.open(settings))
    return data.decode("utf-8")


def _kek_version(stored: str) -> int | None:
    """The KEK version a sealed value is wrapped by (None for plaintext)."""
    return sealed_text_kek_version(stored)


def reseal_rows(
    settings: Settings, table: Table, *, key: str, column: str, force: bool = False
) -> int:
    """Seal the plaintext secrets an older release left in ``table.column``, and re-seal
    those wrapped by a KEK older than the current one (so an old KEK can be retired).

    Runs once per process and database for each table unless ``force``. Each row is
    replaced only if it still holds the value read, so a concurrent writer's new value is
    never lost; ``ref`` of a row is ``"<table name>/<key value>"``.

    Returns
    -------
    int
        Rows sealed or re-sealed now.
    """
    marker = (database_url(settings), table.name)
    if marker in _sealed_tables and not force:
        return 0
    with _sealed_lock:
        if marker in _sealed_tables and not force:
            return 0
        key_col, secret_col = table.c[key], table.c[column]
        eng = database(settings).engine
        with eng.connect() as conn:
            rows = conn.execute(select(key_col, secret_col).where(secret_col.is_not(None))).all()
        done = 0
        keyring = Keyring.open(settings) if rows else None
        stale = [
            (row_key, stored)
            for row_key, stored in rows
            if keyring is not None and _kek_version(stored) != keyring.current_version
        ]
        if stale:
            assert keyring is not None
            with eng.begin() as conn:
                for row_key, stored in stale:
                    ref = f"{table.name}/{row_key}"
                    plain = unseal(stored, ref=ref, settings=settings, keyring=keyring)
                    sealed = seal(plain, ref=ref, settings=settings, keyring=keyring)
                    done += conn.execute(
                        update(table)
                        .where(key_col == row_key, secret_col == stored)
                        .values({column: sealed})
                    ).rowcount
            if done and eng.dialect.name == "sqlite":
                # With WAL the old page, plaintext included, stays in the database file
                # until a checkpoint copies the new one over it (secure_delete zeroes the
                # old cell then). PostgreSQL keeps old row versions until VACUUM.
                with eng.connect() as conn:
                    conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        _sealed_tables.add(marker)
        return done


def reseal_all(settings: Settings) -> int:
    """Re-seal every declared secret column onto the current KEK (before retiring an old one).

    Returns
    -------
    int
        Rows sealed or re-sealed.
    """
    return sum(
        reseal_rows(settings, table, key=key, column=column, force=True)
        for table, key, column in SEALED_COLUMNS
    )


def refuse_generated(settings: Settings, field: str) -> None:
    """Raise ConfigError when a secret would have to be generated outside local/test use.

    Raises
    ------
    ConfigError
        If ``settings.environment`` is not ``local`` or ``test``.
    """
    if not settings.generates_secrets:
        raise ConfigError(
            MISSING_SECRET.format(field=field, environment=settings.environment, env=field.upper())
        )


def stored_secret(name: str, *, settings: Settings, nbytes: int = 32) -> str:
    """Return the secret stored under ``name``, generating (and sealing) it on first use.

    Two processes racing on first use both end up with the one row that won the insert.
    """
    table = StoredSecret.__table__
    reseal_rows(settings, table, key="name", column="value")
    ref = f"{table.name}/{name}"
    with database(settings).session() as db:
        row = db.get(StoredSecret, name)
        if row is not None:
            return unseal(row.value, ref=ref, settings=settings)
    value = secrets.token_urlsafe(nbytes)
    try:
        with database(settings).session() as db:
            db.add(
                StoredSecret(
                    name=name,
                    value=seal(value, ref=ref, settings=settings),
                    created_at=_clock.utcnow(),
                )
            )
        return value
    except IntegrityError:
        with database(settings).session() as db:
            stored = db.execute(
                select(StoredSecret.value).where(StoredSecret.name == name)
            ).scalar_one()
        return unseal(stored, ref=ref, settings=settings)
