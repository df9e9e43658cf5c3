"""Chaos: PostgreSQL and Redis go down under a running service, then come back.

A TCP proxy (a thread of the test, ``chaos_env.TcpProxy``) stands between the real
``greenscore serve`` and the real shared server; the test cuts it (open connections reset,
new ones refused) and restores it — the shared servers are never stopped.

Expected behaviour:

- **PostgreSQL down** (the store of decisions, audit log, keys, jobs): the service is not
  ready (``/health/ready`` 503, ``database: false``) and refuses to decide (503): no
  decision is answered that was not audited and stored. When the database is back, the
  pool reconnects and the service answers again with no restart; the job worker, which
  kept polling through the outage, runs a new job to its end.
- **Redis down** (the shared rate limiter): every call that needs a rate token is refused
  with 503 naming the limiter, and kept as a dead letter for replay; nothing is decided.
  When Redis is back, the service answers again with no restart.

After each: ``greenscore audit verify`` passes, and the decisions answered 200 equal the
``decision`` audit events and the stored predictions (and, for Redis, the refused
requests equal the dead letters).
"""

from __future__ import annotations

import socket
import time
import uuid

import httpx
import pytest
from chaos_env import START_TIMEOUT, Server, TcpProxy, ledger
from serving_bundle import applicant, shared

from conftest import service_missing
from greenscore.config import Settings, use_settings
from greenscore.security import create_key


def _wait(predicate, seconds: float = 60.0, what: str = "") -> None:
    deadline = time.monotonic() + seconds
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


def _ready(server: Server) -> int:
    try:
        return httpx.get(f"{server.url}/health/ready", timeout=10).status_code
    except httpx.HTTPError:
        return 0


def test_postgres_down_and_back(postgres_schema_url: str, tmp_path) -> None:
    home = tmp_path / "home"
    settings = Settings(home=home, environment="test", database_url=postgres_schema_url)
    use_settings(settings)
    proxy = TcpProxy(("127.0.0.1", 5432)).start()
    try:
        ds, bundle = shared()
        bundle.save(home / "model")
        key = create_key(name="chaos-pg", role="scorer", settings=settings)[1]
        proxied = postgres_schema_url.replace(":5432/", f":{proxy.port}/")
        assert proxied != postgres_schema_url
        server = Server(
            home,
            ["--model", str(home / "model")],
            env={
                "GREENSCORE_DATABASE_URL": proxied,
                "GREENSCORE_SERVING__JOB_POLL_SECONDS": "0.2",
            },
        )
        server.start(timeout=START_TIMEOUT)
        accepted = 0
        try:
            # A connection per request: an idle kept-alive connection closed by the server
            # just as the client reuses it (a race on a loaded machine) is not the fault.
            with server.client(**{"X-API-Key": key, "Connection": "close"}) as c:
                for i in range(5):
                    assert c.post("/v1/score", json=applicant(ds, i)).status_code == 200
                    accepted += 1
                assert proxy.connections >= 1  # the service really goes through the proxy

                proxy.cut()
                ready = httpx.get(f"{server.url}/health/ready", timeout=30)
                assert ready.status_code == 503 and ready.json()["checks"]["database"] is False
                for i in range(5, 10):
                    r = c.post("/v1/score", json=applicant(ds, i))
                    assert r.status_code == 503, r.text[:300]
                    assert r.json()["error"] == "ServiceUnavailableError"
                    assert "Traceback" not in r.text

                proxy.restore()
                _wait(lambda: _ready(server) == 200, what="readiness after PostgreSQL is back")
                for i in range(10, 15):
                    r = c.post("/v1/score", json=applicant(ds, i))
                    assert r.status_code == 200, r.text[:300]
                    accepted += 1
                job = c.post("/v1/jobs", json={"records": [applicant(ds, 20), applicant(ds, 21)]})
                assert job.status_code == 202, job.text[:300]
                _wait(
                    lambda: c.get(f"/v1/jobs/{job.json()['id']}").json()["status"] == "done",
                    what="the job after the outage",
                )
                accepted += 2
        finally:
            server.stop()
    finally:
        proxy.cut()
        use_settings(None)
    book = ledger(home, postgres_schema_url)
    assert book.verify_ok, book.verify_output
    assert book.decision_events == book.predictions == accepted, book


def _redis_reachable() -> None:
    try:
        with socket.create_connection(("127.0.0.1", 6379), timeout=3) as s:
            s.sendall(b"PING\r\n")
            if not s.recv(64).startswith(b"+PONG"):
                raise OSError("no PONG")
    except OSError as exc:
        service_missing(f"Redis not reachable at 127.0.0.1:6379 ({exc})")


def test_redis_down_and_back(tmp_path) -> None:
    _redis_reachable()
    home = tmp_path / "home"
    settings = Settings(home=home, environment="test")
    use_settings(settings)
    proxy = TcpProxy(("127.0.0.1", 6379)).start()
    try:
        ds, bundle = shared()
        bundle.save(home / "model")
        key = create_key(
            name=f"chaos-redis-{uuid.uuid4().hex[:6]}", role="scorer", settings=settings
        )[1]
        server = Server(
            home,
            ["--model", str(home / "model")],
            env={
                "GREENSCORE_SERVING__REDIS_URL": f"redis://127.0.0.1:{proxy.port}/0",
                "GREENSCORE_SERVING__JOB_WORKER": "false",
            },
        )
        server.start(timeout=START_TIMEOUT)
        accepted = refused = 0
        try:
            # A connection per request: an idle kept-alive connection closed by the server
            # just as the client reuses it (a race on a loaded machine) is not the fault.
            with server.client(**{"X-API-Key": key, "Connection": "close"}) as c:
                for i in range(5):
                    assert c.post("/v1/score", json=applicant(ds, i)).status_code == 200
                    accepted += 1
                assert proxy.connections >= 1

                proxy.cut()
                for i in range(5, 10):
                    r = c.post("/v1/score", json=applicant(ds, i))
                    assert r.status_code == 503, r.text[:300]
                    assert r.json()["error"] == "ServiceUnavailableError"
                    refused += 1

                proxy.restore()

                def answers() -> bool:
                    nonlocal accepted, refused
                    r = c.post("/v1/score", json=applicant(ds, 11))
                    if r.status_code == 200:
                        accepted += 1
                        return True
                    assert r.status_code == 503, r.text[:300]
                    refused += 1
                    return False

                _wait(answers, what="scoring after Redis is back")
                for i in range(12, 16):
                    assert c.post("/v1/score", json=applicant(ds, i)).status_code == 200
                    accepted += 1
        finally:
            server.stop()
    finally:
        proxy.cut()
        use_settings(None)
    book = ledger(home)
    assert book.verify_ok, book.verify_output
    assert book.decision_events == book.predictions == accepted, book
    assert book.dead_letters == refused, book  # each refused request is kept for replay


@pytest.fixture(autouse=True)
def _no_leftover_settings():
    yield
    use_settings(None)
