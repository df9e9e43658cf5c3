"""Transitional: the URL-or-global way to reach the database, for callers not yet given a
:class:`~greenscore.store.database.Database`. Remove once none is left.

Tables declared on :class:`~greenscore.store.base.Base` outside :mod:`greenscore.store.tables`
have no migration yet; these helpers create them (and only them) so such a capability keeps
working until its tables move into the schema with a migration of their own.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from greenscore.store.base import Base
from greenscore.store.database import Database, database_url, open_database
from greenscore.store.schema import metadata

_MIGRATED = frozenset(metadata.tables)
_unmigrated_done: dict[str, int] = {}


def _database(url: str | None) -> Database:
    if url is None:
        from greenscore.config import get_settings

        url = database_url(get_settings())
    db = open_database(url)
    extra = [t for name, t in Base.metadata.tables.items() if name not in _MIGRATED]
    if extra and _unmigrated_done.get(url) != len(extra):
        Base.metadata.create_all(db.engine, tables=extra)
        _unmigrated_done[url] = len(extra)
    return db


def init_db(url: str | None = None) -> Engine:
    """The engine of ``url`` (default: the global settings' database), schema current."""
    return _database(url).engine


@contextmanager
def session_scope(url: str | None = None) -> Iterator[Session]:
    """A session on ``url`` (default: the global settings' database)."""
    with _database(url).session() as session:
        yield session
