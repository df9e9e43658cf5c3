"""What the chaos tests (tests/e2e/chaos/) share: a TCP proxy to cut, the ledger, the server.

Not a test module.

``TcpProxy`` stands between the service and a real server (PostgreSQL, Redis) on a
loopback port of its own: ``cut()`` closes every connection through it and refuses new
ones (the server is down, as far as the service can tell), ``restore()`` accepts again.
The shared servers themselves are never stopped.

``ledger()`` is what "nothing lost" is checked against after each fault: ``greenscore
audit verify`` run as a separate process on the service's home and database, and the
counts of ``decision`` audit events, stored predictions and dead letters.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, text

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE.parents[1] / "unit"))
from service_server import Server, free_port  # noqa: E402

#: Seconds a server may take to start: on the shared 2-core machine under load, minutes.
START_TIMEOUT = 420.0


class TcpProxy:
    """A loopback TCP relay to ``upstream`` that can be cut and restored."""

    def __init__(self, upstream: tuple[str, int]) -> None:
        self.upstream = upstream
        self.port = free_port()
        self._lock = threading.Lock()
        self._sockets: set[socket.socket] = set()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.connections = 0

    def start(self) -> TcpProxy:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        listener.settimeout(0.1)
        self._stop.clear()
        self._thread = threading.Thread(target=self._accept, args=(listener,), daemon=True)
        self._thread.start()
        return self

    def _accept(self, listener: socket.socket) -> None:
        with listener:
            while not self._stop.is_set():
                try:
                    client, _ = listener.accept()
                except TimeoutError:
                    continue
                except OSError:
                    return
                try:
                    server = socket.create_connection(self.upstream, timeout=5)
                except OSError:
                    client.close()
                    continue
                server.settimeout(None)
                client.settimeout(None)
                with self._lock:
                    self._sockets |= {client, server}
                    self.connections += 1
                for a, b in ((client, server), (server, client)):
                    threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def cut(self) -> None:
        """Refuse new connections and reset the open ones (the server is down)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)
        with self._lock:
            sockets, self._sockets = self._sockets, set()
        for s in sockets:
            try:
                s.setsockopt(
                    socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00"
                )
                s.close()  # linger 0: a reset, as a crashed server gives
            except OSError:
                pass

    def restore(self) -> None:
        """Accept connections again (the server is back)."""
        self.start()


@dataclass
class Ledger:
    """Audit chain check and counts after a fault."""

    verify_ok: bool
    verify_output: str
    decision_events: int
    predictions: int
    dead_letters: int


def cli_env(home: Path, db_url: str | None = None) -> dict[str, str]:
    extra = {"GREENSCORE_DATABASE_URL": db_url} if db_url else {}
    return Server(home, [], env=extra).environment()


def ledger(home: Path, db_url: str | None = None) -> Ledger:
    """``greenscore audit verify`` (its own process) and the counts, on the service's store."""
    run = subprocess.run(
        [sys.executable, "-m", "greenscore.cli", "audit", "verify"],
        env=cli_env(home, db_url),
        capture_output=True,
        text=True,
        cwd=str(home),
        timeout=300,
    )
    engine = create_engine(db_url or f"sqlite:///{home / 'greenscore.db'}")
    try:
        with engine.connect() as conn:
            counts: dict[str, Any] = {
                name: conn.execute(text(sql)).scalar_one()
                for name, sql in (
                    (
                        "decision_events",
                        "SELECT COUNT(*) FROM security_audit_log WHERE action = 'decision'",
                    ),
                    ("predictions", "SELECT COUNT(*) FROM predictions"),
                    ("dead_letters", "SELECT COUNT(*) FROM serving_dead_letters"),
                )
            }
    finally:
        engine.dispose()
    return Ledger(
        verify_ok=run.returncode == 0,
        verify_output=(run.stdout + run.stderr)[-1000:],
        **{k: int(v) for k, v in counts.items()},
    )
