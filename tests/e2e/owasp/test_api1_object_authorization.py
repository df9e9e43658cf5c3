"""OWASP API1 (broken object-level authorisation): two tenants and each other's ids.

Every route whose path names a stored object is listed in ``CASES`` (the list is checked
against the server's OpenAPI document, so a new route with an id fails here until it has
a case): tenant B, holding tenant A's real id, is answered exactly as for an id that does
not exist — same status, same error, same detail but for the id — and A's object is left
as it was. Ids inside bodies (outcomes naming a request id) are covered the same way.
"""

from __future__ import annotations

import time

from .owasp_env import Owasp

#: Every path with an id, and the test below that covers it.
CASES = {
    "/v1/decisions/{request_id}/contest": "test_another_tenants_decision_cannot_be_contested",
    "/v1/jobs/{job_id}": "test_another_tenants_job_is_not_found",
    "/v1/jobs/{job_id}/results": "test_another_tenants_job_is_not_found",
    "/v1/review-queue/{item_id}/decision": "test_a_scorer_cannot_decide_review_items",
}


def _same_as_unknown(stolen, missing, real: str, unknown: str) -> None:
    """B's answer for A's id is the answer for a made-up id (nothing says it exists)."""
    assert stolen.status_code == missing.status_code == 404, (stolen.text, missing.text)
    s, m = stolen.json(), missing.json()
    assert s["error"] == m["error"]
    assert s["detail"] == m["detail"].replace(unknown, real)


def test_every_route_with_an_id_has_a_case(owasp: Owasp) -> None:
    paths = owasp.server.client().get("/openapi.json").json()["paths"]
    with_ids = {p for p in paths if "{" in p}
    assert with_ids == set(CASES), f"routes with ids lacking an API1 case: {with_ids - set(CASES)}"
    for test in set(CASES.values()):
        assert test in globals(), test


def test_another_tenants_decision_cannot_be_contested(owasp: Owasp) -> None:
    with owasp.client(owasp.key("api1-a")) as a, owasp.client(owasp.key("api1-b")) as b:
        r = a.post("/v1/score", json=owasp.applicant(5))
        assert r.status_code == 200
        request_id = r.json()["request_id"]
        unknown = "0" * len(request_id)
        stolen = b.post(f"/v1/decisions/{request_id}/contest", json={"reason": "hijack"})
        missing = b.post(f"/v1/decisions/{unknown}/contest", json={"reason": "hijack"})
        _same_as_unknown(stolen, missing, request_id, unknown)
        mine = a.post(f"/v1/decisions/{request_id}/contest", json={"reason": "income is higher"})
        assert mine.status_code == 202 and mine.json()["comment"] == "income is higher"
        # Once queued, B still cannot see it, and cannot change A's reason.
        again_b = b.post(f"/v1/decisions/{request_id}/contest", json={"reason": "x"})
        assert again_b.status_code == 404
        again = a.post(f"/v1/decisions/{request_id}/contest", json={"reason": "later"})
        assert again.json()["id"] == mine.json()["id"]
        assert again.json()["comment"] == "income is higher"


def test_another_tenants_job_is_not_found(owasp: Owasp) -> None:
    with owasp.client(owasp.key("api1-job-a")) as a, owasp.client(owasp.key("api1-job-b")) as b:
        r = a.post("/v1/jobs", json={"records": [owasp.applicant(1), owasp.applicant(2)]})
        assert r.status_code == 202, r.text
        job = r.json()["id"]
        deadline = time.monotonic() + 60
        while a.get(f"/v1/jobs/{job}").json()["status"] != "done":
            assert time.monotonic() < deadline
            time.sleep(0.2)
        unknown = "0" * len(job)
        for suffix in ("", "/results"):
            stolen = b.get(f"/v1/jobs/{job}{suffix}")
            missing = b.get(f"/v1/jobs/{unknown}{suffix}")
            _same_as_unknown(stolen, missing, job, unknown)
            assert a.get(f"/v1/jobs/{job}{suffix}").status_code == 200
        rows = a.get(f"/v1/jobs/{job}/results").json()["rows"]
        assert len(rows) == 2 and all("decision" in row for row in rows)


def test_a_scorer_cannot_decide_review_items(owasp: Owasp) -> None:
    """Review items are the review staff's (every tenant's, by design); a tenant's scorer
    key can neither list nor decide them, not even its own contest."""
    with owasp.client(owasp.key("api1-rev-a")) as a, owasp.client(owasp.key("api1-rev-b")) as b:
        request_id = a.post("/v1/score", json=owasp.applicant(7)).json()["request_id"]
        item = a.post(f"/v1/decisions/{request_id}/contest", json={"reason": "r"}).json()["id"]
        for c in (a, b):
            assert c.get("/v1/review-queue").status_code == 403
            r = c.post(f"/v1/review-queue/{item}/decision", json={"outcome": "approve"})
            assert r.status_code == 403
    with owasp.client(owasp.key("api1-analyst", "analyst")) as analyst:
        listed = analyst.get("/v1/review-queue").json()["items"]
        mine = [i for i in listed if i["id"] == item]
        assert mine and mine[0]["status"] == "open"  # untouched by the refused attempts


def test_outcomes_cannot_be_attached_to_another_tenants_decision(owasp: Owasp) -> None:
    with owasp.client(owasp.key("api1-out-a")) as a, owasp.client(owasp.key("api1-out-b")) as b:
        request_id = a.post("/v1/score", json=owasp.applicant(9)).json()["request_id"]
        unknown = "0" * len(request_id)
        later = "2999-01-01T00:00:00Z"
        item = {"request_id": request_id, "defaulted": True, "observed_at": later}
        stolen = b.post("/v1/outcomes", json={"items": [item]})
        missing = b.post("/v1/outcomes", json={"items": [{**item, "request_id": unknown}]})
        assert stolen.status_code == missing.status_code == 422, stolen.text
        assert stolen.json()["detail"] == missing.json()["detail"].replace(unknown, request_id)
        ok = a.post("/v1/outcomes", json={"items": [{**item, "defaulted": False}]})
        assert ok.status_code == 200, ok.text
        # B's refused attempt recorded nothing: A's outcome is new, not an update of B's.
        assert ok.json() == {"inserted": 1, "updated": 0, "unchanged": 0}


def test_ids_are_not_guessable(owasp: Owasp) -> None:
    with owasp.client(owasp.key("api1-ids")) as a:
        ids = [a.post("/v1/score", json=owasp.applicant(i)).json()["request_id"] for i in (1, 2)]
    assert all(len(i) == 32 and int(i, 16) for i in ids)
    assert abs(int(ids[0], 16) - int(ids[1], 16)) > 2**64  # not a counter
