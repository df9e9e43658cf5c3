"""WAL checkpoints of a long-running SQLite writer, moved off its commits onto a thread.

SQLite in WAL mode appends every commit to the ``-wal`` file and, by default, the commit
that takes the file past 1,000 pages also copies them back into the database (an
auto-checkpoint) before it returns. In the scoring service that commit is a decision's
audit write, which its caller waits for: one decision in about seventy paid the copy, and
that was the service's slowest percent (benchmarks/results/serve.md). While a
:class:`WalCheckpointer` runs, this process's connections to the database do not
checkpoint on commit (``wal_autocheckpoint=0``); a thread of its own copies the log back
every :data:`INTERVAL_SECONDS` with a ``PASSIVE`` checkpoint, which neither takes the
write lock nor waits for readers, so commits go on meanwhile.

Other processes on the same file (the CLI, a second server worker) keep SQLite's
default: their own commits checkpoint as before. PostgreSQL needs none of this.
"""

from __future__ import annotations

import sqlite3
import threading
from typing import Any

from sqlalchemy import event

from greenscore.logging import get_logger
from greenscore.store.database import Database
from greenscore.store.engine import sqlite_path

log = get_logger(__name__)

#: Seconds between background checkpoints: short enough that the log stays a few MB at
#: the service's write rate, long enough that the copy is one sequential pass.
INTERVAL_SECONDS = 0.5


def _no_autocheckpoint(dbapi_conn: Any, _record: Any) -> None:
    dbapi_conn.execute("PRAGMA wal_autocheckpoint=0")


# Checkpointers running per engine: apps started one after another in one process (tests)
# share the engine of their URL, and only the last one to stop gives the default back.
_running: dict[int, int] = {}
_running_lock = threading.Lock()


def _engine_taken(engine: Any) -> None:
    with _running_lock:
        _running[id(engine)] = _running.get(id(engine), 0) + 1
        if _running[id(engine)] == 1:
            event.listen(engine, "connect", _no_autocheckpoint)
            # Pooled connections were opened with the default: replace them.
            engine.dispose()


def _engine_released(engine: Any) -> None:
    with _running_lock:
        _running[id(engine)] -= 1
        if _running[id(engine)] == 0:
            del _running[id(engine)]
            event.remove(engine, "connect", _no_autocheckpoint)
            engine.dispose()


class WalCheckpointer:
    """Checkpoints one SQLite database from a thread while this process writes to it.

    Parameters
    ----------
    db : Database
        Any backend; for anything but a SQLite file :meth:`start` does nothing.
    interval : float
        Seconds between checkpoints.

    Attributes
    ----------
    checkpoints : int
        Checkpoints run (each copies what the log holds at that moment).
    frames : int
        The most WAL frames a checkpoint found copied back (SQLite reports the log's
        checkpointed frames, not one call's).
    """

    def __init__(self, db: Database, *, interval: float = INTERVAL_SECONDS) -> None:
        self.db = db
        self.interval = interval
        self.path = sqlite_path(db.url) if db.dialect == "sqlite" else None
        self.checkpoints = 0
        self.frames = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def running(self) -> bool:
        """True between :meth:`start` and :meth:`stop` (for a SQLite file)."""
        return self._thread is not None

    def start(self) -> None:
        """Turn this process's auto-checkpoints off and start the thread (SQLite files only)."""
        if self.path is None or self._thread is not None:
            return
        _engine_taken(self.db.engine)
        self._stop.clear()
        self._thread = threading.Thread(
            target=self._run, daemon=True, name="greenscore-wal-checkpoint"
        )
        self._thread.start()

    def stop(self) -> None:
        """Stop the thread after a last checkpoint and give the connections their default back."""
        if self._thread is None:
            return
        self._stop.set()
        self._thread.join()
        self._thread = None
        _engine_released(self.db.engine)

    def _run(self) -> None:
        # Its own connection, outside the pool: a checkpoint never waits for a pooled one.
        conn = sqlite3.connect(str(self.path), timeout=30, check_same_thread=False)
        try:
            while not self._stop.wait(self.interval):
                self._checkpoint(conn)
            self._checkpoint(conn)
        finally:
            conn.close()

    def _checkpoint(self, conn: sqlite3.Connection) -> None:
        """One ``PASSIVE`` checkpoint: copy what it can of the log without waiting for anyone."""
        try:
            busy, _, copied = conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        except sqlite3.Error as exc:  # the next one may succeed; commits are not affected
            log.warning("WAL checkpoint failed", extra={"error": str(exc)})
            return
        if busy:  # another connection was checkpointing at that moment: next time
            return
        self.checkpoints += 1
        self.frames = max(self.frames, int(copied))
