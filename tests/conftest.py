"""Shared fixtures: the real PostgreSQL server in a throw-away schema, and the rule for
tests that need a service (skip with a printed reason, or fail under
GREENSCORE_REQUIRE_SERVICES=1 as CI sets it), a throw-away GreenScore home and a runner of
the ``greenscore`` command line for CLI tests. Registers the check that every GreenScore
home the tests made still passes ``greenscore audit verify`` (tests/audit_chains.py)."""

from __future__ import annotations

import os
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

import audit_chains

POSTGRES_CANDIDATES = [
    "postgresql+psycopg://postgres@127.0.0.1:5432/test",
    "postgresql+psycopg://root@127.0.0.1:5432/test",
]


def pytest_configure(config: pytest.Config) -> None:
    audit_chains.register(config)


def service_missing(reason: str) -> None:
    """Skip (printing why) or, when services are required, fail."""
    if os.environ.get("GREENSCORE_REQUIRE_SERVICES") == "1":
        pytest.fail(reason)
    print(f"SKIP: {reason}")
    pytest.skip(reason)


def _reachable_postgres() -> tuple[str | None, str]:
    errors = []
    for url in POSTGRES_CANDIDATES:
        try:
            engine = create_engine(url, connect_args={"connect_timeout": 3})
            with engine.connect() as conn:
                conn.execute(text("SELECT 1"))
            engine.dispose()
            return url, ""
        except Exception as exc:  # any driver/auth/network failure means "not usable"
            errors.append(f"{url}: {type(exc).__name__}: {str(exc).splitlines()[0]}")
    return None, "; ".join(errors)


@pytest.fixture
def postgres_schema_url() -> Iterator[str]:
    """A SQLAlchemy URL whose search path is a fresh schema, dropped afterwards."""
    from greenscore.store import engine_for

    base, why = _reachable_postgres()
    if base is None:
        service_missing(f"PostgreSQL not reachable ({why})")
    schema = f"gs_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(base)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    url = f"{base}?options=-csearch_path%3D{schema}"
    try:
        yield url
    finally:
        engine_for(url).dispose()
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture
def greenscore_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Settings whose home is ``tmp_path / "home"`` (GREENSCORE_HOME unset) for the test;
    yields ``tmp_path``. (The greenscore imports are here, not at the top, so collecting a
    test that does not use it loads nothing.)"""
    from greenscore.config import Settings, use_settings

    monkeypatch.delenv("GREENSCORE_HOME", raising=False)
    use_settings(Settings(home=tmp_path / "home"))
    yield tmp_path
    use_settings(None)


@pytest.fixture
def run_cli(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> Callable[..., tuple[int, str, str]]:
    """``run_cli(*args)`` runs ``greenscore *args`` in this process, as the console script
    does (``cli.main``, its error policy included); returns (exit code, stdout, stderr)."""
    from greenscore import cli

    def run(*args: object) -> tuple[int, str, str]:
        monkeypatch.setattr(sys, "argv", ["greenscore", *map(str, args)])
        try:
            cli.main()
            code = 0
        except SystemExit as exc:
            code = exc.code or 0
        out = capsys.readouterr()
        return code, out.out, out.err

    return run
