"""The database URL, engine and sessions for the current settings.

Thin names over :mod:`greenscore.store` so the security modules take their settings
explicitly (tests and the API pass them); the URL cache, table creation and its locking
live in the store.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from greenscore.config import Settings
from greenscore.store import database_url, init_db, session_scope


def db_url(settings: Settings) -> str:
    """The settings' database URL (cached by the store)."""
    return database_url(settings)


def engine(settings: Settings) -> Engine:
    """The engine for the current settings, with every declared table created."""
    return init_db(database_url(settings))


@contextmanager
def session(settings: Settings) -> Iterator[Session]:
    """An ORM session that commits on success and rolls back on error."""
    with session_scope(database_url(settings)) as s:
        yield s
