"""End to end with a primary model that raises: the fallback answers, the circuit opens, nothing
is lost; and a caller over its rate limit is refused with Retry-After."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from sklearn.pipeline import Pipeline

sys.path.insert(0, str(Path(__file__).parents[1] / "unit"))
from faulty_model import RaisingClassifier  # noqa: E402
from service_server import Server, cli  # noqa: E402
from serving_bundle import applicant, shared  # noqa: E402

from greenscore.config import Settings, get_settings, use_settings  # noqa: E402
from greenscore.models.bundle import ScoringBundle  # noqa: E402
from greenscore.security import create_key, issue_token, verify_chain  # noqa: E402


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    home = tmp_path_factory.mktemp("faults")
    use_settings(Settings(home=home, environment="test"))
    ds, good = shared()
    good.save(home / "good")
    features = good.features
    broken = RaisingClassifier().fit(features.transform(ds.X.head(40)), ds.y[:40])
    ScoringBundle(
        name="broken",
        spec=ds.spec,
        metadata=good.metadata,
        pipeline=Pipeline([("features", features), ("model", broken)]),
    ).save(home / "broken")
    server = Server(
        home,
        ["--model", str(home / "broken"), "--fallback", str(home / "good")],
        env={
            "GREENSCORE_SERVING__RATE_LIMIT_PER_MINUTE": "60",
            "GREENSCORE_SERVING__RATE_LIMIT_BURST": "5",
            "GREENSCORE_SERVING__BREAKER_FAILURES": "3",
        },
    )
    server.start()
    yield server, ds
    server.stop()
    use_settings(None)


def test_fallback_answers_and_nothing_is_lost(env) -> None:
    server, ds = env
    answers = []
    for i in range(8):  # a key per request: this test is not about rate limits
        key = create_key(name=f"lender-{i}", role="scorer", settings=get_settings())[1]
        with server.client(**{"X-API-Key": key}) as c:
            r = c.post("/v1/score", json=applicant(ds, i))
            assert r.status_code == 200, r.text
            answers.append(r.json())
    assert all(a["fallback"] and a["model"]["variant"] == "fallback" for a in answers)
    admin = issue_token(subject="ops", role="admin", mfa=True, settings=get_settings())
    with server.client(Authorization=f"Bearer {admin}") as c:
        variant = c.get("/v1/admin/models").json()["deployment"]["variants"][0]
        assert variant["name"] == "broken" and variant["circuit"] == "open"
        assert c.get("/v1/admin/dead-letters").json() == []  # every request was answered
        text = c.get("/metrics").text
    assert 'greenscore_circuit_state{variant="primary"} 2.0' in text
    assert 'greenscore_fallbacks_total{variant="primary"}' in text
    listed = cli(server.home, "dlq", "list")
    assert listed.returncode == 0 and "no pending dead letters" in listed.stdout


def test_rate_limit_answers_429_with_retry_after(env) -> None:
    server, _ = env
    key = create_key(name="greedy", role="analyst", settings=get_settings())[1]
    with server.client(**{"X-API-Key": key}) as c:
        codes = [c.get("/v1/review-queue") for _ in range(8)]
    assert [r.status_code for r in codes[:5]] == [200] * 5
    refused = [r for r in codes if r.status_code == 429]
    assert refused and all(int(r.headers["retry-after"]) >= 1 for r in refused)
    assert refused[0].json()["error"] == "RateLimitedError"


def test_audit_log_verifies(env) -> None:
    server, _ = env
    assert verify_chain().ok
    assert cli(server.home, "audit", "verify").returncode == 0
