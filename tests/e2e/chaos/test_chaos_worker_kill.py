"""Chaos: the service (and its job worker) is killed with SIGKILL in the middle of a job.

A job of 600 records runs in chunks of 10 on the real server; when some chunks are saved
and others not, the process is killed (no clean stop: no chance to put the job back) and
a new server is started on the same home. The job's lease lapses (2 s here) and the new
worker takes it over at the first chunk not saved.

Expected: the job finishes once — status ``done``, exactly one result row per input
record, in order, each a decision — and every result row's decision has exactly one
audit event and one stored prediction under its request id, and there are no others: a
chunk's decisions, results and progress commit in one transaction, so the chunk being
scored at the kill is either saved whole or left no trace, and no decision is audited
that no result row names (issue 21). ``greenscore audit verify`` passes, and audit
events = stored predictions = records in the job.
"""

from __future__ import annotations

import json
import time

from chaos_env import START_TIMEOUT, Server, ledger
from serving_bundle import applicant, shared
from sqlalchemy import create_engine, text

from greenscore.config import Settings, use_settings
from greenscore.security import create_key

ROWS, CHUNK = 600, 10  # 60 chunks: a fast machine (10 in 0.11 s on CI) is still mid-job at the kill


def test_a_worker_killed_during_a_job_resumes_and_finishes_it_once(tmp_path) -> None:
    home = tmp_path / "home"
    settings = Settings(home=home, environment="test")
    use_settings(settings)
    try:
        ds, bundle = shared()
        bundle.save(home / "model")
        key = create_key(name="chaos-kill", role="scorer", settings=settings)[1]
        env = {
            "GREENSCORE_SERVING__JOB_CHUNK_ROWS": str(CHUNK),
            "GREENSCORE_SERVING__JOB_LEASE_SECONDS": "2",
            "GREENSCORE_SERVING__JOB_POLL_SECONDS": "0.2",
        }
        server = Server(home, ["--model", str(home / "model")], env=env)
        server.start(timeout=START_TIMEOUT)
        records = [applicant(ds, i) for i in range(ROWS)]
        try:
            with server.client(**{"X-API-Key": key}) as c:
                r = c.post("/v1/jobs", json={"records": records})
                assert r.status_code == 202, r.text[:300]
                job = r.json()["id"]
                deadline = time.monotonic() + 180
                while (done := c.get(f"/v1/jobs/{job}").json()["done"]) < 2 * CHUNK:
                    assert time.monotonic() < deadline, "the job never got going"
                    time.sleep(0.02)
                assert done < ROWS, "the job ended before the kill: nothing was interrupted"
                server.proc.kill()  # SIGKILL: no clean stop, the lease is left behind
                server.proc.wait(30)
        finally:
            server.stop()
        at_kill = done
        server.start(timeout=START_TIMEOUT)
        try:
            with server.client(**{"X-API-Key": key}) as c:
                deadline = time.monotonic() + 300
                while (status := c.get(f"/v1/jobs/{job}").json())["status"] != "done":
                    assert status["status"] in ("queued", "running"), status
                    assert time.monotonic() < deadline, status
                    time.sleep(0.2)
                rows = []
                offset: int | None = 0
                while offset is not None:
                    page = c.get(f"/v1/jobs/{job}/results", params={"offset": offset}).json()
                    rows += page["rows"]
                    offset = page["next_offset"]
        finally:
            server.stop()
    finally:
        use_settings(None)

    assert status["total"] == status["done"] == ROWS and status["errors"] == 0, status
    assert [row["row"] for row in rows] == list(range(ROWS))
    assert all("decision" in row and "request_id" in row for row in rows)
    answered = [row["request_id"] for row in rows]
    assert len(set(answered)) == ROWS

    book = ledger(home)
    assert book.verify_ok, book.verify_output
    assert book.decision_events == book.predictions, book
    engine = create_engine(f"sqlite:///{home / 'greenscore.db'}")
    with engine.connect() as conn:
        events = [
            json.loads(d)["request_id"]
            for (d,) in conn.execute(
                text("SELECT details FROM security_audit_log WHERE action = 'decision'")
            )
        ]
        stored = [r for (r,) in conn.execute(text("SELECT request_id FROM predictions"))]
    engine.dispose()
    for name, ids in (("audit events", events), ("predictions", stored)):
        missing = set(answered) - set(ids)
        assert not missing, f"{len(missing)} result rows have no {name}"
        assert all(ids.count(r) == 1 for r in answered), f"a result row has several {name}"
    orphans = len((set(events) | set(stored)) - set(answered))
    print(f"killed at {at_kill}/{ROWS} rows; decisions audited but named by no result: {orphans}")
    assert orphans == 0, orphans
    assert len(events) == len(stored) == book.decision_events == book.predictions == ROWS, book
    assert book.dead_letters == 0, book
