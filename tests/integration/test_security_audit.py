"""Hash-chained audit log on SQLite: verification, tampering, deletion, forgery, concurrency."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from sqlalchemy import text

from greenscore.config import Settings, use_settings
from greenscore.errors import DataError, PrivacyError
from greenscore.security import (
    chain_head,
    find_events,
    hash_subject,
    record_event,
    verify_chain,
)
from greenscore.security.audit import entry_hash
from greenscore.store import init_db


@pytest.fixture(autouse=True)
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv("GREENSCORE_HOME", raising=False)
    monkeypatch.delenv("GREENSCORE_DATABASE_URL", raising=False)
    use_settings(Settings(home=tmp_path))
    yield tmp_path
    use_settings(None)


def sql(statement: str, **params: object) -> None:
    with init_db().begin() as conn:
        conn.execute(text(statement), params)


def five() -> list[int]:
    return [
        record_event("score", actor="k1", subject=f"APP-{i:05d}", details={"pd": i / 10})
        for i in range(1, 6)
    ]


def test_ids_and_verification() -> None:
    assert verify_chain().ok and verify_chain().checked == 0
    assert five() == [1, 2, 3, 4, 5]
    result = verify_chain()
    assert (result.ok, result.checked, result.first_bad_id) == (True, 5, None)
    assert chain_head()[0] == 5


def test_subject_stored_only_as_hmac(home: Path) -> None:
    record_event("score", actor="k1", subject="APP-777777", details={"decision": "approve"})
    with init_db().connect() as conn:
        row = conn.execute(text("SELECT * FROM security_audit_log")).mappings().one()
    assert "APP-777777" not in json.dumps(dict(row))
    assert row["subject_hash"] == hash_subject("APP-777777") != hash_subject("APP-777778")
    assert len(row["subject_hash"]) == 64
    assert [e["id"] for e in find_events(subject="APP-777777")] == [1]
    with pytest.raises(PrivacyError, match="field 'note'"):
        record_event("score", actor="k1", subject="APP-777777", details={"note": "APP-777777"})
    assert chain_head()[0] == 1  # the refused event was not written


def test_pepper_from_settings_changes_hashes(home: Path) -> None:
    generated = hash_subject("APP-1")
    use_settings(Settings(home=home, security={"audit_pepper": "p" * 32}))
    assert hash_subject("APP-1") != generated
    use_settings(Settings(home=home / "prod", environment="production"))
    with pytest.raises(Exception, match="security.audit_pepper"):
        hash_subject("APP-1")


def test_edited_details_are_detected() -> None:
    five()
    sql("UPDATE security_audit_log SET details = :d WHERE id = 3", d='{"pd":0.0}')
    result = verify_chain()
    assert (result.ok, result.first_bad_id, result.checked) == (False, 3, 2)
    assert "entry 3" in result.reason and "altered" in result.reason


def test_deleted_middle_entry_is_detected() -> None:
    five()
    sql("DELETE FROM security_audit_log WHERE id = 3")
    result = verify_chain()
    assert (result.ok, result.first_bad_id) == (False, 3)
    assert "missing" in result.reason


def test_deleted_last_entry_is_detected() -> None:
    five()
    sql("DELETE FROM security_audit_log WHERE id = 5")
    result = verify_chain()
    assert (result.ok, result.first_bad_id) == (False, 5)
    assert "missing" in result.reason and "head records 5" in result.reason


def test_forged_appended_entry_is_detected() -> None:
    five()
    with init_db().connect() as conn:
        prev = conn.execute(text("SELECT hash FROM security_audit_log WHERE id = 5")).scalar_one()
    fields = dict(
        id=6,
        ts="2026-01-01T00:00:00.000000+00:00",
        action="keys.create",
        actor="mallory",
        subject_hash=None,
        details="{}",
        prev_hash=prev,
    )
    # A well-formed forgery: correct link and hash, but the head was not updated.
    sql(
        "INSERT INTO security_audit_log (id, ts, action, actor, subject_hash, details, "
        "prev_hash, hash) VALUES (:id, :ts, :action, :actor, :subject_hash, :details, "
        ":prev_hash, :hash)",
        **fields,
        hash=entry_hash(**fields),
    )
    result = verify_chain()
    assert (result.ok, result.first_bad_id) == (False, 6)
    assert "not in the chain head" in result.reason


def test_forged_replacement_in_the_middle_is_detected() -> None:
    five()
    with init_db().connect() as conn:
        prev = conn.execute(text("SELECT hash FROM security_audit_log WHERE id = 2")).scalar_one()
    fields = dict(
        id=3,
        ts="2026-01-01T00:00:00.000000+00:00",
        action="score",
        actor="k1",
        subject_hash=None,
        details='{"pd":0.0}',
        prev_hash=prev,
    )
    sql(
        "UPDATE security_audit_log SET ts = :ts, details = :details, subject_hash = NULL, "
        "hash = :h WHERE id = 3",
        ts=fields["ts"],
        details=fields["details"],
        h=entry_hash(**fields),
    )
    result = verify_chain()
    # Entry 3 is self-consistent, so the break shows where entry 4 no longer links to it.
    assert (result.ok, result.first_bad_id) == (False, 4)
    assert "does not link" in result.reason


def test_missing_head_refuses_to_append() -> None:
    five()
    sql("DELETE FROM security_audit_head")
    assert verify_chain().reason == "entry 1: chain head is missing"
    with pytest.raises(DataError, match="head is missing while the log holds 5 entries"):
        record_event("score", actor="k1")


def test_threads_append_without_gaps() -> None:
    def work(n: int) -> None:
        for i in range(25):
            record_event("score", actor=f"t{n}", details={"i": i})

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    result = verify_chain()
    assert (result.ok, result.checked) == (True, 100)


CHILD = """
import sys
from pathlib import Path
from greenscore.config import Settings, use_settings
from greenscore.security import record_event
use_settings(Settings(home=Path(sys.argv[1])))
for i in range(30):
    record_event("score", actor=sys.argv[2], details={"i": i})
"""


def test_processes_append_without_gaps(home: Path) -> None:
    record_event("start", actor="parent")  # create the head before the race
    env = {k: v for k, v in os.environ.items() if not k.startswith("GREENSCORE_")}
    procs = [
        subprocess.Popen([sys.executable, "-c", CHILD, str(home), f"p{n}"], env=env)
        for n in range(2)
    ]
    assert [p.wait(timeout=60) for p in procs] == [0, 0]
    result = verify_chain()
    assert (result.ok, result.checked) == (True, 61)
