"""OWASP API8 (security misconfiguration), on the wire.

Security headers on every kind of answer (success, each error status, probes, the
document, Starlette's own 404/405); no CORS grant to a foreign origin (preflight or
simple request); no debug behaviour: errors come in the one JSON shape with a request id
and no stack trace, paths or library versions; methods outside the API (TRACE, and
OPTIONS without CORS) are refused; ``/metrics`` needs its token; the documentation pages
run under a script policy.
"""

from __future__ import annotations

import json
import re

import httpx

from greenscore.serving.dlq import list_dead_letters
from greenscore.store import database

from .owasp_env import METRICS_TOKEN, Owasp

HEADERS = {
    "x-content-type-options": "nosniff",
    "cache-control": "no-store",
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",
}
LEAKS = re.compile(r"Traceback|File \"|site-packages|/src/greenscore|line \d+, in|uvicorn/|\.py\b")


def _answers(owasp: Owasp) -> dict[str, httpx.Response]:
    """One answer of each kind the service gives."""
    key = owasp.key("api8")
    analyst = owasp.key("api8-analyst", "analyst")
    with owasp.server.client() as anon, owasp.client(key) as c, owasp.client(analyst) as a:
        return {
            "200 score": c.post("/v1/score", json=owasp.applicant(0)),
            "200 live": anon.get("/health/live"),
            "200 openapi": anon.get("/openapi.json"),
            "400 unreadable json": c.post(
                "/v1/score", content=b"{not json", headers={"content-type": "application/json"}
            ),
            "401 no credentials": anon.post("/v1/score", json={}),
            "403 role": a.post("/v1/score", json=owasp.applicant(0)),
            "404 unknown route": c.get("/v1/nothing-here"),
            "404 unknown id": c.get("/v1/jobs/" + "0" * 32),
            "405 method": c.delete("/v1/score"),
            "413 body": c.post(
                "/v1/score", content=b"x" * 300_000, headers={"content-type": "application/json"}
            ),
            "422 field": c.post("/v1/score", json={**owasp.applicant(0), "income": "lots"}),
            "400 bad utf-8": c.post(
                "/v1/score",
                content=b'{"income": "\xff\xfe"}',
                headers={"content-type": "application/json"},
            ),
        }


def test_security_headers_on_every_kind_of_answer(owasp: Owasp) -> None:
    for kind, r in _answers(owasp).items():
        assert str(r.status_code) == kind.split()[0], (kind, r.status_code, r.text[:200])
        for name, value in HEADERS.items():
            assert r.headers.get(name) == value, (kind, name, r.headers.get(name))
        assert "default-src 'none'" in r.headers["content-security-policy"], kind
        assert r.headers.get("x-request-id"), kind


def test_errors_have_one_shape_and_leak_nothing(owasp: Owasp) -> None:
    for kind, r in _answers(owasp).items():
        if r.status_code < 400:
            continue
        body = r.json()
        assert LEAKS.search(r.text) is None, (kind, r.text[:300])
        if "detail" in body and isinstance(body["detail"], list):  # FastAPI's 422 shape
            assert all("loc" in e and "msg" in e for e in body["detail"]), kind
        else:
            assert set(body) == {"error", "detail", "request_id"}, (kind, body)
            assert body["request_id"] == r.headers["x-request-id"], kind
    assert "Traceback" not in owasp.server.tail()


def test_no_header_discloses_software_versions(owasp: Owasp) -> None:
    with owasp.server.client() as c:
        r = c.get("/health/live")
    assert "x-powered-by" not in r.headers
    assert not re.search(r"\d", r.headers.get("server", "")), r.headers.get("server")


def test_no_cors_grant_to_a_foreign_origin(owasp: Owasp) -> None:
    origin = "https://evil.example"
    with owasp.client(owasp.key("api8-cors")) as c:
        preflight = c.options(
            "/v1/score",
            headers={
                "Origin": origin,
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "x-api-key, content-type",
            },
        )
        simple = c.post("/v1/score", json=owasp.applicant(0), headers={"Origin": origin})
    assert preflight.status_code in (400, 404, 405), preflight.status_code
    for r in (preflight, simple):
        granted = {k for k in r.headers if k.lower().startswith("access-control-allow")}
        assert not granted, (r.status_code, dict(r.headers))


def test_trace_and_unknown_methods_are_refused_without_echo(owasp: Owasp) -> None:
    with owasp.client(owasp.key("api8-trace")) as c:
        for method in ("TRACE", "PUT", "PATCH", "DELETE"):
            r = c.request(method, "/v1/score", headers={"X-Echo-Me": "canary-8f3"})
            assert r.status_code == 405, (method, r.status_code)
            assert "canary-8f3" not in r.text and owasp.keys["api8-trace"] not in r.text


def test_metrics_need_the_token(owasp: Owasp) -> None:
    with owasp.server.client() as c:
        assert c.get("/metrics").status_code == 401
        assert c.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 401
        r = c.get("/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"})
        assert r.status_code == 200 and "greenscore_requests_total" in r.text


def test_docs_run_under_a_script_policy(owasp: Owasp) -> None:
    with owasp.server.client() as c:
        docs = c.get("/docs")
    assert docs.status_code == 200
    policy = docs.headers["content-security-policy"]
    assert (
        "script-src 'self' 'sha256-" in policy
        and "unsafe-inline" not in policy.split("script-src")[1].split(";")[0]
    )
    assert "cdn.jsdelivr" not in docs.text  # served from this host, not a third party


def test_non_finite_numbers_and_nul_characters_are_422_and_keep_nothing(owasp: Owasp) -> None:
    """Input standard JSON cannot hold is the caller's mistake (422 naming the field), not a
    fault that is kept for replay or answered with a parser's error."""
    letters = len(list_dead_letters(status=None, db=database(owasp.settings)))
    body = json.dumps(owasp.applicant(0))
    with owasp.client(owasp.key("api8-nonfinite")) as c:
        for literal in ("NaN", "Infinity", "-Infinity", "1e309"):
            raw = body.replace('"income": ', f'"income": {literal}, "was": ', 1)
            r = c.post("/v1/score", content=raw, headers={"content-type": "application/json"})
            assert r.status_code == 422, r.text
            assert r.json()["detail"][0]["loc"] == ["body", "income"]
        r = c.post("/v1/jobs", json={"file": "a\u0000b.csv"})
        assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "file"]
    assert len(list_dead_letters(status=None, db=database(owasp.settings))) == letters
    assert "Traceback" not in owasp.server.tail()
