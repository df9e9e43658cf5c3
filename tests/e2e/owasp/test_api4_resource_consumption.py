"""OWASP API4 (unrestricted resource consumption), on the wire against the real server.

Sizes: a body over ``serving.max_body_bytes`` (declared, or streamed without a length),
a batch over ``serving.max_batch``, a job over ``serving.job_max_records``, a deeply
nested or very wide JSON body — each refused with its 4xx before the work, nothing kept.
Slow clients: trickled or idle headers are cut off, a trickled body is answered 408,
oversized headers 431, while a kept-alive connection still serves. Fairness between
tenants: one tenant over its rate gets 429 with ``Retry-After`` while another is served;
one tenant's active-job quota is its own; and one tenant's long job takes turns with
another's short one instead of holding the worker.
"""

from __future__ import annotations

import socket
import time
import uuid
from datetime import timedelta

from greenscore.serving import jobs
from greenscore.serving.dlq import list_dead_letters
from greenscore.store import database

from .owasp_env import (
    MAX_ACTIVE_JOBS,
    MAX_BATCH,
    MAX_BODY,
    MAX_JOB_RECORDS,
    TIMEOUT,
    Owasp,
)


def _connect(owasp: Owasp) -> socket.socket:
    return socket.create_connection(("127.0.0.1", owasp.server.port), timeout=TIMEOUT * 6)


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
    length = next(h for h in head.split(b"\r\n") if h.lower().startswith(b"content-length"))
    while len(body) < int(length.split(b":")[1]):
        body += s.recv(65536)
    return head + b"\r\n\r\n" + body


def _input_file(owasp: Owasp, rows: int, key: str) -> str:
    """A CSV of ``rows`` applicants in key ``key``'s job input folder; its name."""
    folder = owasp.input_folder(key)
    name = f"applicants-{rows}.csv"
    columns = list(owasp.applicant(0))
    frame = owasp.ds.frame[columns]
    frame = frame.loc[frame.index.repeat(-(-rows // len(frame)))].head(rows)
    frame.to_csv(folder / name, index=False)
    return name


def _letters(owasp: Owasp) -> int:
    return len(list_dead_letters(status=None, db=database(owasp.settings)))


# ---------------------------------------------------------------------- sizes
def test_bodies_over_the_limit_are_413_declared_or_streamed(owasp: Owasp) -> None:
    letters = _letters(owasp)
    big = b'{"applicants": [' + b'{"income": 1},' * (MAX_BODY // 14) + b'{"income": 1}]}'
    assert len(big) > MAX_BODY
    with owasp.client(owasp.key("api4-body")) as c:
        r = c.post("/v1/score/batch", content=big, headers={"content-type": "application/json"})
        assert r.status_code == 413, r.text[:300]
        assert "serving.max_body_bytes" in r.json()["detail"]

        def chunks():  # no Content-Length: the limit must hold on the bytes read
            for k in range(0, len(big), 16384):
                yield big[k : k + 16384]

        r = c.post(
            "/v1/score/batch", content=chunks(), headers={"content-type": "application/json"}
        )
        assert r.status_code == 413, r.text[:300]
    assert _letters(owasp) == letters  # the caller's mistake: nothing kept for replay


def test_batches_and_jobs_over_their_limits_are_refused_before_scoring(owasp: Owasp) -> None:
    one = owasp.applicant(0)
    with owasp.client(owasp.key("api4-batch")) as c:
        r = c.post("/v1/score/batch", json={"applicants": [one] * (MAX_BATCH + 1)})
        assert r.status_code == 413 and "serving.max_batch" in r.json()["detail"], r.text[:300]
        # Refused before its tokens were taken: a full batch still fits the burst.
        ok = c.post("/v1/score/batch", json={"applicants": [one] * MAX_BATCH})
        assert ok.status_code == 200 and ok.json()["count"] == MAX_BATCH
    with owasp.client(owasp.key("api4-job")) as c:
        # A stored file, so the body stays under the byte limit and the record limit speaks.
        r = c.post("/v1/jobs", json={"file": _input_file(owasp, MAX_JOB_RECORDS + 1, "api4-job")})
        assert r.status_code == 413, r.text[:300]
        assert "serving.job_max_records" in r.json()["detail"]


def test_deep_or_wide_json_is_a_4xx_not_a_crash(owasp: Owasp) -> None:
    deep = "[" * 50_000 + "]" * 50_000
    wide = "{" + ",".join(f'"k{i}": {i}' for i in range(15_000)) + "}"
    with owasp.client(owasp.key("api4-json")) as c:
        for raw in (deep, wide, '{"income": ' + "9" * 100_000 + "}"):
            r = c.post("/v1/score", content=raw, headers={"content-type": "application/json"})
            assert 400 <= r.status_code < 500, (r.status_code, r.text[:300])
        assert c.get("/health/live").status_code == 200
    assert "Traceback" not in owasp.server.tail()


# ---------------------------------------------------------------------- slow clients
def test_slow_headers_are_cut_off(owasp: Owasp) -> None:
    with _connect(owasp) as s:
        started = time.monotonic()
        s.sendall(b"GET /health/live HTTP/1.1\r\nHost: x\r\n")
        time.sleep(TIMEOUT / 2)
        s.sendall(b"X-Slow: 1\r\n")  # still trickling
        assert _read_all(s) == b""  # closed, never answered
        assert time.monotonic() - started < TIMEOUT * 4
    with _connect(owasp) as s:  # an idle connection that never sends a byte
        started = time.monotonic()
        assert _read_all(s) == b""
        assert time.monotonic() - started < TIMEOUT * 4


def test_a_keep_alive_connection_still_serves_requests(owasp: Owasp) -> None:
    with _connect(owasp) as s:
        for _ in range(3):
            s.sendall(b"GET /health/live HTTP/1.1\r\nHost: x\r\n\r\n")
            assert _one_response(s).startswith(b"HTTP/1.1 200")
            time.sleep(TIMEOUT / 2)


def test_a_trickled_body_is_answered_408_and_closed(owasp: Owasp) -> None:
    key = owasp.key("api4-trickle")
    with _connect(owasp) as s:
        started = time.monotonic()
        s.sendall(
            b"POST /v1/score HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"X-API-Key: " + key.encode() + b"\r\nContent-Length: 100\r\n\r\n{"
        )
        time.sleep(TIMEOUT / 2)
        s.sendall(b'"income"')
        answer = _read_all(s)
        assert answer.startswith(b"HTTP/1.1 408"), answer[:200]
        assert b"serving.body_timeout_seconds" in answer and b"nosniff" in answer
        assert time.monotonic() - started < TIMEOUT * 4


def test_oversized_headers_are_refused(owasp: Owasp) -> None:
    with _connect(owasp) as s:
        s.sendall(b"GET /health/live HTTP/1.1\r\nHost: x\r\n")
        try:
            for i in range(100):
                s.sendall(b"X-Pad-%d: " % i + b"a" * 1000 + b"\r\n")
        except OSError:
            pass  # the server may close before everything is sent
        answer = _read_all(s)
        assert answer.startswith(b"HTTP/1.1 431"), answer[:200]


# ---------------------------------------------------------------------- fairness
def test_one_tenant_over_its_rate_does_not_stop_another(owasp: Owasp) -> None:
    one = owasp.applicant(0)
    with (
        owasp.client(owasp.key("api4-greedy")) as greedy,
        owasp.client(owasp.key("api4-calm")) as calm,
    ):
        assert (
            greedy.post("/v1/score/batch", json={"applicants": [one] * MAX_BATCH}).status_code
            == 200
        )
        refused = greedy.post("/v1/score/batch", json={"applicants": [one] * MAX_BATCH})
        assert refused.status_code == 429, refused.text
        assert int(refused.headers["retry-after"]) >= 1
        assert "rate limit" in refused.json()["detail"]
        assert calm.post("/v1/score", json=one).status_code == 200
        assert calm.post("/v1/score/batch", json={"applicants": [one] * 10}).status_code == 200


def test_the_active_job_quota_is_per_tenant(owasp: Owasp) -> None:
    records = [owasp.applicant(i) for i in range(2)]
    db = database(owasp.settings)
    with owasp.client(owasp.key("api4-jobs-a")) as a, owasp.client(owasp.key("api4-jobs-b")) as b:
        r = a.post("/v1/jobs", json={"records": records})
        assert r.status_code == 202, r.text[:300]
        deadline = time.monotonic() + 120
        while a.get(f"/v1/jobs/{r.json()['id']}").json()["status"] != "done":
            assert time.monotonic() < deadline
            time.sleep(0.05)
        first = jobs.row(r.json()["id"], db=db)._asdict()
        # Tenant a's quota is filled with jobs another replica is running (their heartbeat is
        # fresh for a day): this server's worker cannot end them, so what follows does not
        # race it. Posting jobs that run here raced it: on a fast machine each was done
        # before the next was posted, and all were accepted.
        held = [uuid.uuid4().hex for _ in range(MAX_ACTIVE_JOBS)]
        later = jobs.now() + timedelta(days=1)
        with db.begin() as conn:
            for job_id in held:
                conn.execute(
                    jobs.TABLE.insert().values(
                        {**first, "id": job_id, "status": jobs.RUNNING, "done": 0}
                        | {"worker": "another-replica", "heartbeat_at": later}
                    )
                )
        try:
            for _ in range(3):
                refused = a.post("/v1/jobs", json={"records": records})
                assert refused.status_code == 429, refused.text[:300]
                assert "serving.job_max_active_per_key" in refused.json()["detail"]
                assert int(refused.headers["retry-after"]) >= 1
            # Another tenant's quota is its own.
            assert b.post("/v1/jobs", json={"records": records}).status_code == 202
            # One of a's jobs ends: a may post one more.
            with db.begin() as conn:
                conn.execute(
                    jobs.TABLE.update().where(jobs.TABLE.c.id == held[0]).values(status=jobs.DONE)
                )
            assert a.post("/v1/jobs", json={"records": records}).status_code == 202
        finally:
            with db.begin() as conn:
                conn.execute(jobs.TABLE.delete().where(jobs.TABLE.c.id.in_(held)))


def test_a_long_job_takes_turns_with_another_tenants_short_one(owasp: Owasp) -> None:
    records = [owasp.applicant(i) for i in range(2)]
    with owasp.client(owasp.key("api4-long")) as a, owasp.client(owasp.key("api4-short")) as b:
        r = a.post("/v1/jobs", json={"file": _input_file(owasp, MAX_JOB_RECORDS, "api4-long")})
        assert r.status_code == 202, r.text[:300]
        long_job = r.json()["id"]
        # At once, while the long job's ten chunks run (waiting to see it started raced a
        # fast machine: all ten were done before the short job came). The worker's own
        # turn-taking, step by step, is tests/integration/test_serving_jobs_once.py.
        r = b.post("/v1/jobs", json={"records": records})
        assert r.status_code == 202, r.text[:300]
        short_job = r.json()["id"]
        deadline = time.monotonic() + 120
        for client, job in ((b, short_job), (a, long_job)):
            while client.get(f"/v1/jobs/{job}").json()["status"] != "done":
                assert time.monotonic() < deadline
                time.sleep(0.05)
        short_status = b.get(f"/v1/jobs/{short_job}").json()
        long_status = a.get(f"/v1/jobs/{long_job}").json()
        # The short job ended before the long one, which still had chunks to go: it did
        # not wait for all of them.
        assert long_status["done"] == MAX_JOB_RECORDS and short_status["done"] == 2
        assert short_status["updated_at"] < long_status["updated_at"], (short_status, long_status)
