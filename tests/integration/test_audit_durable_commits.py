"""``security.audit_durable_commits``: an append waits for the disk only when asked, and
whatever happens to it, the pooled connection goes back with the store's setting.

SQLite reports a connection's setting (``PRAGMA synchronous``: 1 NORMAL, 2 FULL); the
``also`` writer runs inside the append's transaction, so it sees the setting that commit
is made under.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from greenscore.config import Settings
from greenscore.security.audit import AuditEvent, record_events, verify_chain

NORMAL, FULL = 1, 2


def _settings(home: Path, durable: bool) -> Settings:
    settings = Settings(home=home, environment="test")
    settings.security.audit_durable_commits = durable
    return settings


def _append(settings: Settings, *, fail: bool = False) -> int:
    seen: list[int] = []

    def also(conn) -> None:  # noqa: ANN001 - a SQLAlchemy Connection
        seen.append(conn.exec_driver_sql("PRAGMA synchronous").scalar_one())
        if fail:
            raise RuntimeError("the decisions' insert failed")

    record_events(
        [AuditEvent("decision", actor="k1", details={"n": 1})], also=also, settings=settings
    )
    return seen[0]


def test_durable_appends_commit_under_full_and_the_others_under_normal(tmp_path: Path) -> None:
    assert _append(_settings(tmp_path, durable=False)) == NORMAL
    assert _append(_settings(tmp_path, durable=True)) == FULL
    # The durable append handed its connection back at NORMAL: the next one is not FULL.
    assert _append(_settings(tmp_path, durable=False)) == NORMAL
    assert verify_chain(settings=_settings(tmp_path, durable=False)).ok


def test_a_failed_durable_append_hands_its_connection_back_at_normal(tmp_path: Path) -> None:
    durable, plain = _settings(tmp_path, durable=True), _settings(tmp_path, durable=False)
    _append(plain)  # the chain's head exists
    with pytest.raises(RuntimeError, match="insert failed"):
        _append(durable, fail=True)
    # The pool holds one connection here; it was reset although the append rolled back.
    assert _append(plain) == NORMAL
    result = verify_chain(settings=plain)
    assert result.ok and result.checked == 2  # the failed append left nothing
