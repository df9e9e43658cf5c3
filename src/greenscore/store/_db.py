"""Engine, session and schema creation shared by every table in GreenScore."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Engine, create_engine, event, inspect, text
from sqlalchemy.exc import OperationalError, ProgrammingError
from sqlalchemy.orm import Session, sessionmaker

from greenscore.config import private_file
from greenscore.errors import ConfigError
from greenscore.store.schema import metadata

if TYPE_CHECKING:
    from greenscore.config import Settings


@lru_cache(maxsize=8)
def engine_for(url: str) -> Engine:
    """Return the (cached) engine for a URL; SQLite files get WAL and foreign keys."""
    if url.startswith("sqlite:///"):
        _private_sqlite_file(Path(url.removeprefix("sqlite:///")))
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
    if str(path) in ("", ":memory:"):
        return
    private_file(path)
    for suffix in ("-wal", "-shm", "-journal"):
        side = path.with_name(path.name + suffix)
        if side.exists():
            private_file(side)


_urls: dict[tuple[str | None, str, str], str] = {}


def database_url(settings: Settings | None = None) -> str:
    """The settings' database URL, cached on what it depends on.

    ``Settings.db_url`` resolves the home folder on the file system (tens of µs); per-request
    paths (API keys, audit events, predictions) ask for it often, so it is cached on the
    configured URL, the home folder and, for a relative home, the working directory.
    """
    if settings is None:
        from greenscore.config import get_settings

        settings = get_settings()
    home = settings.home
    key = (settings.database_url, str(home), "" if home.is_absolute() else os.getcwd())
    url = _urls.get(key)
    if url is None:
        if settings.database_url is None:
            settings.ensure_home()  # the default database lives there: owner-only from the start
        url = _urls[key] = settings.db_url
    return url


def _default_url(url: str | None) -> str:
    return url if url is not None else database_url()


_created: dict[str, int] = {}
_create_lock = threading.Lock()


def init_db(url: str | None = None) -> Engine:
    """Create every declared table that does not exist yet and return the engine.

    Raises
    ------
    ConfigError
        If the database cannot be reached.
    """
    resolved = _default_url(url)
    engine = engine_for(resolved)
    # create_all costs a round of schema queries: repeat it only when new tables were declared.
    if _created.get(resolved) == len(metadata.tables):
        return engine
    with _create_lock:  # two threads creating one schema would race on "table exists"
        if _created.get(resolved) == len(metadata.tables):
            return engine
        try:
            metadata.create_all(engine)
        except OperationalError:
            # Another process may have created the same tables between our check and our
            # CREATE ("table already exists"): a second pass only adds what is still missing.
            try:
                metadata.create_all(engine)
            except OperationalError as exc:
                raise ConfigError(f"database not reachable at {engine.url!r}: {exc.orig}") from exc
        _add_missing_columns(engine)
        _created[resolved] = len(metadata.tables)
    return engine


def _add_missing_columns(engine: Engine) -> None:
    """Add the declared nullable columns that existing tables lack.

    A stopgap until Alembic migrations (with the 0.1.0 schema as their baseline) replace
    it: ``create_all`` never alters a table that exists, so a database made by an older
    release would miss a column added since (``predictions.tenant``, say). Only nullable
    columns are added, with ``ALTER TABLE ... ADD COLUMN`` (in place on SQLite and
    PostgreSQL, existing rows read NULL); nothing is ever changed or dropped.
    """
    inspector = inspect(engine)
    tables = set(inspector.get_table_names())
    quote = engine.dialect.identifier_preparer.quote
    for table in metadata.sorted_tables:
        if table.name not in tables:
            continue
        present = {c["name"] for c in inspector.get_columns(table.name)}
        for column in table.columns:
            if column.name in present or not column.nullable:
                continue
            kind = column.type.compile(dialect=engine.dialect)
            try:
                with engine.begin() as conn:
                    conn.execute(
                        text(
                            f"ALTER TABLE {quote(table.name)} ADD COLUMN {quote(column.name)} {kind}"
                        )
                    )
            except (OperationalError, ProgrammingError):
                # Another process may have added it first; anything else is a real failure.
                added = {c["name"] for c in inspect(engine).get_columns(table.name)}
                if column.name not in added:
                    raise


@contextmanager
def session_scope(url: str | None = None) -> Iterator[Session]:
    """A session that commits on success and rolls back on error."""
    factory = sessionmaker(bind=init_db(url), expire_on_commit=False)
    session = factory()
    try:
        yield session
        session.commit()
    except Exception:
        session.rollback()
        raise
    finally:
        session.close()
