"""Secrets GreenScore generates for itself (audit pepper, first JWT key) and keeps in its database.

Used only outside production: there the operator must configure each secret, so a copy of
the database alone never holds every key.
"""

from __future__ import annotations

import secrets
from datetime import datetime

from sqlalchemy import DateTime, String, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, mapped_column

from greenscore.config import Settings
from greenscore.errors import ConfigError
from greenscore.security import _clock
from greenscore.store import Base, session_scope

PRODUCTION = "production"
MISSING_IN_PRODUCTION = (
    "settings field 'security.{field}' must be set when environment is 'production' "
    "(GREENSCORE_SECURITY__{env})"
)


class StoredSecret(Base):
    """A generated secret, by name."""

    __tablename__ = "security_secrets"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(String(256))
    created_at: Mapped[datetime] = mapped_column(DateTime)


def refuse_in_production(settings: Settings, field: str) -> None:
    """Raise ConfigError when a secret would have to be generated in production.

    Raises
    ------
    ConfigError
        If ``settings.environment`` is ``production``.
    """
    if settings.environment == PRODUCTION:
        raise ConfigError(MISSING_IN_PRODUCTION.format(field=field, env=field.upper()))


def stored_secret(name: str, *, url: str, nbytes: int = 32) -> str:
    """Return the secret stored under ``name``, generating it on first use.

    Two processes racing on first use both end up with the one row that won the insert.
    """
    with session_scope(url) as session:
        row = session.get(StoredSecret, name)
        if row is not None:
            return row.value
    try:
        with session_scope(url) as session:
            value = secrets.token_urlsafe(nbytes)
            session.add(StoredSecret(name=name, value=value, created_at=_clock.utcnow()))
        return value
    except IntegrityError:
        with session_scope(url) as session:
            return session.execute(
                select(StoredSecret.value).where(StoredSecret.name == name)
            ).scalar_one()
