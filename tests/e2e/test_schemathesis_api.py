"""Schemathesis over the whole OpenAPI document of the real server: 0 server errors and 0
answers that break the document (schema, status code, content type).

``st run`` (every phase, named: the schema's examples, coverage of boundaries and invalid
values, fuzzing, stateful sequences through the inferred links) drives a ``greenscore serve``
subprocess on loopback, each operation with the credential of its role (see
``schemathesis_hooks.py``), a fixed seed and a fixed number of examples per operation,
so a run takes about a minute on the 2 shared cores. Job callbacks go only to a receiver
in this test on loopback, the one host ``serving.callback_allow_hosts`` names.

What counts as a server error: any 5xx. Every request here is a caller's, valid or not,
so the service owes each one a 2xx or a 4xx naming what was wrong; a 503 is reserved for
faults of the server itself (a model or the database failing), and each of those leaves
a dead letter, so "no dead letters" is checked beside "no 5xx". Both are read from the
server, not only from schemathesis: its own request counter by route and status, which
also shows the run reached the handlers (answers 2xx on the main routes), not only the
validators.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

sys.path.insert(0, str(Path(__file__).parents[1] / "unit"))
from service_server import Server  # noqa: E402
from serving_bundle import applicant, shared  # noqa: E402

from greenscore.config import Settings, get_settings, use_settings  # noqa: E402
from greenscore.security import create_key, issue_token  # noqa: E402
from greenscore.serving.dlq import list_dead_letters  # noqa: E402
from greenscore.store import database  # noqa: E402

HERE = Path(__file__).resolve().parent
SEED = 20240611
EXAMPLES = 100  # per operation and phase (the default); about a minute on 2 shared cores
PHASES = ("examples", "coverage", "fuzzing", "stateful")  # every phase, named so none drops out
#: A 5xx, an answer whose body does not match its documented schema, a status the
#: operation does not document, or a content type it does not declare, each fail the run.
CHECKS = (
    "not_a_server_error",
    "response_schema_conformance",
    "status_code_conformance",
    "content_type_conformance",
)


class _Receiver(BaseHTTPRequestHandler):
    """Accepts job callbacks; remembers their paths."""

    received: list[str] = []

    def do_POST(self) -> None:  # noqa: N802 (http.server's name)
        self.rfile.read(int(self.headers.get("content-length") or 0))
        self.received.append(self.path)
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def receiver() -> Iterator[HTTPServer]:
    _Receiver.received = []
    server = HTTPServer(("127.0.0.1", 0), _Receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def _status_counts(metrics: str) -> Counter[tuple[str, str, int]]:
    """The server's own request counter: (method, route, status) -> requests."""
    counts: Counter[tuple[str, str, int]] = Counter()
    for family in text_string_to_metric_families(metrics):
        if family.name != "greenscore_requests":
            continue
        for sample in family.samples:
            if sample.name.endswith("_total"):
                labels = sample.labels
                key = (labels["method"], labels["route"], int(labels["status"]))
                counts[key] += int(sample.value)
    return counts


def test_schemathesis_finds_no_server_error(tmp_path_factory, receiver: HTTPServer) -> None:
    home = tmp_path_factory.mktemp("schemathesis")
    use_settings(Settings(home=home, environment="test"))
    try:
        ds, bundle = shared()
        bundle.save(home / "model")
        settings = get_settings()
        scorer = create_key(name="fuzz-scorer", role="scorer", settings=settings)[1]
        analyst = create_key(name="fuzz-analyst", role="analyst", settings=settings)[1]
        admin = issue_token(
            subject="fuzz-ops", role="admin", mfa=True, ttl_seconds=3600, settings=settings
        )
        server = Server(
            home,
            ["--model", str(home / "model")],
            env={
                # Rate limits and the jobs quota are tested elsewhere; here a 429 would only
                # stop generated cases before the handlers.
                "GREENSCORE_SERVING__RATE_LIMIT_PER_MINUTE": "10000000",
                "GREENSCORE_SERVING__RATE_LIMIT_BURST": "1000000",
                "GREENSCORE_SERVING__JOB_MAX_ACTIVE_PER_KEY": "100000",
                "GREENSCORE_SERVING__CALLBACK_ALLOW_HOSTS": '["127.0.0.1/32"]',
                "GREENSCORE_SERVING__CALLBACK_BACKOFF_SECONDS": "0.05",
            },
        )
        server.start(timeout=420)  # minutes on a loaded 2-core machine
        try:
            _run(server, home, tmp_path_factory.mktemp("st"), scorer, analyst, admin, receiver)
        finally:
            server.stop()
    finally:
        use_settings(None)


def _run(
    server: Server,
    home: Path,
    work: Path,
    scorer: str,
    analyst: str,
    admin: str,
    receiver: HTTPServer,
) -> None:
    ds, _ = shared()
    # A review item to decide: schemathesis cannot create one (a contest's answer is not
    # linked to the review queue's path), so half of its item ids are this real one.
    with server.client(**{"X-API-Key": scorer}) as c:
        request_id = c.post("/v1/score", json=applicant(ds, 3)).json()["request_id"]
        contest = c.post(f"/v1/decisions/{request_id}/contest", json={"reason": "seed"})
        assert contest.status_code == 202, contest.text
    config = work / "schemathesis.toml"
    config.write_text(
        "[dictionaries.review_items]\n"
        f'values = ["{contest.json()["id"]}"]\n'
        "[parameters]\n"
        '"path.item_id" = { dictionary = "review_items", probability = 0.5 }\n'
    )
    callback = f"http://127.0.0.1:{receiver.server_port}/job-done"
    env = {k: v for k, v in os.environ.items() if not k.startswith("GREENSCORE_")} | {
        "SCHEMATHESIS_HOOKS": str(HERE / "schemathesis_hooks.py"),
        "GS_FUZZ_CALLBACK_URL": callback,
        "GS_FUZZ_SCORER_KEY": scorer,
        "GS_FUZZ_ANALYST_KEY": analyst,
        "GS_FUZZ_ADMIN_TOKEN": admin,
    }
    st = Path(sys.executable).with_name("st")
    run = subprocess.run(
        [
            str(st),
            "--config-file",
            str(config),
            "--no-color",
            "run",
            f"{server.url}/openapi.json",
            "--phases",
            ",".join(PHASES),
            "--checks",
            ",".join(CHECKS),
            "--seed",
            str(SEED),
            "--max-examples",
            str(EXAMPLES),
            "--generation-with-security-parameters",
            "false",
            "--generation-database",
            "none",
            "--request-timeout",
            "30",
        ],
        env=env,
        cwd=work,  # schemathesis keeps a cache folder in its working directory
        capture_output=True,
        text=True,
        timeout=480,
    )
    report = run.stdout[-8000:] + run.stderr[-2000:]
    assert run.returncode == 0, report

    metrics = httpx.get(f"{server.url}/metrics", timeout=30).text  # loopback: no token
    counts = _status_counts(metrics)
    document = httpx.get(f"{server.url}/openapi.json", timeout=30).json()
    operations = {(m.upper(), path) for path, ops in document["paths"].items() for m in ops}
    requested = {(method, route) for method, route, _ in counts}
    assert len(operations) >= 14 and operations <= requested, operations - requested
    server_errors = {key: n for key, n in counts.items() if key[2] >= 500}
    assert server_errors == {}, server_errors
    assert list_dead_letters(status=None, db=database(get_settings())) == []
    assert "Traceback" not in server.tail()

    # The run reached the handlers, not only the validators and the auth checks.
    assert sum(counts.values()) > 1000, counts
    answered = {(method, route) for method, route, status in counts if 200 <= status < 300}
    for operation in (
        ("POST", "/v1/score"),
        ("POST", "/v1/score/batch"),
        ("POST", "/v1/jobs"),
        ("GET", "/v1/jobs/{job_id}"),
        ("POST", "/v1/decisions/{request_id}/contest"),
        ("GET", "/v1/review-queue"),
        ("POST", "/v1/review-queue/{item_id}/decision"),
        ("GET", "/v1/admin/models"),
        ("POST", "/v1/admin/models/reload"),
        ("GET", "/v1/admin/dead-letters"),
    ):
        assert operation in answered, (operation, sorted(counts.items()))
    # Callbacks went to the receiver (and, by the allow-list, could go nowhere else); the
    # last jobs may still be running when the run ends.
    deadline = time.monotonic() + 30
    while not _Receiver.received and time.monotonic() < deadline:
        time.sleep(0.2)
    assert _Receiver.received and set(_Receiver.received) == {"/job-done"}
