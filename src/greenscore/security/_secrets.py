"""Secrets GreenScore generates for itself (audit pepper, first JWT key) and keeps in its database.

Only in the ``local`` and ``test`` environments: anywhere else (production) the operator
must configure each secret, so a copy of the database alone never holds every key.
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
from greenscore.security._db import session
from greenscore.store import Base

GENERATING_ENVIRONMENTS = frozenset({"local", "test"})
MISSING_SECRET = (
    "settings field 'security.{field}' must be set when environment is '{environment}' "
    "(GREENSCORE_SECURITY__{env}); only local and test generate one"
)


class StoredSecret(Base):
    """A generated secret, by name."""

    __tablename__ = "security_secrets"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(String(256))
    created_at: Mapped[datetime] = mapped_column(DateTime)


def refuse_generated(settings: Settings, field: str) -> None:
    """Raise ConfigError when a secret would have to be generated outside local/test use.

    Raises
    ------
    ConfigError
        If ``settings.environment`` is not ``local`` or ``test``.
    """
    if settings.environment not in GENERATING_ENVIRONMENTS:
        raise ConfigError(
            MISSING_SECRET.format(field=field, environment=settings.environment, env=field.upper())
        )


def stored_secret(name: str, *, settings: Settings, nbytes: int = 32) -> str:
    """Return the secret stored under ``name``, generating it on first use.

    Two processes racing on first use both end up with the one row that won the insert.
    """
    with session(settings) as db:
        row = db.get(StoredSecret, name)
        if row is not None:
            return row.value
    try:
        with session(settings) as db:
            value = secrets.token_urlsafe(nbytes)
            db.add(StoredSecret(name=name, value=value, created_at=_clock.utcnow()))
        return value
    except IntegrityError:
        with session(settings) as db:
            return db.execute(
                select(StoredSecret.value).where(StoredSecret.name == name)
            ).scalar_one()
