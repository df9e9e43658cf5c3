"""Tables of the security core: API keys, JWT signing keys, TOTP users and their wrong codes,
generated secrets, and the keyed audit chain (:mod:`greenscore.security`).

Secret columns hold *sealed* values (``gsenc:`` + the keyring's envelope encryption, see
:mod:`greenscore.security._secrets`); :data:`SEALED_COLUMNS` names each of them.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, Float, Integer, String, Table, Text
from sqlalchemy.orm import Mapped, mapped_column

from greenscore.store.base import Base


class ApiKey(Base):
    """One issued API key (the secret itself is never stored)."""

    __tablename__ = "security_api_keys"

    key_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(32))
    secret_sha256: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime)
    expires_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)


class SigningKey(Base):
    """One member of the JWT keyring.

    ``secret`` is sealed (bound to the ``kid``); it is empty for the key configured in
    settings, which is recorded only to know when it became active and whether it was
    retired.
    """

    __tablename__ = "security_signing_keys"

    kid: Mapped[str] = mapped_column(String(40), primary_key=True)
    secret: Mapped[str | None] = mapped_column(Text, nullable=True)
    activated_at: Mapped[datetime] = mapped_column(DateTime)
    retired_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)


class TotpUser(Base):
    """An operator enrolled for TOTP, with the role a verified code grants."""

    __tablename__ = "security_totp_users"

    user: Mapped[str] = mapped_column(String(200), primary_key=True)
    role: Mapped[str] = mapped_column(String(32))
    secret: Mapped[str] = mapped_column(Text)  # sealed
    enrolled_at: Mapped[datetime] = mapped_column(DateTime)
    last_step: Mapped[int | None] = mapped_column(Integer, nullable=True)


class TotpAttempts(Base):
    """Wrong TOTP codes in a row for one user, and when the last one came."""

    __tablename__ = "security_totp_attempts"

    user: Mapped[str] = mapped_column(String(200), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer)
    last_failure: Mapped[float] = mapped_column(Float)


class StoredSecret(Base):
    """A generated secret, by name (sealed)."""

    __tablename__ = "security_secrets"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime)


class AuditEntry(Base):
    """One audit event; rows are only ever inserted."""

    __tablename__ = "security_audit_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    ts: Mapped[str] = mapped_column(String(40))
    action: Mapped[str] = mapped_column(String(100), index=True)
    actor: Mapped[str] = mapped_column(String(200))
    subject_hash: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)
    # Canonical JSON text, hashed as stored: a JSON column type could re-serialise it.
    details: Mapped[str] = mapped_column(Text)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class AuditHead(Base):
    """The chain head: a single row updated with every insert."""

    __tablename__ = "security_audit_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    count: Mapped[int] = mapped_column(Integer)
    last_id: Mapped[int] = mapped_column(Integer)
    head_hash: Mapped[str] = mapped_column(String(64))


class AuditKeying(Base):
    """Where the chain became keyed: the first keyed entry and the last unkeyed hash, MACed."""

    __tablename__ = "security_audit_keying"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    keyed_from: Mapped[int] = mapped_column(Integer)
    legacy_head: Mapped[str] = mapped_column(String(64))
    mac: Mapped[str] = mapped_column(String(64))


#: (table, key column, secret column) of every column that holds sealed secrets; the
#: key's value names the row in the seal (``<table>/<key>``).
SEALED_COLUMNS: tuple[tuple[Table, str, str], ...] = (
    (StoredSecret.__table__, "name", "value"),
    (TotpUser.__table__, "user", "secret"),
    (SigningKey.__table__, "kid", "secret"),
)
