"""The scoring service's WAL checkpoints run on a thread, not inside a decision's commit.

Without the checkpointer, the commit that takes SQLite's log past 1,000 pages copies it
back before returning; with it, this process's commits only append, a thread copies the
log back, and stopping it gives later connections SQLite's default again.
"""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

from sqlalchemy import text

from greenscore.store import open_database
from greenscore.store.checkpoint import WalCheckpointer

COMMITS = 1_500  # each a page or more of log: past the 1,000-page auto-checkpoint


def _frames_in_log(path: Path) -> int:
    """Frames the log holds now: what a PASSIVE checkpoint from an outside connection
    reports (it copies them back too, which the tests here do not mind)."""
    with sqlite3.connect(path) as outside:
        outside.execute("PRAGMA wal_autocheckpoint=0")
        return int(outside.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()[1])


def _commit_rows(db, n: int) -> None:
    for i in range(n):
        with db.begin() as conn:
            conn.execute(text("INSERT INTO filler (x) VALUES (:x)"), {"x": "x" * 200 + str(i)})


def _autocheckpoint(db) -> int:
    with db.connect() as conn:
        return int(conn.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar_one())


def test_commits_leave_the_log_to_the_thread_and_stopping_restores_the_default(
    tmp_path: Path,
) -> None:
    path = tmp_path / "greenscore.db"
    db = open_database(f"sqlite:///{path}")
    with db.begin() as conn:
        conn.execute(text("CREATE TABLE filler (x TEXT)"))
    assert _autocheckpoint(db) == 1000
    checkpointer = WalCheckpointer(db, interval=3600)  # only its last checkpoint, at stop
    checkpointer.start()
    try:
        assert _autocheckpoint(db) == 0
        _commit_rows(db, COMMITS)
        # No commit copied the log back: it holds every commit's pages.
        assert _frames_in_log(path) >= COMMITS
    finally:
        checkpointer.stop()
    assert checkpointer.checkpoints == 1 and checkpointer.frames >= COMMITS
    assert _autocheckpoint(db) == 1000
    # With the default back, commits checkpoint as before: the log restarts from its start.
    _commit_rows(db, COMMITS)
    assert _frames_in_log(path) < COMMITS


def test_the_thread_checkpoints_while_commits_go_on(tmp_path: Path) -> None:
    path = tmp_path / "greenscore.db"
    db = open_database(f"sqlite:///{path}")
    with db.begin() as conn:
        conn.execute(text("CREATE TABLE filler (x TEXT)"))
    checkpointer = WalCheckpointer(db, interval=0.01)
    checkpointer.start()
    try:
        deadline = time.monotonic() + 60
        while checkpointer.frames == 0:
            assert time.monotonic() < deadline, "no checkpoint in a minute"
            _commit_rows(db, 20)
    finally:
        checkpointer.stop()
    assert checkpointer.checkpoints >= 1


def test_nothing_to_do_for_postgresql(postgres_schema_url: str) -> None:
    checkpointer = WalCheckpointer(open_database(postgres_schema_url))
    checkpointer.start()
    assert not checkpointer.running
    checkpointer.stop()
