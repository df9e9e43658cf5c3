"""``POST /v1/outcomes`` over the app: a tenant records outcomes of its own decisions only
(another's id is answered as an unknown one), all or none, idempotently; bad input is a 422
naming the field; the load is audited."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

sys.path.insert(0, str(Path(__file__).parents[1] / "unit"))
from serving_bundle import applicant, shared  # noqa: E402

from greenscore.config import Settings, get_settings, use_settings  # noqa: E402
from greenscore.monitoring.outcomes import AUDIT_ACTION  # noqa: E402
from greenscore.security import create_key  # noqa: E402
from greenscore.security.audit import find_events  # noqa: E402
from greenscore.serving.app import create_app  # noqa: E402
from greenscore.serving.model_store import ModelStore  # noqa: E402
from greenscore.store import database  # noqa: E402
from greenscore.store.outcomes import outcome_rows  # noqa: E402

LATER = "2030-01-31T00:00:00+00:00"


@pytest.fixture(scope="module")
def api(tmp_path_factory):
    home = tmp_path_factory.mktemp("outcomes")
    settings = Settings(home=home, environment="test")
    settings.serving.energy_calibration = False
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
    with TestClient(app) as client:
        yield (
            client,
            ds,
            {name: (kid, {"X-API-Key": secret}) for name, (kid, secret) in keys.items()},
        )
    use_settings(None)


def _score(client, ds, i: int, headers: dict) -> str:
    r = client.post("/v1/score", json=applicant(ds, i), headers=headers)
    assert r.status_code == 200, r.text
    return r.json()["request_id"]


def _post(client, headers: dict, *items: dict):
    return client.post("/v1/outcomes", json={"items": list(items)}, headers=headers)


def _outcome(request_id: str, defaulted: bool = False, observed_at: str = LATER) -> dict:
    return {"request_id": request_id, "defaulted": defaulted, "observed_at": observed_at}


def _without_id(body: dict) -> dict:
    return {k: v for k, v in body.items() if k != "request_id"}


def _rows() -> dict[str, dict]:
    return {r["request_id"]: r for r in outcome_rows(db=database(get_settings()))}


def test_a_tenant_records_outcomes_of_its_decisions_idempotently(api) -> None:
    client, ds, keys = api
    a_id, a = keys["a"]
    ids = [_score(client, ds, i, a) for i in range(3)]
    first = _post(client, a, *(_outcome(r, defaulted=k == 0) for k, r in enumerate(ids)))
    assert first.status_code == 200, first.text
    assert first.json() == {"inserted": 3, "updated": 0, "unchanged": 0}
    again = _post(client, a, *(_outcome(r, defaulted=k == 0) for k, r in enumerate(ids)))
    assert again.json() == {"inserted": 0, "updated": 0, "unchanged": 3}
    # A later observation replaces the stored one (current at six months, defaulted by twelve).
    later = _post(client, a, _outcome(ids[1], defaulted=True, observed_at="2031-01-31T00:00Z"))
    assert later.json() == {"inserted": 0, "updated": 1, "unchanged": 0}
    rows = _rows()
    assert [rows[r]["defaulted"] for r in ids] == [True, True, False]
    events = find_events(action=AUDIT_ACTION, limit=10, settings=get_settings())
    assert {e["actor"] for e in events} == {a_id}
    assert any(e["details"]["inserted"] == 3 for e in events)


def test_another_tenants_decision_is_answered_as_an_unknown_one(api) -> None:
    client, ds, keys = api
    (_, a), (_, b) = keys["a"], keys["b"]
    theirs = _score(client, ds, 10, a)
    mine = _score(client, ds, 11, b)
    unknown = _post(client, b, _outcome(mine), _outcome("f" * 32))
    stolen = _post(client, b, _outcome(mine), _outcome(theirs))
    assert unknown.status_code == stolen.status_code == 422
    assert _without_id(stolen.json()) == _without_id(unknown.json()) | {
        "detail": unknown.json()["detail"].replace("f" * 32, theirs)
    }
    assert "row 1" in stolen.json()["detail"]
    # All or none: b's own outcome in the refused load was not recorded either.
    assert mine not in _rows() and theirs not in _rows()
    assert _post(client, b, _outcome(mine)).json()["inserted"] == 1


def test_an_applicant_id_names_the_tenants_own_latest_decision(api) -> None:
    client, ds, keys = api
    (_, a), (_, b) = keys["a"], keys["b"]
    own = _score(client, ds, 20, a)
    other = _score(client, ds, 20, b)  # the same applicant, later, with another lender
    applicant_id = str(applicant(ds, 20)[ds.spec.id_column])
    r = _post(client, a, {"applicant_id": applicant_id, "defaulted": True, "observed_at": LATER})
    assert r.status_code == 200, r.text
    rows = _rows()
    assert rows[own]["defaulted"] is True and other not in rows
    nobody = {"applicant_id": "no-such-applicant", "defaulted": True, "observed_at": LATER}
    assert _post(client, a, nobody).status_code == 422


@pytest.mark.parametrize(
    ("item", "field"),
    [
        ({"request_id": "x", "defaulted": "maybe", "observed_at": LATER}, "defaulted"),
        ({"request_id": "x", "defaulted": True}, "observed_at"),
        ({"request_id": "x", "defaulted": True, "observed_at": "2030-01-31T00:00"}, "observed_at"),
        ({"request_id": "x", "defaulted": True, "observed_at": "soon"}, "observed_at"),
        (
            {"request_id": "x", "defaulted": True, "observed_at": "0001-01-01T00:00+01:00"},
            "observed_at",
        ),
        ({**_outcome("x"), "loan_date": "9999-12-31T23:00-05:00"}, "loan_date"),
        ({"request_id": "x", "defaulted": True, "observed_at": LATER, "pd": 0.1}, "pd"),
    ],
)
def test_bad_input_is_a_422_naming_the_field(api, item: dict, field: str) -> None:
    client, _, keys = api
    r = _post(client, keys["a"][1], item)
    assert r.status_code == 422
    (error,) = r.json()["detail"]
    assert error["loc"] == ["body", "items", 0, field]


def test_an_outcome_names_exactly_one_decision(api) -> None:
    client, _, keys = api
    both = {"request_id": "x", "applicant_id": "y", "defaulted": True, "observed_at": LATER}
    neither = {"defaulted": True, "observed_at": LATER}
    for item in (both, neither):
        r = _post(client, keys["a"][1], item)
        assert r.status_code == 422
        assert "exactly one of request_id and applicant_id" in r.json()["detail"][0]["msg"]
    empty = client.post("/v1/outcomes", json={"items": []}, headers=keys["a"][1])
    assert empty.status_code == 422 and empty.json()["detail"][0]["loc"] == ["body", "items"]


def test_the_role_table_decides_who_may_record(api) -> None:
    client, _, keys = api
    assert _post(client, keys["analyst"][1], _outcome("x")).status_code == 403
    assert client.post("/v1/outcomes", json={"items": [_outcome("x")]}).status_code == 401
