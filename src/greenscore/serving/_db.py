"""Short write transactions for the serving tables (dead letters, review queue, jobs).

SQLite connections come from the store with WAL and ``synchronous=NORMAL``: a process crash
loses nothing, only an OS crash may lose the newest commits, and a commit does not wait for
the disk.
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
    with engine().begin() as conn:
        yield conn
