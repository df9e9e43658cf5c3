"""The one database seam: a :class:`Database` per URL per process, built from the settings.

Every function that reads or writes GreenScore's tables takes a :class:`Database` (or the
settings, where it needs them anyway, and asks :func:`database` for theirs); none reaches
for a global. Opening a database the first time in a process brings its schema to the
newest migration (:func:`greenscore.store.migrate.ensure_current`), so a home folder made
by an older release, or a fresh one, is ready before the first query.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, cast

from sqlalchemy import Connection, CursorResult, Engine, Result, text
from sqlalchemy.orm import Session, sessionmaker

from greenscore.store import migrate
from greenscore.store.engine import engine_for
from greenscore.store.writer_turn import writer_turn

if TYPE_CHECKING:
    from greenscore.config import Settings


class Database:
    """One database: its engine, ORM sessions and transactions.

    Get one with :func:`database` (from settings) or :func:`open_database` (from a URL);
    both give the same object for the same URL within a process.

    Attributes
    ----------
    url : str
        The SQLAlchemy URL (may hold a password: never show it unmasked).
    engine : Engine
        The pooled engine; use :meth:`begin` / :meth:`connect` for Core statements.
    """

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine: Engine = engine_for(url)
        self._sessions = sessionmaker(bind=self.engine, expire_on_commit=False)
        self._checked = -1  # migrate.changes() when the schema was last found current

    @property
    def dialect(self) -> str:
        """``sqlite`` or ``postgresql``."""
        return self.engine.dialect.name

    @contextmanager
    def session(self) -> Iterator[Session]:
        """An ORM session that commits on success and rolls back on error."""
        session = self._sessions()
        try:
            yield session
            session.commit()
        except Exception:
            session.rollback()
            raise
        finally:
            session.close()

    @contextmanager
    def begin(self) -> Iterator[Connection]:
        """A connection in one transaction: committed on success, rolled back on error."""
        with self.engine.begin() as conn:
            yield conn

    @contextmanager
    def serialised(self, name: str) -> Iterator[Connection]:
        """A transaction that holds the lock ``name`` from its first statement to its end.

        For a check and the write it allows (a quota counted, then a row inserted): two
        callers doing both at once would each count before the other inserts. SQLite takes
        its one write lock up front (``BEGIN IMMEDIATE``, so ``name`` is moot); PostgreSQL a
        transaction-level advisory lock on ``name``, so only callers of one name queue.
        """
        with writer_turn(self.engine), self.engine.connect() as conn:
            if self.dialect == "sqlite":
                conn.exec_driver_sql("BEGIN IMMEDIATE")
            else:
                conn.execute(text("SELECT pg_advisory_xact_lock(hashtext(:name))"), {"name": name})
            try:
                yield conn
                conn.commit()
            except BaseException:
                conn.rollback()
                raise

    def connect(self) -> Connection:
        """A connection for reads (``with db.connect() as conn``); commit writes yourself."""
        return self.engine.connect()

    def __repr__(self) -> str:
        return f"Database({self.engine.url!r})"


_open: dict[str, Database] = {}
_open_lock = threading.Lock()


def affected_rows(result: Result[Any]) -> int:
    """How many rows an UPDATE or DELETE run through ``Session.execute`` changed.

    ``Session.execute`` is typed to return a :class:`~sqlalchemy.Result`; for a DML
    statement it is a :class:`~sqlalchemy.CursorResult`, which carries the count.
    """
    return int(cast(CursorResult[Any], result).rowcount or 0)


def open_database(url: str) -> Database:
    """The database at ``url``, its schema brought to the newest migration on first use.

    Raises
    ------
    ConfigError
        If the database cannot be reached, or its schema is newer than this release knows.
    """
    db = _open.get(url)
    if db is None:
        with _open_lock:
            db = _open.get(url)
            if db is None:
                db = _open[url] = Database(url)
    if db._checked != migrate.changes():  # per-request callers pay one comparison
        migrate.ensure_current(db.engine)
        db._checked = migrate.changes()
    return db


_urls: dict[tuple[str | None, str, str], str] = {}


def database_url(settings: Settings) -> str:
    """The settings' database URL, cached on what it depends on.

    ``Settings.db_url`` resolves the home folder on the file system (tens of µs); per-request
    paths (API keys, audit events, predictions) ask for it often, so it is cached on the
    configured URL, the home folder and, for a relative home, the working directory.
    """
    home = settings.home
    key = (settings.database_url, str(home), "" if home.is_absolute() else os.getcwd())
    url = _urls.get(key)
    if url is None:
        if settings.database_url is None:
            settings.ensure_home()  # the default database lives there: owner-only from the start
        url = _urls[key] = settings.db_url
    return url


def database(settings: Settings) -> Database:
    """The settings' database (see :func:`open_database`)."""
    return open_database(database_url(settings))
