"""Object-level authorisation in-process: a decision, its contest and its review item belong
to the tenant that made the decision; anyone else is answered as for an unknown id. (An old
database keeps working: ``tests/integration/test_store_migrations.py``.)"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

sys.path.insert(0, str(Path(__file__).parents[1] / "unit"))
from serving_bundle import applicant, shared  # noqa: E402

from greenscore.config import Settings, get_settings, use_settings  # noqa: E402
from greenscore.security import create_key  # noqa: E402
from greenscore.security.tokens import issue_token  # noqa: E402
from greenscore.serving.app import create_app  # noqa: E402
from greenscore.serving.model_store import ModelStore  # noqa: E402
from greenscore.store import database  # noqa: E402
from greenscore.store.predictions import get_prediction, record_prediction  # noqa: E402


@pytest.fixture(scope="module")
def api(tmp_path_factory):
    home = tmp_path_factory.mktemp("owners")
    settings = Settings(home=home, environment="test")
    settings.serving.energy_calibration = False
    settings.serving.route_grey_band_to_review = True
    settings.serving.job_worker = False
    use_settings(settings)
    ds, bundle = shared()
    store = ModelStore(settings.serving, loader=lambda uri: bundle)
    store.load("good")
    app = create_app(settings, store=store)
    keys = {
        name: create_key(name=name, role=role, settings=get_settings())
        for name, role in (("a", "scorer"), ("b", "scorer"), ("analyst", "analyst"))
    }
    keys["admin"] = create_key(name="admin", role="admin", settings=get_settings())
    with TestClient(app) as client:
        yield (
            client,
            ds,
            {name: (kid, {"X-API-Key": secret}) for name, (kid, secret) in keys.items()},
        )
    use_settings(None)


def _without_id(body: dict) -> dict:
    """An error body less its per-request id."""
    return {k: v for k, v in body.items() if k != "request_id"}


def _contest(client, request_id: str, headers: dict, reason: str):
    return client.post(
        f"/v1/decisions/{request_id}/contest", json={"reason": reason}, headers=headers
    )


def test_only_the_tenant_may_contest_its_decision(api) -> None:
    client, ds, keys = api
    (a_id, a), (_, b) = keys["a"], keys["b"]
    r = client.post("/v1/score", json=applicant(ds, 0), headers=a)
    assert r.status_code == 200
    request_id = r.json()["request_id"]
    unknown = _contest(client, "f" * 32, b, "x")
    stolen = _contest(client, request_id, b, "not mine")
    assert unknown.status_code == stolen.status_code == 404
    # Same answer as for an id that does not exist, but for the id itself.
    assert _without_id(stolen.json()) == _without_id(unknown.json()) | {
        "detail": unknown.json()["detail"].replace("f" * 32, request_id)
    }
    assert "probability" not in stolen.text and "decision" not in stolen.text
    mine = _contest(client, request_id, a, "my income is higher")
    assert mine.status_code == 202
    item = mine.json()
    assert item["comment"] == "my income is higher" and item["tenant"] == a_id
    assert _contest(client, request_id, b, "again").status_code == 404
    again = _contest(client, request_id, a, "second try")
    assert again.status_code == 202 and again.json()["id"] == item["id"]
    assert again.json()["comment"] == "my income is higher"
    assert get_prediction(request_id, db=database(get_settings())).tenant == a_id


def test_review_staff_see_every_tenant_and_scorers_none(api) -> None:
    client, ds, keys = api
    (a_id, a), (b_id, b) = keys["a"], keys["b"]
    ids = {}
    for name, headers in (("a", a), ("b", b)):
        r = client.post(
            "/v1/score/batch",
            json={"applicants": [applicant(ds, i) for i in range(10, 20)]},
            headers=headers,
        )
        results = [x["result"] for x in r.json()["results"]]
        ids[name] = {x["request_id"] for x in results if x["review_id"]}
    assert ids["a"] and ids["b"]  # grey-band decisions became review items
    queue = client.get(
        "/v1/review-queue", params={"limit": 1000}, headers=keys["analyst"][1]
    ).json()
    tenants = {i["request_id"]: i["tenant"] for i in queue["items"]}
    assert all(tenants[rid] == a_id for rid in ids["a"])
    assert all(tenants[rid] == b_id for rid in ids["b"])
    for headers in (a, b):
        assert client.get("/v1/review-queue", headers=headers).status_code == 403
        item = queue["items"][0]["id"]
        r = client.post(
            f"/v1/review-queue/{item}/decision", json={"outcome": "approve"}, headers=headers
        )
        assert r.status_code == 403


def test_a_decision_older_than_tenants_is_an_admins_to_contest(api) -> None:
    client, _, keys = api
    record_prediction(
        request_id="legacy-1",
        subject_hash=None,
        model_name="lightgbm",
        model_version="1",
        input_hash="0" * 64,
        decision="decline",
        probability=0.6,
        db=database(get_settings()),
    )
    for name in ("a", "b"):
        assert _contest(client, "legacy-1", keys[name][1], "x").status_code == 404
    r = _contest(client, "legacy-1", keys["admin"][1], "applicant called in")
    assert r.status_code == 202 and r.json()["tenant"] is None


def test_another_tenants_job_is_not_found(api) -> None:
    client, ds, keys = api
    (_, a), (_, b) = keys["a"], keys["b"]
    r = client.post("/v1/jobs", json={"records": [applicant(ds, 1)]}, headers=a)
    assert r.status_code == 202
    job = r.json()["id"]
    for path in (f"/v1/jobs/{job}", f"/v1/jobs/{job}/results"):
        assert client.get(path, headers=a).status_code != 404
        theirs = client.get(path, headers=b)
        unknown = client.get(path.replace(job, "0" * len(job)), headers=b)
        assert theirs.status_code == unknown.status_code == 404
        assert _without_id(theirs.json())["error"] == _without_id(unknown.json())["error"]
        assert theirs.json()["detail"] == unknown.json()["detail"].replace("0" * len(job), job)


def test_a_token_named_like_a_key_is_not_that_keys_tenant(api) -> None:
    """A token's subject is chosen by whoever issues it (an admin, an identity provider);
    one equal to an API key's id made its bearer that key's tenant: it read the key's jobs
    and contested its decisions. Tenants of tokens are marked as such (``jwt:<subject>``)."""
    client, ds, keys = api
    a_id, a = keys["a"]
    token = issue_token(subject=a_id, role="scorer", settings=get_settings())
    namesake = {"Authorization": f"Bearer {token}"}
    decision = client.post("/v1/score", json=applicant(ds, 2), headers=a).json()["request_id"]
    job = client.post("/v1/jobs", json={"records": [applicant(ds, 3)]}, headers=a).json()["id"]
    assert _contest(client, decision, namesake, "mine?").status_code == 404
    assert client.get(f"/v1/jobs/{job}", headers=namesake).status_code == 404
    # The token's own requests are its own, and the key cannot reach them either.
    own = client.post("/v1/score", json=applicant(ds, 4), headers=namesake)
    assert own.status_code == 200, own.text
    stored = get_prediction(own.json()["request_id"], db=database(get_settings()))
    assert stored.tenant == f"jwt:{a_id}"
    assert _contest(client, own.json()["request_id"], a, "mine?").status_code == 404
    assert _contest(client, own.json()["request_id"], namesake, "mine").status_code == 202
