"""Engines: one SQLAlchemy engine per database URL per process, SQLite set up for GreenScore.

A SQLite file is created owner-only (0600) before SQLite opens it, and every connection
runs in WAL mode with ``synchronous=NORMAL``, foreign keys on and ``secure_delete`` on.
A ``postgresql://`` URL is driven by psycopg 3.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from sqlalchemy import Engine, create_engine, event

from greenscore.config import private_file

SQLITE_PREFIX = "sqlite:///"


def sqlite_path(url: str) -> Path | None:
    """The file of a SQLite URL (None for another backend or an in-memory database)."""
    if not url.startswith(SQLITE_PREFIX):
        return None
    path = url.removeprefix(SQLITE_PREFIX).split("?", 1)[0]
    return None if path in ("", ":memory:") else Path(path)


@lru_cache(maxsize=8)
def engine_for(url: str) -> Engine:
    """Return the (cached) engine for a URL; SQLite files get WAL and foreign keys."""
    if url.startswith(SQLITE_PREFIX):
        path = sqlite_path(url)
        if path is not None:
            _private_sqlite_file(path)
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record) -> None:  # noqa: ANN001
            # WAL lets the API read while a batch job writes.
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            # NORMAL with WAL survives process crashes; only an OS crash can lose the last commits.
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA foreign_keys=ON")
            # GDPR erasure must not leave deleted rows readable in free pages.
            cur.execute("PRAGMA secure_delete=ON")
            cur.close()

        return engine
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    return create_engine(url, pool_pre_ping=True)


def _private_sqlite_file(path: Path) -> None:
    """Create the database file owner-only before SQLite opens it (SQLite would make it 0644).

    SQLite gives its -wal and -shm files the mode of the database file; those of an older,
    looser database are tightened here too.
    """
    private_file(path)
    for suffix in ("-wal", "-shm", "-journal"):
        side = path.with_name(path.name + suffix)
        if side.exists():
            private_file(side)
