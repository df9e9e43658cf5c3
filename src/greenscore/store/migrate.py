"""Schema migrations (Alembic): bring a database to the schema of this release, or back.

The migration scripts live in :mod:`greenscore.store.migrations` (shipped with the
package); ``0001`` is the schema of release 0.1.0, the last one made without migrations.
:func:`ensure_current` runs on the first use of a database in a process (see
:func:`greenscore.store.database.open_database`): a database already at the newest
revision costs one small query, an empty one is built from scratch, and one made by
0.1.0 — which has GreenScore's tables but no ``alembic_version`` table — is stamped
``0001`` first and then upgraded. A new database (no GreenScore table at all) gets the
models' schema at once and is stamped at the head, as Alembic recommends; the scripts
reach the same schema from scratch, which a test holds them to.

Several processes may start on a fresh home at once (API workers, a CLI command). Each
upgrade runs under an exclusive lock — a file lock beside a SQLite database (plus SQLite's
own ``BEGIN IMMEDIATE``), ``pg_advisory_lock`` on PostgreSQL — and looks at the revision
again once it holds it, so the first process upgrades and the others find the work done.
An upgrade is one transaction: it ends at the target revision or changes nothing.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util.exc import CommandError
from sqlalchemy import Connection, Engine, inspect, text
from sqlalchemy.exc import OperationalError

from greenscore.errors import ConfigError
from greenscore.store.engine import sqlite_path
from greenscore.store.schema import metadata

SCRIPTS = "greenscore.store:migrations"
#: The revision whose schema is release 0.1.0's.
BASELINE = "0001"
VERSION_TABLE = "alembic_version"
#: The tables release 0.1.0 created (a database holding them and no version table is 0.1.0's).
RELEASE_0_1_0_TABLES = frozenset(
    {
        "predictions",
        "privacy_budget",
        "privacy_budget_spend",
        "privacy_consent",
        "privacy_datasets",
        "privacy_lineage",
        "privacy_retention",
        "privacy_token_vault",
        "security_api_keys",
        "security_audit_head",
        "security_audit_log",
        "security_secrets",
        "security_signing_keys",
        "security_totp_users",
        "serving_dead_letters",
        "serving_jobs",
        "serving_review_queue",
    }
)
UNREACHABLE = "database not reachable at {url}: {error}"
NEWER = (
    "the database is at schema revision '{revision}', which this GreenScore does not know "
    "(its newest is '{head}'): run a newer GreenScore, or downgrade the database with the "
    "release that upgraded it"
)
UNKNOWN_REVISION = "no schema revision '{revision}'; 'greenscore db history' lists them"


@dataclass(frozen=True)
class Revision:
    """One migration: its id, the one before it, and what it does."""

    revision: str
    down_revision: str | None
    description: str


def _config(connection: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", SCRIPTS)
    if connection is not None:
        config.attributes["connection"] = connection
    return config


@lru_cache(maxsize=1)
def _scripts() -> ScriptDirectory:
    return ScriptDirectory.from_config(_config())


def head() -> str:
    """The newest revision this release knows."""
    newest = _scripts().get_current_head()
    assert newest is not None  # the package ships its migrations
    return newest


def history() -> list[Revision]:
    """Every migration, oldest first."""
    return [
        Revision(
            revision=script.revision,
            down_revision=script.down_revision,  # type: ignore[arg-type] # no merge points
            description=(script.doc or "").strip(),
        )
        for script in reversed(list(_scripts().walk_revisions()))
    ]


def current(engine: Engine) -> str | None:
    """The database's revision (None: never migrated — empty, or made by release 0.1.0).

    Raises
    ------
    ConfigError
        If the database cannot be reached.
    """
    try:
        with engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()
    except OperationalError as exc:
        raise ConfigError(_unreachable(engine, exc)) from exc


def _unreachable(engine: Engine, exc: OperationalError) -> str:
    return UNREACHABLE.format(url=engine.url, error=str(exc.orig).strip().splitlines()[0])


# ---------------------------------------------------------------------- locking
_process_lock = threading.Lock()


def _pg_lock_key(conn: Connection) -> int:
    """One advisory-lock key per database and schema (test schemas do not wait on each other)."""
    where = conn.execute(text("SELECT current_database() || '.' || current_schema()")).scalar()
    digest = hashlib.sha256(f"greenscore-migrate:{where}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


@contextmanager
def _file_lock(engine: Engine) -> Iterator[None]:
    path = sqlite_path(str(engine.url))
    if path is None:
        yield
        return
    fd = os.open(path.with_name(path.name + ".lock"), os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)  # released when the descriptor closes, even on a crash
        yield
    finally:
        os.close(fd)


@contextmanager
def _migrating(engine: Engine) -> Iterator[Connection]:
    """A connection in one transaction, holding the database's migration lock."""
    with _process_lock, _file_lock(engine):
        try:
            conn = engine.connect()
        except OperationalError as exc:
            raise ConfigError(_unreachable(engine, exc)) from exc
        with conn:
            postgres = conn.dialect.name == "postgresql"
            if postgres:
                key = _pg_lock_key(conn)
                conn.execute(text("SELECT pg_advisory_lock(:key)"), {"key": key})
                conn.commit()  # the lock belongs to the session, not to this transaction
            try:
                if conn.dialect.name == "sqlite":
                    # Take SQLite's write lock now, so DDL and the version row commit together.
                    conn.exec_driver_sql("BEGIN IMMEDIATE")
                else:
                    conn.begin()
                yield conn
                conn.commit()
            except BaseException:
                conn.rollback()
                raise
            finally:
                if postgres:
                    conn.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": key})
                    conn.commit()


# ---------------------------------------------------------------------- moving
def _check_known(revision: str | None) -> None:
    if revision is None:
        return
    try:
        _scripts().get_revision(revision)
    except CommandError as exc:
        raise ConfigError(NEWER.format(revision=revision, head=head())) from exc


def _unversioned(conn: Connection) -> str | None:
    """How to start a database that has no version table: ``"empty"`` (no GreenScore table),
    ``"0.1.0"`` (every table of that release) or ``"partial"``; None if it is versioned."""
    tables = set(inspect(conn).get_table_names())
    if VERSION_TABLE in tables:
        return None
    if tables >= RELEASE_0_1_0_TABLES:
        return "0.1.0"
    return "partial" if tables & (RELEASE_0_1_0_TABLES | set(metadata.tables)) else "empty"


_current: set[str] = set()


def upgrade(engine: Engine, revision: str = "head") -> str | None:
    """Upgrade the database to ``revision`` (default: the newest); returns the revision now.

    Raises
    ------
    ConfigError
        If the revision is unknown, the database unreachable or newer than this release.
    """
    if revision != "head":
        _check_revision(revision)
    with _migrating(engine) as conn:
        _check_known(MigrationContext.configure(conn).get_current_revision())
        start = _unversioned(conn)
        if start == "empty" and revision in ("head", head()):
            # Alembic's recipe for a new database: the models' schema, stamped at the head
            # (the scripts reach the same schema — a test holds them to it — in 5x the time).
            metadata.create_all(conn)
            command.stamp(_config(conn), "head")
        else:
            if start == "0.1.0":
                command.stamp(_config(conn), BASELINE)
            command.upgrade(_config(conn), revision)
        now = MigrationContext.configure(conn).get_current_revision()
    _forget(engine)
    return now


def downgrade(engine: Engine, revision: str) -> str | None:
    """Downgrade the database to ``revision`` (``base``: no GreenScore tables left).

    A migration whose downgrade would lose data refuses, naming it, and nothing changes.

    Raises
    ------
    ConfigError
        If the revision is unknown or the database unreachable.
    DataError
        If going down would delete rows or values (see each migration's ``downgrade``).
    """
    if revision != "base":
        _check_revision(revision)
    with _migrating(engine) as conn:
        _check_known(MigrationContext.configure(conn).get_current_revision())
        if _unversioned(conn) == "0.1.0":
            command.stamp(_config(conn), BASELINE)
        command.downgrade(_config(conn), revision)
        now = MigrationContext.configure(conn).get_current_revision()
    _forget(engine)
    return now


def _check_revision(revision: str) -> None:
    try:
        found = _scripts().get_revision(revision)
    except CommandError as exc:
        raise ConfigError(UNKNOWN_REVISION.format(revision=revision)) from exc
    if found is None:
        raise ConfigError(UNKNOWN_REVISION.format(revision=revision))


_changes = [0]


def _forget(engine: Engine) -> None:
    _current.discard(str(engine.url))
    _changes[0] += 1


def changes() -> int:
    """How many upgrades and downgrades this process has made (a database checked before
    the last one is checked again)."""
    return _changes[0]


def ensure_current(engine: Engine) -> None:
    """Upgrade the database to the newest revision unless it is there (checked once per
    process and database).

    Raises
    ------
    ConfigError
        If the database cannot be reached or is newer than this release.
    """
    key = str(engine.url)
    if key in _current:
        return
    found = current(engine)
    if found != head():
        _check_known(found)
        upgrade(engine)
    _current.add(key)
