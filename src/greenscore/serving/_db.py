"""Short write transactions for the serving tables (dead letters, review queue, jobs).

SQLite commits with ``synchronous=NORMAL`` here, as the audit log's appends do: with WAL a
process crash loses nothing, only an OS crash may lose the newest commits, and a commit
does not wait for the disk (pooled connections can come back set to FULL by other writers).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Connection, Engine

from greenscore.store import init_db


def engine() -> Engine:
    """The engine of the configured database, every declared table created."""
    return init_db()


@contextmanager
def writing() -> Iterator[Connection]:
    """A connection in one transaction: committed on success, rolled back on error."""
    with engine().connect() as conn:
        if conn.dialect.name == "sqlite":
            conn.exec_driver_sql("PRAGMA synchronous=NORMAL")
        try:
            yield conn
            conn.commit()
        except BaseException:
            conn.rollback()
            raise
