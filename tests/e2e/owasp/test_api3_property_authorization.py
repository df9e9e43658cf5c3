"""OWASP API3 (broken object property-level authorisation): mass assignment and over-sharing.

Inbound: fields a caller must not set — the decision's tenant, actor, request id, the
decision itself, a job's owner or status, a review item's tenant — are sent beside valid
bodies, and the server keeps its own values (another tenant still cannot reach the
object; the id is the server's; nothing the caller claimed is echoed or stored). Outbound:
every JSON answer carries only the properties its OpenAPI schema declares, and never the
applicant's personal fields (the e-mail sent with each applicant) or raw id.
"""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy import text

from greenscore.store import database

from .owasp_env import Owasp

INJECTED = {
    "tenant": "api3-victim",
    "actor": "api3-victim",
    "request_id": "f" * 32,
    "decision": "approve",
    "probability_of_default": 0.0,
    "score": 999,
    "role": "admin",
    "model": {"name": "evil", "version": "1"},
}


def _schema_of(document: dict, path: str, method: str, status: str) -> dict:
    content = document["paths"][path][method]["responses"][status]["content"]
    schema = content["application/json"]["schema"]
    return _resolve(document, schema)


def _resolve(document: dict, schema: dict) -> dict:
    while "$ref" in schema:
        schema = document["components"]["schemas"][schema["$ref"].split("/")[-1]]
    return schema


def _only_declared(document: dict, schema: dict, value: Any, where: str) -> None:
    """Every object in ``value`` has only the properties its schema names."""
    schema = _resolve(document, schema)
    if "anyOf" in schema:
        if value is None:
            return
        options = [_resolve(document, s) for s in schema["anyOf"] if s.get("type") != "null"]
        schema = options[0]
    if isinstance(value, dict) and "properties" in schema:
        extra = set(value) - set(schema["properties"])
        assert not extra, f"{where}: undeclared properties {extra}"
        for name, item in value.items():
            _only_declared(document, schema["properties"][name], item, f"{where}.{name}")
    elif isinstance(value, list) and "items" in schema:
        for k, item in enumerate(value):
            _only_declared(document, schema["items"], item, f"{where}[{k}]")


def test_a_score_request_cannot_set_the_owner_id_or_decision(owasp: Owasp) -> None:
    with owasp.client(owasp.key("api3-a")) as a, owasp.client(owasp.key("api3-victim")) as v:
        body = {**owasp.applicant(11), **INJECTED}
        r = a.post("/v1/score", json=body)
        assert r.status_code == 200, r.text
        out = r.json()
        assert out["request_id"] != INJECTED["request_id"]
        assert out["model"]["name"] != "evil" and out["score"] != 999
        honest = a.post("/v1/score", json=owasp.applicant(11)).json()
        assert out["decision"] == honest["decision"]
        assert out["probability_of_default"] == honest["probability_of_default"]
        # The decision is A's: the tenant it claimed cannot contest it, A can.
        contest = f"/v1/decisions/{out['request_id']}/contest"
        assert v.post(contest, json={"reason": "mine?"}).status_code == 404
        assert a.post(contest, json={"reason": "mine"}).status_code == 202
    with database(owasp.settings).connect() as conn:
        row = conn.execute(
            text("SELECT tenant, payload FROM predictions WHERE request_id = :r"),
            {"r": out["request_id"]},
        ).one()
        assert row.tenant != "api3-victim"
        assert "api3-victim" not in str(row.payload)
        forged = conn.execute(
            text("SELECT COUNT(*) FROM predictions WHERE request_id = :r"),
            {"r": INJECTED["request_id"]},
        ).scalar_one()
        assert forged == 0


def test_a_job_cannot_set_its_owner_or_status(owasp: Owasp) -> None:
    with owasp.client(owasp.key("api3-job")) as a, owasp.client(owasp.key("api3-job-v")) as v:
        victim = v.get("/v1/jobs/" + "0" * 32)
        assert victim.status_code == 404
        r = a.post(
            "/v1/jobs",
            json={
                "records": [{**owasp.applicant(1), **INJECTED}],
                "id": "0" * 32,
                "actor": "api3-job-v",
                "status": "done",
                "done": 1,
                "total": 0,
            },
        )
        assert r.status_code == 202, r.text
        job = r.json()
        assert job["id"] != "0" * 32 and job["total"] == 1 and job["status"] == "queued"
        assert v.get(f"/v1/jobs/{job['id']}").status_code == 404  # not the claimed owner's
        deadline = time.monotonic() + 60
        while (s := a.get(f"/v1/jobs/{job['id']}").json())["status"] != "done":
            assert time.monotonic() < deadline
            time.sleep(0.2)
        row = a.get(f"/v1/jobs/{job['id']}/results").json()["rows"][0]
        assert row["request_id"] != INJECTED["request_id"] and row["model"]["name"] != "evil"
        assert s["total"] == 1


def test_a_review_decision_cannot_rewrite_the_item(owasp: Owasp) -> None:
    with owasp.client(owasp.key("api3-rev")) as a:
        request_id = a.post("/v1/score", json=owasp.applicant(12)).json()["request_id"]
        item = a.post(f"/v1/decisions/{request_id}/contest", json={"reason": "r"}).json()
    with owasp.client(owasp.key("api3-analyst", "analyst")) as analyst:
        r = analyst.post(
            f"/v1/review-queue/{item['id']}/decision",
            json={
                "outcome": "approve",
                "note": "checked",
                "request_id": "f" * 32,
                "tenant": "api3-victim",
                "kind": "grey_band",
                "decided_by": "someone-else",
            },
        )
    assert r.status_code in (200, 422), r.text
    if r.status_code == 200:
        decided = r.json()
        assert decided["request_id"] == request_id and decided["kind"] == "contest"
        assert decided.get("tenant") != "api3-victim"
        assert "someone-else" not in str(decided)


def test_answers_carry_only_declared_properties_and_no_personal_fields(owasp: Owasp) -> None:
    document = owasp.server.client().get("/openapi.json").json()
    applicant = owasp.applicant(13)
    email = applicant["email"]
    id_value = str(applicant[owasp.ds.spec.id_column])
    seen: list[str] = []
    with owasp.client(owasp.key("api3-out")) as a:
        score = a.post("/v1/score", json=applicant)
        _only_declared(
            document, _schema_of(document, "/v1/score", "post", "200"), score.json(), "score"
        )
        batch = a.post("/v1/score/batch", json={"applicants": [applicant, {"x": 1}]})
        schema = _schema_of(document, "/v1/score/batch", "post", "200")
        _only_declared(document, schema, batch.json(), "batch")
        job = a.post("/v1/jobs", json={"records": [applicant]}).json()
        schema = _schema_of(document, "/v1/jobs", "post", "202")
        _only_declared(document, schema, job, "job")
        deadline = time.monotonic() + 60
        while (status := a.get(f"/v1/jobs/{job['id']}")).json()["status"] != "done":
            assert time.monotonic() < deadline
            time.sleep(0.2)
        schema = _schema_of(document, "/v1/jobs/{job_id}", "get", "200")
        _only_declared(document, schema, status.json(), "job status")
        results = a.get(f"/v1/jobs/{job['id']}/results")
        contest = a.post(
            f"/v1/decisions/{score.json()['request_id']}/contest", json={"reason": "r"}
        )
        schema = _schema_of(document, "/v1/decisions/{request_id}/contest", "post", "202")
        _only_declared(document, schema, contest.json(), "contest")
        seen += [score.text, batch.text, status.text, results.text, contest.text]
    with owasp.client(owasp.key("api3-out-analyst", "analyst")) as analyst:
        queue = analyst.get("/v1/review-queue", params={"status": "all"})
        schema = _schema_of(document, "/v1/review-queue", "get", "200")
        _only_declared(document, schema, queue.json(), "review queue")
        models = analyst.get("/v1/admin/models")
        schema = _schema_of(document, "/v1/admin/models", "get", "200")
        _only_declared(document, schema, models.json(), "models")
        seen += [queue.text, models.text]
    for body in seen:
        assert email not in body
        assert f'"{id_value}"' not in body and f":{id_value}," not in body
