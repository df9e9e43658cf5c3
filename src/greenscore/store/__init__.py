"""Persistence: one SQLAlchemy engine per database URL (SQLite by default, PostgreSQL by URL).

Each capability declares its tables in its own module on :class:`Base`; importing that
module before :func:`init_db` is enough for the tables to be created.
"""

from greenscore.store._db import database_url, engine_for, init_db, session_scope
from greenscore.store.base import Base

__all__ = ["Base", "database_url", "engine_for", "init_db", "session_scope"]
