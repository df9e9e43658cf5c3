"""Keyed audit chain on SQLite: verification, tampering, deletion, forgery, rewrites without
the key, anchors, the switch-over from release 0.1.0's unkeyed chain, concurrency."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest
from sqlalchemy import text

from greenscore.config import Settings, get_settings, use_settings
from greenscore.errors import ConfigError, DataError, PrivacyError
from greenscore.security import (
    chain_head,
    find_events,
    record_event,
    subject_hash,
    verify_chain,
)
from greenscore.security.anchor import (
    current_anchor,
    post_anchor,
    read_anchor,
    verify_against,
    write_anchor,
)
from greenscore.security.audit import GENESIS, chain_key, entry_hash, entry_mac
from greenscore.store import database


@pytest.fixture(autouse=True)
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv("GREENSCORE_HOME", raising=False)
    monkeypatch.delenv("GREENSCORE_DATABASE_URL", raising=False)
    use_settings(Settings(home=tmp_path))
    yield tmp_path
    use_settings(None)


def sql(statement: str, **params: object) -> None:
    with database(get_settings()).begin() as conn:
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
    assert chain_head(settings=get_settings())[0] == 5


def test_subject_stored_only_as_hmac(home: Path) -> None:
    record_event("score", actor="k1", subject="APP-777777", details={"decision": "approve"})
    with database(get_settings()).connect() as conn:
        row = conn.execute(text("SELECT * FROM security_audit_log")).mappings().one()
    assert "APP-777777" not in json.dumps(dict(row))
    assert (
        row["subject_hash"]
        == subject_hash("APP-777777", settings=get_settings())
        != subject_hash("APP-777778", settings=get_settings())
    )
    assert len(row["subject_hash"]) == 64
    assert [e["id"] for e in find_events(subject="APP-777777", settings=get_settings())] == [1]
    with pytest.raises(PrivacyError, match="field 'note'"):
        record_event("score", actor="k1", subject="APP-777777", details={"note": "APP-777777"})
    assert chain_head(settings=get_settings())[0] == 1  # the refused event was not written


def test_pepper_from_settings_changes_hashes(home: Path) -> None:
    generated = subject_hash("APP-1", settings=get_settings())
    use_settings(Settings(home=home, security={"audit_pepper": "p" * 32}))
    assert subject_hash("APP-1", settings=get_settings()) != generated
    use_settings(Settings(home=home / "prod", environment="production"))
    with pytest.raises(Exception, match="security.audit_pepper"):
        subject_hash("APP-1", settings=get_settings())


@pytest.mark.tampers_audit
def test_edited_details_are_detected() -> None:
    five()
    sql("UPDATE security_audit_log SET details = :d WHERE id = 3", d='{"pd":0.0}')
    result = verify_chain()
    assert (result.ok, result.first_bad_id, result.checked) == (False, 3, 2)
    assert "entry 3" in result.reason and "altered" in result.reason


@pytest.mark.tampers_audit
def test_deleted_middle_entry_is_detected() -> None:
    five()
    sql("DELETE FROM security_audit_log WHERE id = 3")
    result = verify_chain()
    assert (result.ok, result.first_bad_id) == (False, 3)
    assert "missing" in result.reason


@pytest.mark.tampers_audit
def test_deleted_last_entry_is_detected() -> None:
    five()
    sql("DELETE FROM security_audit_log WHERE id = 5")
    result = verify_chain()
    assert (result.ok, result.first_bad_id) == (False, 5)
    assert "missing" in result.reason and "head records 5" in result.reason


@pytest.mark.tampers_audit
def test_forged_appended_entry_is_detected() -> None:
    five()
    with database(get_settings()).connect() as conn:
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
    # A well-formed forgery as someone without the chain key makes it: correct link, a
    # plain SHA-256 for the hash, and the head moved on to it.
    sql(
        "INSERT INTO security_audit_log (id, ts, action, actor, subject_hash, details, "
        "prev_hash, hash) VALUES (:id, :ts, :action, :actor, :subject_hash, :details, "
        ":prev_hash, :hash)",
        **fields,
        hash=entry_hash(**fields),
    )
    sql(
        "UPDATE security_audit_head SET count = 6, last_id = 6, head_hash = :h",
        h=entry_hash(**fields),
    )
    result = verify_chain()
    assert (result.ok, result.first_bad_id) == (False, 6)
    assert "altered" in result.reason


@pytest.mark.tampers_audit
def test_entry_appended_outside_record_event_is_detected() -> None:
    five()
    key = chain_key()
    with database(get_settings()).connect() as conn:
        prev = conn.execute(text("SELECT hash FROM security_audit_log WHERE id = 5")).scalar_one()
    fields = dict(
        id=6,
        ts="2026-01-01T00:00:00.000000+00:00",
        action="keys.create",
        actor="ops",
        subject_hash=None,
        details="{}",
        prev_hash=prev,
    )
    # Even with the key (a buggy writer, not an attacker), the head must move with it.
    sql(
        "INSERT INTO security_audit_log (id, ts, action, actor, subject_hash, details, "
        "prev_hash, hash) VALUES (:id, :ts, :action, :actor, :subject_hash, :details, "
        ":prev_hash, :hash)",
        **fields,
        hash=entry_mac(key, **fields),
    )
    result = verify_chain()
    assert (result.ok, result.first_bad_id) == (False, 6)
    assert "not in the chain head" in result.reason


@pytest.mark.tampers_audit
def test_forged_replacement_in_the_middle_is_detected() -> None:
    five()
    with database(get_settings()).connect() as conn:
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
    # Without the key the replacement cannot carry a valid MAC.
    assert (result.ok, result.first_bad_id) == (False, 3)
    assert "altered" in result.reason


@pytest.mark.tampers_audit
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


# ------------------------------------------------------------------ keyed chain and anchors
def _rows() -> list[dict]:
    with database(get_settings()).connect() as conn:
        return [
            dict(r)
            for r in conn.execute(text("SELECT * FROM security_audit_log ORDER BY id")).mappings()
        ]


def _rewrite_plain(rows: list[dict]) -> None:
    """Rewrite every entry and the head as an attacker without the key can: plain SHA-256."""
    prev = GENESIS
    for row in rows:
        fields = {k: row[k] for k in ("id", "ts", "action", "actor", "subject_hash", "details")}
        digest = entry_hash(**fields, prev_hash=prev)
        sql(
            "UPDATE security_audit_log SET details = :d, prev_hash = :p, hash = :h WHERE id = :i",
            d=row["details"],
            p=prev,
            h=digest,
            i=row["id"],
        )
        prev = digest
    sql(
        "UPDATE security_audit_head SET count = :n, last_id = :n, head_hash = :h",
        n=len(rows),
        h=prev,
    )


@pytest.mark.tampers_audit
def test_consistent_rewrite_without_the_key_fails() -> None:
    five()
    rows = _rows()
    rows[2]["details"] = '{"pd":0.0}'  # a decline turned into an approval
    _rewrite_plain(rows)
    result = verify_chain()
    assert (result.ok, result.first_bad_id) == (False, 1)
    assert "altered" in result.reason
    # Removing the switch-over record to pass the rewrite off as an old unkeyed chain fails too.
    sql("DELETE FROM security_audit_keying")
    result = verify_chain()
    assert (result.ok, result.first_bad_id) == (False, 1)
    assert result.reason.startswith("entry 1: not keyed")


@pytest.mark.tampers_audit
def test_switch_over_record_is_macd() -> None:
    five()
    sql("UPDATE security_audit_keying SET keyed_from = 4")
    result = verify_chain()
    assert not result.ok and "switch-over record is altered" in result.reason


@pytest.mark.tampers_audit
def test_truncation_with_head_update_fails_against_the_anchor(tmp_path: Path) -> None:
    five()
    document = current_anchor(settings=get_settings()).signed(settings=get_settings())
    write_anchor(document, tmp_path / "anchor.json")
    anchor = read_anchor(tmp_path / "anchor.json", settings=get_settings())
    assert (anchor.count, anchor.last_id, anchor.keyed_from) == (5, 5, 1)
    assert verify_against(anchor, settings=get_settings()).ok
    record_event("score", actor="k1")  # later entries are fine
    assert verify_against(anchor, settings=get_settings()).ok
    # Drop the last two entries and set the head back: consistent on its own...
    with database(get_settings()).connect() as conn:
        mac4 = conn.execute(text("SELECT hash FROM security_audit_log WHERE id = 4")).scalar_one()
    sql("DELETE FROM security_audit_log WHERE id >= 5")
    sql("UPDATE security_audit_head SET count = 4, last_id = 4, head_hash = :h", h=mac4)
    assert verify_chain().ok
    # ...but not against the anchor.
    result = verify_against(anchor, settings=get_settings())
    assert (result.ok, result.first_bad_id) == (False, 5)
    assert "anchored entry 5 is missing" in result.reason


def test_anchor_signature_is_checked(tmp_path: Path) -> None:
    five()
    path = write_anchor(
        current_anchor(settings=get_settings()).signed(settings=get_settings()),
        tmp_path / "anchor.json",
    )
    doc = json.loads(path.read_text())
    doc["count"] = 2  # made to match a truncated log
    path.write_text(json.dumps(doc))
    with pytest.raises(DataError, match="not signed by this keyring"):
        read_anchor(path, settings=get_settings())
    path.write_text("{}")
    with pytest.raises(DataError, match="cannot be read"):
        read_anchor(path, settings=get_settings())


FIXTURE_DB = Path(__file__).parents[1] / "fixtures" / "home-0.1.0" / "greenscore.db"


@pytest.mark.tampers_audit
def test_unkeyed_chain_of_release_0_1_0_switches_over(home: Path) -> None:
    shutil.copy(FIXTURE_DB, home / "greenscore.db")
    legacy = _rows()
    n = len(legacy)
    assert n >= 2 and all(
        r["hash"] == entry_hash(**{k: r[k] for k in r if k != "hash"}) for r in legacy
    )
    result = verify_chain()  # nothing audited since the upgrade: no switch-over yet
    assert not result.ok and "release 0.1.0" in result.reason
    assert record_event("audit.anchor", actor="ops") == n + 1
    result = verify_chain()
    assert (result.ok, result.checked) == (True, n + 1)
    with database(get_settings()).connect() as conn:
        keying = conn.execute(text("SELECT * FROM security_audit_keying")).mappings().one()
    assert (keying["keyed_from"], keying["legacy_head"]) == (n + 1, legacy[-1]["hash"])
    # The unkeyed part is still checked: a consistent plain rewrite of it is caught.
    rows = _rows()[:n]
    rows[0]["details"] = '{"decision":"approve","request_id":"r1"}'
    prev = GENESIS
    for row in rows:
        fields = {k: row[k] for k in ("id", "ts", "action", "actor", "subject_hash", "details")}
        digest = entry_hash(**fields, prev_hash=prev)
        sql(
            "UPDATE security_audit_log SET details = :d, prev_hash = :p, hash = :h WHERE id = :i",
            d=row["details"],
            p=prev,
            h=digest,
            i=row["id"],
        )
        prev = digest
    result = verify_chain()
    assert (result.ok, result.first_bad_id) == (False, n + 1)
    assert "unkeyed entries before the switch-over were rewritten" in result.reason


def test_anchor_can_be_posted_to_a_url(tmp_path: Path) -> None:
    received: list[bytes] = []

    class Sink(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - the http.server hook's name
            received.append(self.rfile.read(int(self.headers["Content-Length"])))
            self.send_response(201)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Sink)
    thread = threading.Thread(target=server.handle_request, daemon=True)
    thread.start()
    five()
    post_anchor(
        current_anchor(settings=get_settings()).signed(settings=get_settings()),
        f"http://127.0.0.1:{server.server_port}/anchors",
    )
    thread.join(timeout=10)
    server.server_close()
    path = tmp_path / "from-the-sink.json"
    path.write_bytes(received[0])
    assert (
        read_anchor(path, settings=get_settings()).count == 5
    )  # what the endpoint keeps is a valid, signed anchor
    with pytest.raises(ConfigError, match="must start with http"):
        post_anchor({}, "file:///etc/passwd")
