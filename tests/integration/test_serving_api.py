"""The API in-process: the OpenAPI contract, error shapes and headers, review and admin routes."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

sys.path.insert(0, str(Path(__file__).parents[1] / "unit"))
from serving_bundle import applicant, shared  # noqa: E402

from greenscore.config import Settings, get_settings, use_settings  # noqa: E402
from greenscore.security import create_key, issue_token, verify_chain  # noqa: E402
from greenscore.serving.app import create_app  # noqa: E402
from greenscore.serving.model_store import ModelStore  # noqa: E402
from greenscore.store import database  # noqa: E402


@pytest.fixture(scope="module")
def api(tmp_path_factory):
    home = tmp_path_factory.mktemp("api")
    settings = Settings(home=home, environment="test")
    settings.serving.max_batch = 5
    settings.serving.max_body_bytes = 200_000
    settings.serving.rate_limit_per_minute = 60
    settings.serving.rate_limit_burst = 40
    settings.serving.energy_calibration = False
    settings.serving.route_grey_band_to_review = True
    # Training applicants, read in the graph (some are grey-band so): see
    # serving.training_outcomes.
    settings.serving.training_outcomes = "visible"
    use_settings(settings)
    ds, bundle = shared()
    store = ModelStore(settings.serving, loader=lambda uri: bundle)
    store.load("good")
    app = create_app(settings, store=store)
    keys = {
        role: create_key(name=role, role=role, settings=get_settings())[1]
        for role in ("scorer", "analyst", "admin")
    }
    with TestClient(app) as client:
        yield client, ds, keys
    use_settings(None)


def _resolve(doc: dict, ref: str) -> dict:
    node = doc
    for part in ref.removeprefix("#/").split("/"):
        node = node[part]
    return node


def test_openapi_is_complete_for_a_generated_client(api) -> None:
    client, ds, _ = api
    doc = client.get("/openapi.json").json()
    schemes = doc["components"]["securitySchemes"]
    assert schemes["ApiKey"] == {
        "type": "apiKey",
        "in": "header",
        "name": "X-API-Key",
        "description": schemes["ApiKey"]["description"],
    }
    assert schemes["BearerJWT"]["scheme"] == "bearer"
    ids = []
    for path, methods in doc["paths"].items():
        for method, op in methods.items():
            ids.append(op["operationId"])
            assert "200" in op["responses"] or "202" in op["responses"], (path, method)
            if path.startswith("/v1"):
                assert {"ApiKey": []} in op["security"] and {"BearerJWT": []} in op["security"]
    assert len(ids) == len(set(ids)) >= 14
    refs = []

    def walk(node) -> None:
        if isinstance(node, dict):
            if "$ref" in node:
                refs.append(node["$ref"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(doc)
    for ref in refs:
        assert _resolve(doc, ref), ref
    applicant_schema = doc["components"]["schemas"]["Applicant"]
    features = ds.spec.feature_columns(list(ds.frame.columns))
    assert set(features) <= set(applicant_schema["properties"])
    assert set(features) <= set(applicant_schema["required"])
    assert applicant_schema["properties"]["income"]["description"] == "annual income"


def test_errors_have_one_shape_and_the_right_headers(api) -> None:
    client, ds, keys = api
    body = applicant(ds, 0)
    r = client.post("/v1/score", json=body, headers={"X-API-Key": "gs_nope_nope"})
    assert r.status_code == 401 and r.json()["error"] == "AuthError"
    assert "Bearer" in r.headers["www-authenticate"]
    assert r.json()["request_id"] == r.headers["x-request-id"]
    r = client.post("/v1/score", json=body, headers={"X-API-Key": keys["analyst"]})
    assert r.status_code == 403 and "may not perform 'score'" in r.json()["detail"]
    r = client.post(
        "/v1/score/batch", json={"applicants": [body] * 6}, headers={"X-API-Key": keys["scorer"]}
    )
    assert r.status_code == 413 and "over the limit of 5" in r.json()["detail"]
    r = client.post(
        "/v1/score",
        content=b"{" + b" " * 300_000 + b"}",
        headers={"X-API-Key": keys["scorer"], "content-type": "application/json"},
    )
    assert r.status_code == 413 and "serving.max_body_bytes" in r.json()["detail"]
    chunks = iter([b'{"notes": "', b"x" * 150_000, b"x" * 150_000, b'"}'])  # no Content-Length
    r = client.post(
        "/v1/score",
        content=chunks,
        headers={"X-API-Key": keys["scorer"], "content-type": "application/json"},
    )
    assert r.status_code == 413 and r.json()["error"] == "PayloadTooLargeError"
    r = client.post(
        "/v1/score",
        content=b'{"income": 1,',
        headers={"X-API-Key": keys["scorer"], "content-type": "application/json"},
    )
    assert r.status_code == 400 and r.json()["error"] == "BadRequestError"  # not JSON text


def test_admin_reload_needs_a_second_factor(api) -> None:
    client, _, keys = api
    r = client.post("/v1/admin/models/reload", json={}, headers={"X-API-Key": keys["admin"]})
    assert r.status_code == 401 and "multi-factor" in r.json()["detail"]
    token = issue_token(subject="ops", role="admin", mfa=True, settings=get_settings())
    r = client.post(
        "/v1/admin/models/reload", json={}, headers={"Authorization": f"Bearer {token}"}
    )
    assert r.status_code == 202 and r.json()["state"] == "loading"
    client.app.state.store.wait_reload()
    info = client.get("/v1/admin/models", headers={"X-API-Key": keys["analyst"]}).json()
    assert info["reload"]["state"] == "done" and info["deployment"]["generation"] == 2
    assert info["deployment"]["variants"][0]["fast_path"] == "lightgbm"


def test_grey_band_review_and_analyst_decision(api) -> None:
    client, ds, keys = api
    scorer = {"X-API-Key": keys["scorer"]}
    r = client.post(
        "/v1/score/batch", json={"applicants": [applicant(ds, i) for i in range(5)]}, headers=scorer
    )
    assert r.status_code == 200 and r.json()["count"] == 5
    reviews = [x["result"] for x in r.json()["results"] if x["result"]["decision"] == "review"]
    queue = client.get("/v1/review-queue", headers={"X-API-Key": keys["analyst"]}).json()
    queued = {i["request_id"] for i in queue["items"] if i["kind"] == "grey_band"}
    assert {x["request_id"] for x in reviews} <= queued
    assert client.get("/v1/review-queue", headers=scorer).status_code == 403
    item = queue["items"][0]
    analyst = {"X-API-Key": keys["analyst"]}
    r = client.post(
        f"/v1/review-queue/{item['id']}/decision",
        json={"outcome": "approve", "note": "income verified"},
        headers=analyst,
    )
    assert r.status_code == 200 and r.json()["status"] == "decided"
    r = client.post(
        f"/v1/review-queue/{item['id']}/decision", json={"outcome": "decline"}, headers=analyst
    )
    assert r.status_code == 409
    assert verify_chain().ok


def test_an_internal_failure_is_kept_and_answered_503(api) -> None:
    client, _, keys = api
    app = client.app

    async def explode(body: dict) -> dict:
        raise RuntimeError("bug in a route")

    app.add_api_route("/v1/explode", explode, methods=["POST"])
    with TestClient(app, raise_server_exceptions=False) as raw:
        r = raw.post("/v1/explode", json={"applicant_id": 5, "income": 1.0})
    assert r.status_code == 503 and r.json()["error"] == "ServiceUnavailableError"
    request_id = r.json()["request_id"]
    from greenscore.serving.dlq import get_dead_letter, list_dead_letters

    letter = next(
        x for x in list_dead_letters(db=database(get_settings())) if x["request_id"] == request_id
    )
    kept = get_dead_letter(letter["id"], db=database(get_settings()))
    assert kept["kind"] == "http" and kept["route"] == "/v1/explode"
    assert kept["payload"] == {"applicant_id": 5, "income": 1.0}
    assert "bug in a route" in kept["error"]


def test_the_long_lived_objects_are_frozen_while_the_app_serves(api) -> None:
    """A full garbage collection in traffic walks only what requests made (models and
    libraries frozen at start-up), and an app stopped inside a longer process lets go;
    the WAL checkpointer runs while it serves."""
    import gc

    client, _, _ = api
    with TestClient(client.app) as again:
        assert gc.get_freeze_count() > 10_000  # the model, FastAPI, pandas, ...
        assert again.get("/health/live").status_code == 200
        # Its WAL checkpoints run on their own thread (tests/integration/test_store_checkpoint.py).
        assert client.app.state.checkpointer.running
    assert gc.get_freeze_count() == 0
    assert not client.app.state.checkpointer.running
