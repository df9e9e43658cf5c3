"""Schema migrations: ``greenscore db upgrade`` on an empty SQLite database, an empty
PostgreSQL schema and a home folder made by release 0.1.0 ends at one schema, the models';
a round trip down to 0.1.0's schema and back loses no row; the old home's data still works;
a downgrade that would lose data is refused; concurrent first uses do not fail.

The 0.1.0 home is ``tests/fixtures/home-0.1.0`` (see its README), always used as a copy.
"""

from __future__ import annotations

import re
import shutil
import sqlite3
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pyotp
import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, create_engine, inspect, text

from greenscore import cli as cli_module
from greenscore.config import Settings, get_settings, use_settings
from greenscore.errors import ConfigError
from greenscore.security import authenticate_user, is_enrolled, record_event, verify_chain
from greenscore.security import tokens as tokens_mod
from greenscore.security.api_keys import clear_cache, verify_key
from greenscore.serving import review
from greenscore.serving.errors import ConflictError
from greenscore.store import database, engine_for, migrate, open_database
from greenscore.store.predictions import get_prediction, record_prediction
from greenscore.store.schema import metadata

FIXTURE = Path(__file__).parents[1] / "fixtures" / "home-0.1.0"
NONE = "none (an empty database, or one made by release 0.1.0)"


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str]):
    """Run ``greenscore ARGS`` in-process; returns (exit code, stdout, stderr)."""

    def call(*args: str) -> tuple[int, str, str]:
        capsys.readouterr()
        with pytest.raises(SystemExit) as stopped:
            cli_module.main(list(args))
        captured = capsys.readouterr()
        return int(stopped.value.code or 0), captured.out, captured.err

    return call


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Settings on a fresh home folder (no database yet)."""
    for name in ("GREENSCORE_HOME", "GREENSCORE_DATABASE_URL", "GREENSCORE_MASTER_KEY"):
        monkeypatch.delenv(name, raising=False)
    folder = tmp_path / "home"
    use_settings(Settings(home=folder, environment="test"))
    tokens_mod._forget()
    clear_cache()
    yield folder
    use_settings(None)
    tokens_mod._forget()


@pytest.fixture
def old_home(home: Path) -> Path:
    """The settings' home is a copy of the 0.1.0 fixture."""
    shutil.copytree(FIXTURE, home)
    return home


def _url(home: Path) -> str:
    return f"sqlite:///{(home / 'greenscore.db').resolve()}"


def _differences(engine: Engine) -> list:
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        return compare_metadata(context, metadata)


def _generic(kind: object) -> str:
    """A reflected column type as the backends agree on it (name; length of strings)."""
    generic = kind.as_generic()  # type: ignore[attr-defined]
    name = {"Double": "Float"}.get(type(generic).__name__, type(generic).__name__)
    length = getattr(generic, "length", None)
    return f"{name}({length})" if name == "String" else name


def _shape(engine: Engine) -> dict[str, tuple]:
    """Every table's columns (generic type, nullable), primary key, indexes and uniques."""
    found = inspect(engine)
    shape = {}
    for table in sorted(found.get_table_names()):
        if table == migrate.VERSION_TABLE:
            continue
        shape[table] = (
            {c["name"]: (_generic(c["type"]), c["nullable"]) for c in found.get_columns(table)},
            tuple(found.get_pk_constraint(table)["constrained_columns"]),
            sorted(
                (i["name"], tuple(i["column_names"]))
                for i in found.get_indexes(table)
                if i["name"].startswith("ix_")
            ),
            sorted(tuple(u["column_names"]) for u in found.get_unique_constraints(table)),
        )
    return shape


def _ddl(path: Path) -> dict[tuple[str, str], str]:
    """SQLite's own text of every table and index (whitespace folded, identifiers unquoted:
    a table rebuilt by a batch migration comes back with its name quoted)."""
    with sqlite3.connect(path) as conn:
        rows = conn.execute(
            "SELECT type, name, sql FROM sqlite_master WHERE sql IS NOT NULL "
            "AND name != 'alembic_version'"
        ).fetchall()
    return {(kind, name): re.sub(r"\s+", " ", sql).replace('"', "") for kind, name, sql in rows}


def _counts(path: Path) -> dict[str, int]:
    with sqlite3.connect(path) as conn:
        names = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        return {n: conn.execute(f'SELECT COUNT(*) FROM "{n}"').fetchone()[0] for n in names}


# ---------------------------------------------------------------- one schema, three starts
def test_upgrade_of_an_empty_and_an_old_sqlite_database_ends_at_the_models_schema(
    tmp_path: Path, cli
) -> None:
    shapes = []
    for name, start in (("empty", None), ("old", FIXTURE)):
        home = tmp_path / name
        if start is not None:
            shutil.copytree(start, home)
        use_settings(Settings(home=home, environment="test"))
        try:
            code, out, err = cli("db", "upgrade")
        finally:
            use_settings(None)
        assert code == 0, err
        assert out.strip() == f"database at revision {migrate.head()} (was {NONE})"
        engine = engine_for(_url(home))
        assert migrate.current(engine) == migrate.head()
        assert _differences(engine) == []
        shapes.append(_shape(engine))
    assert shapes[0] == shapes[1]
    assert set(shapes[0]) == set(metadata.tables)


def test_the_scripts_alone_build_0_1_0_and_then_the_models_schema(tmp_path: Path) -> None:
    # A new database normally gets the models' schema stamped at the head; the scripts
    # must reach exactly the same from scratch (they are what an old database runs).
    engine = engine_for(_url(tmp_path))
    assert migrate.upgrade(engine, migrate.BASELINE) == migrate.BASELINE
    assert _ddl(tmp_path / "greenscore.db") == _ddl(FIXTURE / "greenscore.db")
    assert migrate.upgrade(engine) == migrate.head()
    assert _differences(engine) == []
    fresh = engine_for(_url(tmp_path / "fresh"))
    migrate.upgrade(fresh)
    assert _shape(engine) == _shape(fresh)


@pytest.mark.services
def test_upgrade_of_an_empty_postgres_schema_ends_at_the_same_schema(
    postgres_schema_url: str, tmp_path: Path, cli
) -> None:
    use_settings(Settings(home=tmp_path / "home", database_url=postgres_schema_url))
    try:
        code, out, err = cli("db", "upgrade")
    finally:
        use_settings(None)
    assert code == 0, err
    engine = engine_for(postgres_schema_url)
    assert _differences(engine) == []
    sqlite = engine_for(_url(tmp_path / "sqlite"))
    migrate.upgrade(sqlite)
    assert _shape(engine) == _shape(sqlite)
    # Alembic ran inside the throw-away schema: its version table is there too.
    with engine.connect() as conn:
        version = conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
        assert version == migrate.head()
    # The scripts alone, from scratch, reach it as well.
    migrate.downgrade(engine, "base")
    assert set(inspect(engine).get_table_names()) == {migrate.VERSION_TABLE}
    migrate.upgrade(engine, migrate.BASELINE)
    migrate.upgrade(engine)
    assert _differences(engine) == []


# ---------------------------------------------------------------- the 0.1.0 home
def test_a_round_trip_down_to_0_1_0_and_back_loses_no_row(old_home: Path, cli) -> None:
    db = old_home / "greenscore.db"
    assert cli("db", "upgrade")[0] == 0
    before = _counts(db)
    assert sum(before.values()) >= 17  # every table of 0.1.0 holds rows
    code, out, err = cli("db", "downgrade", migrate.BASELINE)
    assert code == 0, err
    assert out.strip() == f"database at revision 0001 (was {migrate.head()})"
    assert _ddl(db) == _ddl(FIXTURE / "greenscore.db")  # 0.1.0's schema again
    code, out, err = cli("db", "current")
    assert out.strip() == f"0001; newest is {migrate.head()}"
    assert cli("db", "upgrade")[0] == 0
    assert _counts(db) == before
    assert _differences(engine_for(_url(old_home))) == []


def test_the_old_home_still_works_after_the_upgrade(old_home: Path, cli) -> None:
    plaintext = (old_home / "api_key.txt").read_text().strip()
    with sqlite3.connect(old_home / "greenscore.db") as conn:
        user, secret = conn.execute("SELECT user, secret FROM security_totp_users").fetchone()
        entries = conn.execute("SELECT COUNT(*) FROM security_audit_log").fetchone()[0]
    assert cli("db", "upgrade")[0] == 0
    settings = get_settings()
    principal = verify_key(plaintext, settings=settings)
    assert (principal.role, principal.id) == ("scorer", plaintext.split("_")[1])
    assert is_enrolled(user, settings=settings)
    assert authenticate_user(user, pyotp.TOTP(secret).now(), settings=settings).role == "admin"
    # The unkeyed 0.1.0 chain: not verified until this release records its first event
    # (the switch-over), then verified whole (docs/security.md).
    result = verify_chain(settings=settings)
    assert not result.ok and "release 0.1.0" in result.reason
    record_event("audit.anchor", actor="ops", settings=settings)
    result = verify_chain(settings=settings)
    assert (result.ok, result.checked) == (True, entries + 1)
    old = get_prediction("r1", db=database(settings))
    assert (old.decision, old.tenant) == ("decline", None)


def test_a_downgrade_that_would_lose_data_is_refused(old_home: Path, cli) -> None:
    assert cli("db", "upgrade")[0] == 0
    # The first event writes the switch-over record (a table 0.1.0 does not have).
    record_event("audit.anchor", actor="ops", settings=get_settings())
    before = _counts(old_home / "greenscore.db")
    code, _, err = cli("db", "downgrade", migrate.BASELINE)
    assert code == 2
    assert "would lose data: 1 row(s) of security_audit_keying" in err
    assert migrate.current(engine_for(_url(old_home))) == migrate.head()
    assert _counts(old_home / "greenscore.db") == before


def test_two_review_items_for_one_request_and_kind_stop_the_upgrade(old_home: Path, cli) -> None:
    db = old_home / "greenscore.db"
    with sqlite3.connect(db) as conn:
        conn.execute(
            "INSERT INTO serving_review_queue SELECT 'second', request_id, kind, status, "
            "created_at, comment, model, decision, probability, outcome, note, decided_by, "
            "decided_at FROM serving_review_queue"
        )
    before = _ddl(db)
    code, _, err = cli("db", "upgrade")
    assert code == 2
    assert "request 'r1' kind 'contest'" in err and "second" in err
    assert _ddl(db) == before  # one transaction: nothing changed, not even the stamp
    with sqlite3.connect(db) as conn:
        conn.execute("DELETE FROM serving_review_queue WHERE id = 'second'")
    assert cli("db", "upgrade")[0] == 0


def test_simultaneous_contests_make_one_review_item(home: Path) -> None:
    db = database(Settings(home=home, environment="test"))
    outcomes: list[str] = []

    def contest() -> None:
        try:
            review.add_item(
                request_id="r1",
                kind="contest",
                model="m:1",
                decision="decline",
                probability=0.6,
                tenant="a",
                db=db,
            )
            outcomes.append("added")
        except ConflictError:
            outcomes.append("conflict")

    threads = [threading.Thread(target=contest) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["added", "conflict", "conflict", "conflict"]
    assert len(review.list_items(db=db)) == 1


# ---------------------------------------------------------------- first use, at once
def test_processes_starting_on_a_fresh_home_at_once_all_succeed(tmp_path: Path) -> None:
    env = {"GREENSCORE_HOME": str(tmp_path / "home"), "PATH": "/usr/bin:/bin"}
    runs = [
        subprocess.Popen(
            [sys.executable, "-m", "greenscore.cli", "db", "upgrade"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(4)
    ]
    results = [(p.wait(timeout=120), p.stderr.read()) for p in runs]  # type: ignore[union-attr]
    assert all(code == 0 for code, _ in results), results
    assert migrate.current(engine_for(_url(tmp_path / "home"))) == migrate.head()


@pytest.mark.services
def test_threads_upgrading_a_fresh_postgres_schema_at_once_all_succeed(
    postgres_schema_url: str,
) -> None:
    errors: list[BaseException] = []

    def first_use() -> None:
        try:
            # A separate engine per thread: separate sessions for the advisory lock.
            migrate.upgrade(create_engine(postgres_schema_url))
        except BaseException as exc:  # noqa: BLE001 - collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=first_use) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert migrate.current(engine_for(postgres_schema_url)) == migrate.head()


# ---------------------------------------------------------------- edges
def test_a_partial_database_gets_what_it_lacks(tmp_path: Path) -> None:
    # A development build before migrations made only the tables whose modules it had
    # imported (this one even lacks the table's indexes).
    path = tmp_path / "greenscore.db"
    with sqlite3.connect(path) as conn:
        conn.execute(
            "CREATE TABLE predictions (request_id VARCHAR(64) NOT NULL PRIMARY KEY, "
            "subject_hash VARCHAR(64), model_name VARCHAR(200) NOT NULL, "
            "model_version VARCHAR(100) NOT NULL, created_at DATETIME NOT NULL, "
            "input_hash VARCHAR(64) NOT NULL, decision VARCHAR(20) NOT NULL, "
            "probability FLOAT NOT NULL, payload JSON)"
        )
        conn.execute(
            "INSERT INTO predictions VALUES ('r1', NULL, 'm', '1', '2026-01-01 00:00:00', "
            "'h', 'approve', 0.1, NULL)"
        )
    db = open_database(_url(tmp_path))
    assert _differences(db.engine) == []
    assert get_prediction("r1", db=db).tenant is None
    record_prediction(
        request_id="r2",
        subject_hash=None,
        model_name="m",
        model_version="1",
        input_hash="h",
        decision="approve",
        probability=0.1,
        tenant="key-a",
        db=db,
    )
    assert get_prediction("r2", db=db).tenant == "key-a"


@pytest.mark.services
def test_a_partial_postgres_database_gets_what_it_lacks(postgres_schema_url: str) -> None:
    engine = create_engine(postgres_schema_url)
    with engine.begin() as conn:
        conn.execute(
            text(
                "CREATE TABLE predictions (request_id VARCHAR(64) PRIMARY KEY, "
                "subject_hash VARCHAR(64), model_name VARCHAR(200) NOT NULL, "
                "model_version VARCHAR(100) NOT NULL, created_at TIMESTAMPTZ NOT NULL, "
                "input_hash VARCHAR(64) NOT NULL, decision VARCHAR(20) NOT NULL, "
                "probability FLOAT NOT NULL, payload JSON)"
            )
        )
        conn.execute(
            text(
                "INSERT INTO predictions VALUES ('r1', NULL, 'm', '1', now(), 'h', "
                "'approve', 0.1, NULL)"
            )
        )
    engine.dispose()
    db = open_database(postgres_schema_url)
    assert _differences(db.engine) == []
    assert get_prediction("r1", db=db).tenant is None


def test_a_database_newer_than_this_release_is_refused(tmp_path: Path, cli) -> None:
    engine = engine_for(_url(tmp_path))
    migrate.upgrade(engine)
    with engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '9999'"))
    with pytest.raises(ConfigError, match="revision '9999', which this GreenScore does not know"):
        open_database(_url(tmp_path))


def test_db_history_lists_the_revisions_and_unknown_ones_are_refused(home: Path, cli) -> None:
    code, out, _ = cli("db", "history")
    assert code == 0
    assert [line.split()[0] for line in out.splitlines()] == [r.revision for r in migrate.history()]
    assert out.splitlines()[0].split()[0] == migrate.BASELINE
    assert "release 0.1.0" in out.splitlines()[0]
    code, _, err = cli("db", "downgrade", "nope")
    assert code == 2 and "no schema revision 'nope'" in err
