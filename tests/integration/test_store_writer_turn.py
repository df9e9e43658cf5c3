"""Writers of one SQLite file take turns on a file lock (store/writer_turn.py).

Each test lets one writer hold the turn, sleep, then leave a marker just before letting
go; the other writer, started meanwhile, must find the marker as soon as it has the
turn. Without mutual exclusion it would get the turn at once, before the marker exists.
"""

from __future__ import annotations

import multiprocessing
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import create_engine

from greenscore.store.engine import engine_for
from greenscore.store.writer_turn import writer_turn

HOLD_SECONDS = 0.5


def _hold(url: str, started: Path, marker: Path) -> None:
    """Take the turn, say so, hold it a while, and leave the marker before letting go."""
    with writer_turn(engine_for(url)):
        started.touch()
        time.sleep(HOLD_SECONDS)
        marker.touch()


def _wait_for(path: Path) -> None:
    deadline = time.monotonic() + 30
    while not path.exists():
        assert time.monotonic() < deadline, f"{path.name} never appeared"
        time.sleep(0.01)


def _check_excluded(tmp_path: Path, start_other) -> None:  # noqa: ANN001
    url = f"sqlite:///{tmp_path / 'gs.db'}"
    started, marker = tmp_path / "started", tmp_path / "released"
    other = start_other(url, started, marker)
    _wait_for(started)
    with writer_turn(engine_for(url)):
        assert marker.exists(), "had the turn while another writer held it"
    other.join(30)


def test_a_thread_waits_for_another_threads_turn(tmp_path: Path) -> None:
    def start(url: str, started: Path, marker: Path) -> threading.Thread:
        thread = threading.Thread(target=_hold, args=(url, started, marker))
        thread.start()
        return thread

    _check_excluded(tmp_path, start)


@pytest.mark.parametrize("method", ["spawn", "fork"])
def test_a_process_waits_for_another_processs_turn(tmp_path: Path, method: str) -> None:
    url = f"sqlite:///{tmp_path / 'gs.db'}"
    # The lock file is opened in this process first: a forked child inherits that
    # descriptor, and would share the lock instead of contending for it unless it
    # opens its own.
    with writer_turn(engine_for(url)):
        pass

    def start(url: str, started: Path, marker: Path) -> multiprocessing.process.BaseProcess:
        process = multiprocessing.get_context(method).Process(
            target=_hold, args=(url, started, marker)
        )
        process.start()
        return process

    _check_excluded(tmp_path, start)


def test_the_lock_file_is_owner_only_and_postgres_needs_none(tmp_path: Path) -> None:
    db = tmp_path / "gs.db"
    with writer_turn(engine_for(f"sqlite:///{db}")):
        pass
    assert (tmp_path / "gs.db-writer").stat().st_mode & 0o077 == 0
    engine = create_engine("postgresql+psycopg://nobody@127.0.0.1:1/none")
    with writer_turn(engine):  # no connection is made, nothing is written
        pass
    assert sorted(p.name for p in tmp_path.iterdir()) == ["gs.db", "gs.db-writer"]
