"""The API in-process against a caller's worst input: non-finite numbers and NUL characters
answer 422 naming the field with nothing stored; security headers on every answer; the
docs served from this host under a Content-Security-Policy; /metrics behind a setting;
control and bidirectional characters never reflected."""

from __future__ import annotations

import base64
import hashlib
import json
import re
import sys
import unicodedata
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

sys.path.insert(0, str(Path(__file__).parents[1] / "unit"))
from serving_bundle import applicant, shared  # noqa: E402

from greenscore.config import Settings, get_settings, use_settings  # noqa: E402
from greenscore.security import create_key  # noqa: E402
from greenscore.serving.app import create_app  # noqa: E402
from greenscore.serving.dlq import list_dead_letters  # noqa: E402
from greenscore.serving.json_guard import HAS_NUL, NOT_FINITE, NOT_UTF8, unreadable_json  # noqa: E402
from greenscore.serving.model_store import ModelStore  # noqa: E402
from greenscore.serving.routers.health import (  # noqa: E402
    METRICS_LOOPBACK_ONLY,
    METRICS_TOKEN_NEEDED,
)
from greenscore.store import database  # noqa: E402

#: Literals Python's json reads and standard JSON has not (1e309 and a 400-digit integer
#: overflow a float).
NON_FINITE = ["NaN", "Infinity", "-Infinity", "1e309", "-1E+309", "1" + "0" * 400]
SECURITY = {
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",
}


@pytest.fixture(scope="module")
def api(tmp_path_factory):
    home = tmp_path_factory.mktemp("hardening")
    settings = Settings(home=home, environment="test")
    settings.serving.energy_calibration = False
    settings.serving.job_worker = False
    use_settings(settings)
    ds, bundle = shared()
    store = ModelStore(settings.serving, loader=lambda uri: bundle)
    store.load("good")
    app = create_app(settings, store=store)
    scorer = create_key(name="scorer", role="scorer", settings=get_settings())[1]
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client, ds, {"X-API-Key": scorer, "content-type": "application/json"}
    use_settings(None)


def _strict(text: str):
    """Parse as standard JSON (no NaN/Infinity literals)."""

    def refuse(literal: str):
        raise ValueError(f"non-standard JSON literal {literal}")

    return json.loads(text, parse_constant=refuse)


def _with(body: dict, field: str, literal: str) -> str:
    """``body`` as JSON text with ``field`` set to a raw literal."""
    parts = [
        f"{json.dumps(k)}: {literal if k == field else json.dumps(v)}" for k, v in body.items()
    ]
    return "{" + ", ".join(parts) + "}"


def _names(response, loc: list, message: str | None = None) -> None:
    assert response.status_code == 422, response.text
    errors = _strict(response.text)["detail"]
    assert any(e["loc"] == loc for e in errors), errors
    if message is not None:
        assert any(e["msg"] == message for e in errors if e["loc"] == loc), errors


@pytest.mark.parametrize("literal", NON_FINITE)
def test_non_finite_numbers_are_422_naming_the_field_and_nothing_is_kept(api, literal) -> None:
    client, ds, headers = api
    letters = len(list_dead_letters(status=None, limit=1000, db=database(get_settings())))
    body = applicant(ds, 0)
    r = client.post("/v1/score", content=_with(body, "income", literal), headers=headers)
    _names(r, ["body", "income"])
    batch = '{"applicants": [' + json.dumps(body) + ", " + _with(body, "income", literal) + "]}"
    r = client.post("/v1/score/batch", content=batch, headers=headers)
    assert r.status_code in (200, 422), r.text
    if r.status_code == 422:  # the whole batch refused ...
        _names(r, ["body", "applicants", 1, "income"])
    else:  # ... or only that applicant, naming the field
        item = _strict(r.text)["results"][1]
        assert item["status"] == 422 and "income" in item["error"]["detail"]
    job = '{"records": [' + _with(body, "income", literal) + "]}"
    _names(client.post("/v1/jobs", content=job, headers=headers), ["body", "records", 0, "income"])
    r = client.post(
        "/v1/decisions/abc/contest", content=f'{{"reason": {literal}}}', headers=headers
    )
    _names(r, ["body", "reason"])
    # An applicant's extra field never reaches the model, but cannot hold NaN either.
    if literal in ("NaN", "Infinity", "-Infinity"):
        extra = _with(body | {"notes": 0}, "notes", literal)
        _names(client.post("/v1/score", content=extra, headers=headers), ["body", "notes"])
    assert len(list_dead_letters(status=None, limit=1000, db=database(get_settings()))) == letters


def test_nul_characters_are_422_and_create_nothing(api) -> None:
    client, ds, headers = api
    home = client.app.state.settings.home
    letters = len(list_dead_letters(status=None, limit=1000, db=database(get_settings())))
    before = sorted(p.name for p in home.rglob("*"))
    r = client.post("/v1/jobs", json={"file": "input\u0000.csv"}, headers=headers)
    _names(r, ["body", "file"], HAS_NUL)
    r = client.post("/v1/decisions/abc/contest", json={"reason": "a\u0000b"}, headers=headers)
    _names(r, ["body", "reason"], HAS_NUL)
    r = client.post("/v1/score", json=applicant(ds, 0) | {"notes\u0000": 1}, headers=headers)
    _names(r, ["body", "notes\u0000"], HAS_NUL)
    assert len(list_dead_letters(status=None, limit=1000, db=database(get_settings()))) == letters
    assert sorted(p.name for p in home.rglob("*")) == before


def _strings(value: object) -> list[str]:
    if isinstance(value, dict):
        return [s for k, v in value.items() for s in (*_strings(k), *_strings(v))]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return [value] if isinstance(value, str) else []


@pytest.mark.parametrize(
    "sent",
    ["rent\u202eLIVE", "\x1b[31mred\x1b[0m", "own\u2066er\u2069", "x\u200b", "a\u2028b"],
    ids=["rtl-override", "ansi-escape", "bidi-isolate", "zero-width", "line-separator"],
)
def test_control_and_bidi_characters_are_not_reflected(api, sent: str) -> None:
    client, ds, headers = api
    body = applicant(ds, 0)
    field = next(k for k, v in body.items() if isinstance(v, str) and k != "applicant_id")
    for r in (
        client.post("/v1/score", json=body | {field: sent}, headers=headers),
        client.post(
            "/v1/score/batch", json={"applicants": [body | {field: sent}]}, headers=headers
        ),
    ):
        assert r.status_code == 200, r.text
        answer = r.json()
        hidden = {
            f"U+{ord(c):04X}"
            for text in _strings(answer)
            for c in text
            if unicodedata.category(c) in ("Cc", "Cf", "Zl", "Zp")
        }
        assert hidden == set(), hidden
        result = answer["results"][0]["result"] if "results" in answer else answer
        (flag,) = [f for f in result["flags"] if f["field"] == field]
        expected = "".join(c if c.isprintable() else f"\\u{ord(c):04x}" for c in sent)
        assert (flag["issue"], flag["value"]) == ("unknown_category", expected)


def test_validation_errors_are_standard_json_whatever_the_input(api) -> None:
    client, _, headers = api
    r = client.get("/v1/review-queue", params={"limit": "NaN"}, headers=headers)
    assert r.status_code in (403, 422)  # a scorer may not list; never a 5xx
    r = client.post("/v1/score", content=b'{"income": NaN', headers=headers)  # not JSON text
    assert r.status_code == 400 and _strict(r.text)["error"] == "BadRequestError"
    r = client.post("/v1/score", content='{"income": "x"}', headers=headers)
    assert r.status_code == 422 and _strict(r.text)["detail"]
    assert NOT_FINITE == "Input should be a finite number"  # pydantic's own wording


def test_every_answer_carries_the_security_headers(api) -> None:
    client, ds, headers = api
    answers = [
        client.get("/health/live"),
        client.post("/v1/score", json=applicant(ds, 0), headers=headers),
        client.post("/v1/score", json=applicant(ds, 0)),  # 401
        client.post("/v1/score", json={}, headers=headers),  # 422
        client.post("/v1/score", content="{", headers=headers),  # 400 (the app's)
        client.post("/v1/score", content=b"\xff", headers=headers),  # 400 (the guard's)
        client.post("/v1/score", content=b"x" * 2_000_000, headers=headers),  # 413
        client.post("/v1/decisions/nope/contest", json={"reason": "x"}, headers=headers),  # 404
        client.get("/openapi.json"),
    ]
    assert [a.status_code for a in answers] == [200, 200, 401, 422, 400, 400, 413, 404, 200]
    for answer in answers:
        for name, value in SECURITY.items():
            assert answer.headers[name] == value, (answer.url, name)
        assert answer.headers["cache-control"] == "no-store"
        assert "frame-ancestors 'none'" in answer.headers["content-security-policy"]
        assert "strict-transport-security" not in answer.headers  # no TLS here


def test_hsts_when_the_service_terminates_tls(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path, environment="test")
    settings.serving.energy_calibration = False
    settings.serving.job_worker = False
    settings.serving.tls_cert = tmp_path / "cert.pem"  # read by uvicorn, not by the app
    use_settings(settings)
    try:
        _, bundle = shared()
        store = ModelStore(settings.serving, loader=lambda uri: bundle)
        store.load("good")
        with TestClient(create_app(settings, store=store)) as client:
            r = client.get("/health/live")
        assert r.headers["strict-transport-security"].startswith("max-age=31536000")
    finally:
        use_settings(None)


def test_docs_are_served_from_this_host_under_a_policy(api) -> None:
    client, _, _ = api
    for page, asset in (("/docs", "swagger-ui-bundle.js"), ("/redoc", "redoc.standalone.js")):
        r = client.get(page)
        assert r.status_code == 200
        assert "cdn" not in r.text and "https://" not in r.text
        assert f"/docs/assets/{asset}" in r.text
        policy = r.headers["content-security-policy"]
        assert policy.startswith("default-src 'none'; script-src 'self'")
        assert "frame-ancestors 'none'" in policy and r.headers["x-frame-options"] == "DENY"
        for script in re.findall(r"<script>(.*?)</script>", r.text, re.S):
            digest = base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()
            assert f"'sha256-{digest}'" in policy
        js = client.get(f"/docs/assets/{asset}")
        assert js.status_code == 200 and len(js.content) > 100_000
        assert js.headers["cache-control"].startswith("public")
    assert client.get("/docs/assets/swagger-ui.css").status_code == 200


def test_metrics_are_loopback_only_unless_a_token_or_public(api) -> None:
    client, _, _ = api
    serving = client.app.state.settings.serving
    r = client.get("/metrics")  # the test client's address is not loopback
    assert r.status_code == 403 and r.json()["detail"] == METRICS_LOOPBACK_ONLY
    with TestClient(client.app, client=("127.0.0.1", 50000)) as local:
        assert local.get("/metrics").status_code == 200
        assert "greenscore_requests_total" in local.get("/metrics").text
    serving.metrics_token = SecretStr("s3cret-token")
    try:
        for auth in (None, "Bearer wrong", "Basic s3cret-token", "Bearer s3cret-tokenx"):
            r = client.get("/metrics", headers={"Authorization": auth} if auth else {})
            assert r.status_code == 401 and r.json()["detail"] == METRICS_TOKEN_NEEDED
        r = client.get("/metrics", headers={"Authorization": "Bearer s3cret-token"})
        assert r.status_code == 200 and "greenscore_requests_total" in r.text
        with TestClient(client.app, client=("127.0.0.1", 50000)) as local:
            assert local.get("/metrics").status_code == 401  # the token binds loopback too
    finally:
        serving.metrics_token = None
    serving.metrics_public = True
    try:
        assert client.get("/metrics").status_code == 200
    finally:
        serving.metrics_public = False


#: Bodies that are not JSON text: broken syntax, and bytes that are not UTF-8 (UTF-16 and
#: UTF-32, which Python's json would guess and accept, included).
NOT_JSON_TEXT = {
    "syntax": b'{"income": 1,',
    "truncated": b'{"income": ',
    "invalid-utf8-in-string": b'{"region": "\xff\xfe"}',
    "latin-1": '{"region": "caf\u00e9"}'.encode("latin-1"),
    "lone-continuation-byte": b"\x80",
    "utf-16-bom": '{"income": 1}'.encode("utf-16"),
    "utf-16le-no-bom": '{"income": 1}'.encode("utf-16-le"),
    "utf-32": '{"income": 1}'.encode("utf-32"),
}


@pytest.mark.parametrize("body", NOT_JSON_TEXT.values(), ids=NOT_JSON_TEXT.keys())
@pytest.mark.parametrize("route", ["/v1/score", "/v1/score/batch", "/v1/jobs"])
def test_a_body_that_is_not_json_text_is_one_400_whatever_the_reason(
    api, route: str, body: bytes
) -> None:
    client, _, headers = api
    r = client.post(route, content=body, headers=headers)
    answer = _strict(r.text)
    assert r.status_code == 400, r.text
    assert answer["error"] == "BadRequestError" and set(answer) == {"error", "detail", "request_id"}
    assert answer["detail"].startswith("the body is not JSON text: "), answer
    assert answer["request_id"] == r.headers["x-request-id"]


def test_utf8_bodies_are_read_and_others_named_by_their_first_bad_byte(api) -> None:
    client, ds, headers = api
    field = next(
        k for k, v in applicant(ds, 0).items() if isinstance(v, str) and k != "applicant_id"
    )
    body = json.dumps(applicant(ds, 0) | {field: "caf\u00e9 \u4e2d"}, ensure_ascii=False)
    for sent in (body.encode("utf-8"), b"\xef\xbb\xbf" + body.encode("utf-8")):  # BOM let through
        r = client.post("/v1/score", content=sent, headers=headers)
        assert r.status_code == 200, r.text
    assert unreadable_json(b'{"a": "x"}') is None and unreadable_json("\u00e9".encode()) is None
    assert unreadable_json(b'{"a": "\xc3"}') == NOT_UTF8.format(pos=7)  # cut multi-byte char
    assert unreadable_json(b'{"a"\x00: 1, "\xff"}') == NOT_UTF8.format(pos=4)  # NUL is first
    r = client.post(
        "/v1/score", content=b'{"a": "\xff"}', headers=headers | {"content-type": "text/plain"}
    )
    assert r.status_code == 415, r.text  # not JSON at all: said so, not a schema puzzle
    assert "Content-Type: application/json, not 'text/plain'" in r.json()["detail"]
    body = json.dumps(applicant(ds, 0)).encode()
    r = client.post("/v1/score", content=body, headers=headers | {"content-encoding": "gzip"})
    assert r.status_code == 415 and "uncompressed" in r.json()["detail"], r.text
    r = client.post("/v1/score", content=body, headers=headers | {"content-encoding": "identity"})
    assert r.status_code == 200, r.text


def test_starlettes_own_answers_have_the_one_error_shape(api) -> None:
    client, _, headers = api
    r = client.post("/v1/score", content=b"\xff\xfe{", headers=headers)  # not UTF-8
    assert r.status_code == 400 and r.json()["error"] == "BadRequestError"
    assert r.json()["detail"] == NOT_UTF8.format(pos=0)
    assert r.json()["request_id"] == r.headers["x-request-id"]
    r = client.get("/v1/nothing-here")
    assert r.status_code == 404 and r.json()["error"] == "NotFoundError"
    r = client.get("/v1/score", headers=headers)
    assert r.status_code == 405 and r.json()["error"] == "MethodNotAllowedError"
    assert "POST" in r.headers["allow"]
    doc = client.get("/openapi.json").json()
    answers = doc["paths"]["/v1/jobs"]["post"]["responses"]
    assert {"400", "408", "422"} <= set(answers)
    shapes = answers["422"]["content"]["application/json"]["schema"]["anyOf"]
    assert {s["$ref"].rsplit("/", 1)[1] for s in shapes} == {
        "ValidationErrorResponse",
        "ErrorResponse",
    }
