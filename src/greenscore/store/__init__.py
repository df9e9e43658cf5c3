"""Persistence: one :class:`Database` per URL (SQLite by default, PostgreSQL by URL), every
table's declaration (:mod:`greenscore.store.tables`, gathered by :mod:`greenscore.store.schema`)
and the Alembic migrations that build them (:mod:`greenscore.store.migrate`).

The store is the bottom layer: it imports nothing of the capabilities that use it.
"""

from greenscore.store._legacy import session_scope
from greenscore.store.base import Base
from greenscore.store.database import (
    Database,
    affected_rows,
    database,
    database_url,
    open_database,
)
from greenscore.store.engine import engine_for

__all__ = [
    "Base",
    "Database",
    "affected_rows",
    "database",
    "database_url",
    "engine_for",
    "open_database",
    "session_scope",
]
