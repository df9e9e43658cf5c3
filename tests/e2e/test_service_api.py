"""End to end against the real server: auth, validation, limits, contest, reload under load,
a job that survives a restart, metrics, and an audit log that verifies after all of it."""

from __future__ import annotations

import json
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parents[1] / "unit"))
from service_server import Server, cli, free_port  # noqa: E402
from serving_bundle import applicant, build_bundle, shared  # noqa: E402

from greenscore.config import Settings, get_settings, use_settings  # noqa: E402
from greenscore.security import create_key, issue_token, verify_chain  # noqa: E402


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    home = tmp_path_factory.mktemp("service")
    use_settings(Settings(home=home, environment="test"))
    ds, bundle = shared()
    bundle.save(home / "model-v1")
    build_bundle(ds, n_estimators=30, seed=7, name="lightgbm").save(home / "model-v2")
    keys = {
        role: create_key(name=role, role=role, settings=get_settings())[1]
        for role in ("scorer", "analyst", "admin")
    }
    server = Server(
        home,
        ["--model", str(home / "model-v1"), "--fallback", str(home / "model-v2")],
        env={
            "GREENSCORE_SERVING__MAX_BATCH": "20",
            # The reload test hammers as fast as the machine allows; rate limits are tested
            # in test_service_faults.py, not here, so they must not bite on a fast machine.
            "GREENSCORE_SERVING__RATE_LIMIT_PER_MINUTE": "10000000",
            "GREENSCORE_SERVING__RATE_LIMIT_BURST": "1000000",
            "GREENSCORE_SERVING__MAX_BODY_BYTES": "100000",
            "GREENSCORE_SERVING__JOB_WORKER": "false",
            "GREENSCORE_SERVING__JOB_CHUNK_ROWS": "10",
            # The job test's callback receiver listens on loopback, refused unless allowed.
            "GREENSCORE_SERVING__CALLBACK_ALLOW_HOSTS": '["127.0.0.1"]',
        },
    )
    server.start()
    yield server, ds, keys
    server.stop()
    use_settings(None)


def test_credentials_and_roles(env) -> None:
    server, ds, keys = env
    body = applicant(ds, 0)
    with server.client() as c:
        assert c.post("/v1/score", json=body).status_code == 401
        wrong = c.post("/v1/score", json=body, headers={"X-API-Key": keys["scorer"][:-4] + "xxxx"})
        assert wrong.status_code == 401 and wrong.json()["detail"] == "unknown API key"
        expired = issue_token(
            subject="svc", role="scorer", ttl_seconds=-30, settings=get_settings()
        )
        r = c.post("/v1/score", json=body, headers={"Authorization": f"Bearer {expired}"})
        assert r.status_code == 401 and r.json()["detail"] == "token expired"
        r = c.post("/v1/score", json=body, headers={"X-API-Key": keys["analyst"]})
        assert r.status_code == 403
        token = issue_token(subject="lender-system", role="scorer", settings=get_settings())
        r = c.post("/v1/score", json=body, headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == 200 and r.json()["decision"] in ("approve", "review", "decline")


def test_field_level_validation(env) -> None:
    server, ds, keys = env
    with server.client(**{"X-API-Key": keys["scorer"]}) as c:
        r = c.post(
            "/v1/score", content=b'{"income": 5', headers={"content-type": "application/json"}
        )
        assert r.status_code == 400 and r.json()["error"] == "BadRequestError"  # not JSON text
        missing = applicant(ds, 1)
        del missing["loan_amount"]
        r = c.post("/v1/score", json=missing)
        assert r.status_code == 422
        assert r.json()["detail"][0]["loc"] == ["body", "loan_amount"]
        wrong = applicant(ds, 1) | {"interest_rate": "twelve"}
        r = c.post("/v1/score", json=wrong)
        assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "interest_rate"]
        # A batch answers per applicant: the bad one is its item's 422, naming the field.
        r = c.post("/v1/score/batch", json={"applicants": [applicant(ds, 1), wrong]})
        assert r.status_code == 200
        item = r.json()["results"][1]
        assert item["status"] == 422 and "interest_rate" in item["error"]["detail"]
        assert r.json()["results"][0]["status"] == 200


def test_size_limits(env) -> None:
    server, ds, keys = env
    with server.client(**{"X-API-Key": keys["scorer"]}) as c:
        r = c.post("/v1/score/batch", json={"applicants": [applicant(ds, 2)] * 21})
        assert r.status_code == 413 and r.json()["error"] == "PayloadTooLargeError"
        huge = applicant(ds, 2) | {"notes": "x" * 120_000}
        r = c.post("/v1/score", json=huge)
        assert r.status_code == 413 and "max_body_bytes" in r.json()["detail"]


def test_decline_reasons_contest_and_review_queue(env) -> None:
    server, ds, keys = env
    with server.client(**{"X-API-Key": keys["scorer"]}) as c:
        r = c.post("/v1/score/batch", json={"applicants": [applicant(ds, i) for i in range(20)]})
        assert r.status_code == 200 and r.json()["errors"] == 0
        results = [x["result"] for x in r.json()["results"]]
        adverse = [x for x in results if x["decision"] != "approve"]
        assert adverse and all(len(x["reason_codes"]) == 4 for x in adverse)
        assert all(x["energy"]["method"] for x in results)
        target = adverse[0]["request_id"]
        r = c.post(f"/v1/decisions/{target}/contest", json={"reason": "my income is higher"})
        assert r.status_code == 202 and r.json()["kind"] == "contest"
        assert c.post("/v1/decisions/nope/contest", json={"reason": "x"}).status_code == 404
    with server.client(**{"X-API-Key": keys["analyst"]}) as c:
        queue = c.get("/v1/review-queue").json()["items"]
        assert any(
            i["request_id"] == target and i["comment"] == "my income is higher" for i in queue
        )


def test_reload_under_load_drops_nothing(env) -> None:
    server, ds, keys = env
    bodies = [applicant(ds, i) for i in range(50)]
    stop = threading.Event()
    statuses: list[int] = []
    versions: set[str] = set()

    def hammer(k: int) -> None:
        with server.client(**{"X-API-Key": keys["scorer"]}) as c:
            i = k
            while not stop.is_set():
                r = c.post("/v1/score", json=bodies[i % len(bodies)])
                statuses.append(r.status_code)
                if r.status_code == 200:
                    versions.add(r.json()["model"]["version"])
                i += 4

    admin = issue_token(subject="ops", role="admin", mfa=True, settings=get_settings())
    with ThreadPoolExecutor(4) as pool:
        futures = [pool.submit(hammer, k) for k in range(4)]
        time.sleep(1.0)
        with server.client(Authorization=f"Bearer {admin}") as c:
            before = c.get("/v1/admin/models").json()["deployment"]["generation"]
            r = c.post("/v1/admin/models/reload", json={"model": str(server.home / "model-v2")})
            assert r.status_code == 202
            deadline = time.monotonic() + 60
            while c.get("/v1/admin/models").json()["reload"]["state"] == "loading":
                assert time.monotonic() < deadline
                time.sleep(0.1)
            info = c.get("/v1/admin/models").json()
        time.sleep(1.0)
        stop.set()
        for f in futures:
            f.result()
    assert info["reload"]["state"] == "done" and info["deployment"]["generation"] == before + 1
    assert statuses and all(s == 200 for s in statuses), sorted(set(statuses))
    assert len(versions) == 2  # answered by the old model, then by the new one


class _Hook(BaseHTTPRequestHandler):
    received: list[dict] = []

    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        length = int(self.headers["content-length"])
        _Hook.received.append(json.loads(self.rfile.read(length)))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args) -> None:
        pass


def test_job_survives_a_restart_and_calls_back(env) -> None:
    server, ds, keys = env
    hook = HTTPServer(("127.0.0.1", free_port()), _Hook)
    threading.Thread(target=hook.serve_forever, daemon=True).start()
    try:
        records = [applicant(ds, i) for i in range(35)]
        with server.client(**{"X-API-Key": keys["scorer"]}) as c:
            r = c.post(
                "/v1/jobs",
                json={
                    "records": records,
                    "callback_url": f"http://127.0.0.1:{hook.server_port}/done",
                },
            )
            assert r.status_code == 202
            job = r.json()["id"]
            time.sleep(0.5)
            assert c.get(f"/v1/jobs/{job}").json()["status"] == "queued"  # no worker here
        server.stop()
        server.start({"GREENSCORE_SERVING__JOB_WORKER": "true"})
        with server.client(**{"X-API-Key": keys["scorer"]}) as c:
            deadline = time.monotonic() + 60
            while (status := c.get(f"/v1/jobs/{job}").json())["status"] != "done":
                assert time.monotonic() < deadline, status
                time.sleep(0.2)
            assert status["done"] == 35 and status["errors"] == 0
            rows = c.get(f"/v1/jobs/{job}/results").json()["rows"]
            assert [x["row"] for x in rows] == list(range(35))
            deadline = time.monotonic() + 30
            while c.get(f"/v1/jobs/{job}").json()["callback"]["status"] != "delivered":
                assert time.monotonic() < deadline
                time.sleep(0.1)
        assert _Hook.received[-1]["job_id"] == job and _Hook.received[-1]["done"] == 35
        with server.client(**{"X-API-Key": keys["analyst"]}) as c:
            assert c.get(f"/v1/jobs/{job}").status_code == 200  # analysts read every job
    finally:
        hook.shutdown()


def test_metrics_and_audit_log(env) -> None:
    server, ds, keys = env
    with server.client(**{"X-API-Key": keys["scorer"]}) as c:
        assert c.post("/v1/score", json=applicant(ds, 3)).status_code == 200
        text = c.get("/metrics").text
    for name in (
        "greenscore_requests_total",
        "greenscore_request_latency_seconds_bucket",
        "greenscore_predictions_total",
        "greenscore_model_info",
        "greenscore_prediction_psi",
        "greenscore_energy_kwh_total",
        'greenscore_latency_sla_seconds{quantile="0.99"}',
        "greenscore_errors_total",
    ):
        assert name in text, name
    assert verify_chain().ok
    result = cli(server.home, "audit", "verify")
    assert result.returncode == 0 and "audit log verified" in result.stdout
