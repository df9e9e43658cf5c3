"""Writers of one SQLite file take turns on a file lock, so a waiting writer wakes at once.

SQLite has one write lock per database file. A connection that finds it taken calls its
busy handler, which *sleeps and retries*: 1, 2, 5, 10, 15, 20, 25, 25, 25, 50, 50, then
100 ms a try. Two server workers appending decisions to the audit chain collide hundreds
of times a second, and each collision cost the loser at least a millisecond of sleep
after the lock was already free — the service's throughput and its slowest requests
(a 10-connection p99 of 0.4-2.5 s in ``benchmarks/results/serve*.md``) went there.

:func:`writer_turn` queues GreenScore's own hot writers (the audit chain's appends, the
quota-checked inserts of :meth:`~greenscore.store.database.Database.serialised`) on an
``flock`` of a sibling file ``<database>-writer`` first: the kernel wakes the next waiter
the moment the holder lets go, and by then SQLite's lock is free too, so ``BEGIN
IMMEDIATE`` succeeds without a sleep. Writers that do not take a turn (a CLI command,
another tool) are still safe: they meet SQLite's lock and its busy handler as before.
PostgreSQL queues writers itself; there the turn is a no-op, as it is where ``fcntl`` does
not exist (Windows).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Engine

from greenscore.store.engine import sqlite_path

try:  # POSIX only; elsewhere SQLite's busy handler alone serialises writers
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]


class _Turn:
    """The lock file of one database in this process (a thread lock in front of the flock).

    ``flock`` excludes open file descriptions, not threads: two threads of one process on
    one descriptor would both "hold" it, so threads queue on a ``threading.Lock`` first.
    The descriptor is opened again after a fork, whose child would otherwise share the
    parent's lock instead of contending for it.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._threads = threading.Lock()
        self._fd = -1
        self._pid = -1

    def _descriptor(self) -> int:
        if self._pid != os.getpid():
            self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
            self._pid = os.getpid()
        return self._fd

    @contextmanager
    def held(self) -> Iterator[None]:
        with self._threads:
            fd = self._descriptor()
            fcntl.flock(fd, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)


#: By engine URL; a file reached by two URLs (a link, a relative path) has one turn.
_turns: dict[str, _Turn | None] = {}
_by_file: dict[Path, _Turn] = {}
_turns_lock = threading.Lock()


def _turn_for(engine: Engine) -> _Turn | None:
    """The turn of an engine's SQLite file (None: PostgreSQL or in memory), looked up once
    per URL: resolving the path is a system call per directory, too dear per commit."""
    url = str(engine.url)
    with _turns_lock:
        if url in _turns:
            return _turns[url]
        path = sqlite_path(url) if engine.dialect.name == "sqlite" else None
        turn = None
        if path is not None and fcntl is not None:
            path = path.resolve()
            turn = _by_file.get(path)
            if turn is None:
                turn = _by_file[path] = _Turn(path.with_name(path.name + "-writer"))
        _turns[url] = turn
        return turn


@contextmanager
def writer_turn(engine: Engine) -> Iterator[None]:
    """Hold this process's and every other GreenScore process's turn to write ``engine``'s file.

    Take it before the transaction's first write (before ``BEGIN IMMEDIATE``) and keep it
    until the commit; a no-op for PostgreSQL and in-memory SQLite.
    """
    turn = _turn_for(engine)
    if turn is None:
        yield
        return
    with turn.held():
        yield
