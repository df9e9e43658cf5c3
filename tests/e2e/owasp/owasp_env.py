"""What the OWASP API Security Top 10 suite (tests/e2e/owasp/) shares: its server's limits,
the ``Owasp`` handle on the running server and its callers, and a recording receiver.

Not a test module; ``conftest.py`` starts the server. The server:
one ``greenscore serve`` subprocess (uvicorn) per test session (per xdist worker), on a
loopback port, with limits small enough to be reached by a test: 1-second header and body
deadlines, a 60-token burst refilled at 2 per second, batches of 50, jobs of 200 records,
3 active jobs per key, chunks of 20 rows, a metrics token, a 1-second API-key cache (a
revocation made by the test is refused by the server within a second or two), and
callbacks allowed to the host name ``localhost`` only (so a loopback address written any
other way is refused, API7, while the receiver of API10 is reached by name).

``Owasp`` hands out callers: ``owasp.key(name, role)`` makes an API key in the server's
database (each test its own, so one test's rate never limits another's), and
``owasp.token(...)`` signs a bearer token with the server's keyring.
"""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import httpx

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE.parents[1] / "unit"))
from service_server import Server, cli  # noqa: E402
from serving_bundle import applicant  # noqa: E402

from greenscore.config import Settings  # noqa: E402
from greenscore.data.loading import Dataset  # noqa: E402
from greenscore.security import create_key, issue_token  # noqa: E402

TIMEOUT = 1.0  # header and body deadlines of the server, seconds
METRICS_TOKEN = "scrape-token-for-owasp-tests"
BURST = 60
PER_MINUTE = 120
MAX_BATCH = 50
MAX_JOB_RECORDS = 200
MAX_ACTIVE_JOBS = 3
CHUNK_ROWS = 20
MAX_BODY = 200_000
#: Seconds a server may take to start: on the shared 2-core machine under load, minutes.
START_TIMEOUT = 420.0


def effective_routes(app: Any) -> list[tuple[str, set[str], Any]]:
    """(path, methods, route) of every route the app serves, included routers' prefixes
    applied (FastAPI 0.165 keeps an included router as one entry of ``app.routes``)."""
    from fastapi import routing

    contexts = getattr(routing, "iter_route_contexts", None)
    if contexts is None:  # older FastAPI: included routes are copied into app.routes
        return [(r.path, set(getattr(r, "methods", None) or ()), r) for r in app.routes]
    return [(c.path, set(c.methods or ()), c.route) for c in contexts(app.routes)]


class Receiver(BaseHTTPRequestHandler):
    """A loopback HTTP endpoint that records every request reaching it (any method)."""

    hits: list[tuple[str, str]] = []
    bodies: list[bytes] = []
    status = 204
    location: str | None = None

    def _any(self) -> None:
        type(self).bodies.append(self.rfile.read(int(self.headers.get("content-length") or 0)))
        type(self).hits.append((self.command, self.path))
        self.send_response(type(self).status)
        if type(self).location:
            self.send_header("Location", type(self).location)
        self.send_header("Content-Length", "0")
        self.end_headers()

    do_GET = do_POST = do_PUT = do_HEAD = _any  # noqa: N815 (http.server's names)

    def log_message(self, *args: object) -> None:
        pass


@dataclass
class Owasp:
    """The running server, the data its model was fitted on, and ways to call it."""

    server: Server
    ds: Dataset
    home: Path
    settings: Settings
    receiver: HTTPServer
    keys: dict[str, str] = field(default_factory=dict)
    key_ids: dict[str, str] = field(default_factory=dict)

    def key(self, name: str, role: str = "scorer") -> str:
        """An API key (made once per name) of ``role``."""
        if name not in self.keys:
            self.key_ids[name], self.keys[name] = create_key(
                name=name, role=role, settings=self.settings
            )
        return self.keys[name]

    def input_folder(self, name: str) -> Path:
        """The job input folder of key ``name``'s tenant (made, with the key, if need be)."""
        self.key(name)
        folder = self.home / "inputs" / self.key_ids[name]
        folder.mkdir(parents=True, exist_ok=True)
        return folder

    def token(self, subject: str, role: str, *, mfa: bool = False, ttl: int = 3600) -> str:
        return issue_token(
            subject=subject, role=role, mfa=mfa, ttl_seconds=ttl, settings=self.settings
        )

    def client(self, key: str | None = None, token: str | None = None) -> httpx.Client:
        headers = {}
        if key is not None:
            headers["X-API-Key"] = key
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        return self.server.client(**headers)

    def cli(self, *args: str) -> subprocess.CompletedProcess:
        """Run the ``greenscore`` CLI on the server's home."""
        return cli(self.home, *args)

    def applicant(self, i: int) -> dict[str, Any]:
        return applicant(self.ds, i)

    @property
    def receiver_port(self) -> int:
        return self.receiver.server_address[1]
