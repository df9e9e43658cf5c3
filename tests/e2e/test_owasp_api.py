"""End to end against the real server, as an attacker would try it: two tenants' keys and
each other's ids, non-finite numbers, slow and oversized clients on raw sockets, the
security headers and a token-protected /metrics."""

from __future__ import annotations

import json
import socket
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parents[1] / "unit"))
from service_server import Server  # noqa: E402
from serving_bundle import applicant, shared  # noqa: E402

from greenscore.config import Settings, get_settings, use_settings  # noqa: E402
from greenscore.security import create_key  # noqa: E402
from greenscore.serving.dlq import list_dead_letters  # noqa: E402
from greenscore.store import database  # noqa: E402

TIMEOUT = 1.0  # header and body deadlines of the server under test, seconds
TOKEN = "scrape-token-for-tests"


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    home = tmp_path_factory.mktemp("owasp")
    use_settings(Settings(home=home, environment="test"))
    ds, bundle = shared()
    bundle.save(home / "model")
    keys = {
        name: create_key(name=name, role="scorer", settings=get_settings())[1]
        for name in ("lender-a", "lender-b")
    }
    server = Server(
        home,
        ["--model", str(home / "model")],
        env={
            "GREENSCORE_SERVING__JOB_WORKER": "false",
            "GREENSCORE_SERVING__HEADER_TIMEOUT_SECONDS": str(TIMEOUT),
            "GREENSCORE_SERVING__BODY_TIMEOUT_SECONDS": str(TIMEOUT),
            "GREENSCORE_SERVING__METRICS_TOKEN": TOKEN,
        },
    )
    server.start()
    yield server, ds, keys
    server.stop()
    use_settings(None)


def _error(body: dict) -> tuple[str, str]:
    return body["error"], body["detail"]


def test_one_tenant_cannot_touch_anothers_decision_or_job(env) -> None:
    server, ds, keys = env
    a = server.client(**{"X-API-Key": keys["lender-a"]})
    b = server.client(**{"X-API-Key": keys["lender-b"]})
    with a, b:
        r = a.post("/v1/score", json=applicant(ds, 5))
        assert r.status_code == 200
        request_id = r.json()["request_id"]
        unknown = "0" * len(request_id)
        stolen = b.post(f"/v1/decisions/{request_id}/contest", json={"reason": "hijack"})
        missing = b.post(f"/v1/decisions/{unknown}/contest", json={"reason": "hijack"})
        assert stolen.status_code == missing.status_code == 404
        assert _error(stolen.json()) == (
            missing.json()["error"],
            missing.json()["detail"].replace(unknown, request_id),
        )
        mine = a.post(f"/v1/decisions/{request_id}/contest", json={"reason": "income is higher"})
        assert mine.status_code == 202 and mine.json()["comment"] == "income is higher"
        assert (
            b.post(f"/v1/decisions/{request_id}/contest", json={"reason": "x"}).status_code == 404
        )
        again = a.post(f"/v1/decisions/{request_id}/contest", json={"reason": "later"})
        assert again.json()["id"] == mine.json()["id"]
        assert again.json()["comment"] == "income is higher"  # A's reason is kept
        job = a.post("/v1/jobs", json={"records": [applicant(ds, 1)]}).json()["id"]
        assert a.get(f"/v1/jobs/{job}").status_code == 200
        for path in (f"/v1/jobs/{job}", f"/v1/jobs/{job}/results"):
            assert b.get(path).status_code == 404


def test_non_finite_numbers_answer_422_and_keep_nothing(env) -> None:
    server, ds, keys = env
    body = json.dumps(applicant(ds, 0))
    with server.client(**{"X-API-Key": keys["lender-a"]}) as c:
        for literal in ("NaN", "Infinity", "-Infinity", "1e309"):
            raw = body.replace('"income": ', f'"income": {literal}, "was": ', 1)
            r = c.post("/v1/score", content=raw, headers={"content-type": "application/json"})
            assert r.status_code == 422, r.text
            assert r.json()["detail"][0]["loc"] == ["body", "income"]
        r = c.post("/v1/jobs", json={"file": "a\u0000b.csv"})
        assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "file"]
    assert list_dead_letters(status=None, db=database(get_settings())) == []
    assert "Traceback" not in server.tail()


def test_security_headers_on_the_wire(env) -> None:
    server, ds, keys = env
    with server.client(**{"X-API-Key": keys["lender-a"]}) as c:
        for r in (c.post("/v1/score", json=applicant(ds, 0)), c.get("/health/live")):
            assert r.headers["x-content-type-options"] == "nosniff"
            assert r.headers["cache-control"] == "no-store"
            assert r.headers["x-frame-options"] == "DENY"
        docs = c.get("/docs")
        assert "script-src 'self' 'sha256-" in docs.headers["content-security-policy"]


def test_metrics_need_the_token(env) -> None:
    server, _, _ = env
    with server.client() as c:
        assert c.get("/metrics").status_code == 401
        r = c.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
        assert r.status_code == 200 and "greenscore_requests_total" in r.text


def _connect(server: Server) -> socket.socket:
    s = socket.create_connection(("127.0.0.1", server.port), timeout=TIMEOUT * 6)
    return s


def _read_all(s: socket.socket) -> bytes:
    """Everything until the server closes the connection (raises on the socket timeout)."""
    data = b""
    while chunk := s.recv(65536):
        data += chunk
    return data


def _one_response(s: socket.socket) -> bytes:
    """One whole response (headers and a Content-Length body) from a kept-alive socket."""
    data = b""
    while b"\r\n\r\n" not in data:
        data += s.recv(65536)
    head, _, body = data.partition(b"\r\n\r\n")
    length = int(
        next(h for h in head.split(b"\r\n") if h.lower().startswith(b"content-length")).split(b":")[
            1
        ]
    )
    while len(body) < length:
        body += s.recv(65536)
    return head + b"\r\n\r\n" + body


def test_slow_headers_are_cut_off(env) -> None:
    server, _, _ = env
    with _connect(server) as s:
        started = time.monotonic()
        s.sendall(b"GET /health/live HTTP/1.1\r\nHost: x\r\n")
        time.sleep(TIMEOUT / 2)
        s.sendall(b"X-Slow: 1\r\n")  # still trickling
        assert _read_all(s) == b""  # closed, never answered
        assert time.monotonic() - started < TIMEOUT * 4
    with _connect(server) as s:  # an idle connection that never sends a byte
        started = time.monotonic()
        assert _read_all(s) == b""
        assert time.monotonic() - started < TIMEOUT * 4


def test_a_keep_alive_connection_still_serves_requests(env) -> None:
    server, _, _ = env
    with _connect(server) as s:
        for _ in range(3):
            s.sendall(b"GET /health/live HTTP/1.1\r\nHost: x\r\n\r\n")
            assert _one_response(s).startswith(b"HTTP/1.1 200")
            time.sleep(TIMEOUT / 2)


def test_a_trickled_body_is_answered_408_and_closed(env) -> None:
    server, _, keys = env
    with _connect(server) as s:
        started = time.monotonic()
        s.sendall(
            b"POST /v1/score HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"X-API-Key: " + keys["lender-a"].encode() + b"\r\nContent-Length: 100\r\n\r\n{"
        )
        time.sleep(TIMEOUT / 2)
        s.sendall(b'"income"')
        answer = _read_all(s)
        assert answer.startswith(b"HTTP/1.1 408"), answer[:200]
        assert b"serving.body_timeout_seconds" in answer and b"nosniff" in answer
        assert time.monotonic() - started < TIMEOUT * 4


def test_oversized_headers_are_refused(env) -> None:
    server, _, _ = env
    with _connect(server) as s:
        s.sendall(b"GET /health/live HTTP/1.1\r\nHost: x\r\n")
        try:
            for i in range(100):
                s.sendall(b"X-Pad-%d: " % i + b"a" * 1000 + b"\r\n")
        except OSError:
            pass  # the server may close before everything is sent
        answer = _read_all(s)
        assert answer.startswith(b"HTTP/1.1 431"), answer[:200]
