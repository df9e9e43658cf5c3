"""OWASP API2 (broken authentication): expired, revoked, replayed, forged and malformed
credentials, each refused with 401 by the real server, and nothing done on their behalf.

Replayed: a captured token or key keeps working only while its grant stands; after the
key is revoked, or the token's signing key retired, the same bytes are refused. Forged:
a token signed with another secret under the real key id, with ``alg: none``, with the
role or MFA claim edited, for another audience or issuer; a key with a real id and a
made-up secret. A refused caller learns nothing about which ids exist.
"""

from __future__ import annotations

import base64
import json
import time
import uuid

import jwt
from sqlalchemy import update

from greenscore.security import revoke_key, rotate_signing_key
from greenscore.security.tokens import active_kid, retire_signing_key
from greenscore.store import database
from greenscore.store.tables.security import ApiKey

from .owasp_env import Owasp


def _refused(r, *fragments: str) -> None:
    assert r.status_code == 401, (r.status_code, r.text)
    assert r.headers.get("www-authenticate"), r.headers
    body = r.json()
    assert body["error"] == "AuthError"
    for fragment in fragments:
        assert fragment in body["detail"], body["detail"]


def _score(owasp: Owasp, **headers: str | bytes):
    with owasp.server.client(**headers) as c:
        return c.post("/v1/score", json=owasp.applicant(0))


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _claims(owasp: Owasp, **changes: object) -> dict:
    now = int(time.time())
    s = owasp.settings.security
    claims = {
        "sub": "mallory",
        "role": "admin",
        "mfa": True,
        "iss": s.jwt_issuer,
        "aud": s.jwt_audience,
        "iat": now,
        "nbf": now,
        "exp": now + 600,
        "jti": uuid.uuid4().hex,
    }
    claims.update(changes)
    return {k: v for k, v in claims.items() if v is not None}


def test_no_or_malformed_credentials(owasp: Owasp) -> None:
    _refused(_score(owasp), "missing credentials")
    for bad in ("", "gs_", "gs_x", "not-a-key", "gs_" + "a" * 5000, "gs_\u00e9_\u00e9"):
        r = _score(owasp, **{"X-API-Key": bad.encode("utf-8")})  # type: ignore[arg-type]
        assert r.status_code == 401, (bad[:20], r.text)
    for bad in ("x", "a.b.c", "Bearer", "eyJhbGciOiJIUzI1NiJ9..", "e30.e30.e30"):
        r = _score(owasp, Authorization=f"Bearer {bad}")
        assert r.status_code == 401, (bad, r.text)
    r = _score(owasp, Authorization="Basic dXNlcjpwYXNz")
    _refused(r, "missing credentials")


def test_a_key_in_the_query_string_is_not_accepted(owasp: Owasp) -> None:
    key = owasp.key("api2-query")
    with owasp.server.client() as c:
        for name in ("api_key", "X-API-Key", "key", "token", "access_token"):
            r = c.post(f"/v1/score?{name}={key}", json=owasp.applicant(0))
            _refused(r, "missing credentials")


def test_forged_keys_say_nothing_about_which_ids_exist(owasp: Owasp) -> None:
    key = owasp.key("api2-forged")
    key_id = key.split("_")[1]
    wrong_secret = _score(owasp, **{"X-API-Key": f"gs_{key_id}_{'A' * 43}"})
    unknown_id = _score(owasp, **{"X-API-Key": f"gs_{'0' * len(key_id)}_{'A' * 43}"})
    _refused(wrong_secret)
    _refused(unknown_id)
    assert wrong_secret.json()["detail"] == unknown_id.json()["detail"] == "unknown API key"
    assert _score(owasp, **{"X-API-Key": key}).status_code == 200


def test_a_revoked_key_replayed_is_refused(owasp: Owasp) -> None:
    key = owasp.key("api2-revoked")
    assert _score(owasp, **{"X-API-Key": key}).status_code == 200
    revoke_key(key.split("_")[1], settings=owasp.settings)
    deadline = time.monotonic() + 15  # the server's key cache holds an entry 1 s
    while (r := _score(owasp, **{"X-API-Key": key})).status_code == 200:
        assert time.monotonic() < deadline, "a revoked key is still accepted"
        time.sleep(0.3)
    _refused(r, "revoked")


def test_an_expired_key_is_refused(owasp: Owasp) -> None:
    key = owasp.key("api2-expired")
    assert _score(owasp, **{"X-API-Key": key}).status_code == 200
    with database(owasp.settings).begin() as conn:
        conn.execute(
            update(ApiKey.__table__)
            .where(ApiKey.__table__.c.key_id == key.split("_")[1])
            .values(expires_at=ApiKey.__table__.c.created_at)
        )
    deadline = time.monotonic() + 15
    while (r := _score(owasp, **{"X-API-Key": key})).status_code == 200:
        assert time.monotonic() < deadline, "an expired key is still accepted"
        time.sleep(0.3)
    _refused(r, "expired")


def test_an_expired_token_is_refused(owasp: Owasp) -> None:
    _refused(_score(owasp, **_bearer(owasp.token("api2-exp", "scorer", ttl=-5))), "expired")


def test_forged_tokens_are_refused(owasp: Owasp) -> None:
    kid = active_kid(settings=owasp.settings)
    forged_secret = jwt.encode(
        _claims(owasp), "a guessed secret of 32 bytes or more!!", headers={"kid": kid}
    )
    _refused(_score(owasp, **_bearer(forged_secret)), "signature")
    header = base64.urlsafe_b64encode(json.dumps({"alg": "none", "kid": kid}).encode())
    payload = base64.urlsafe_b64encode(json.dumps(_claims(owasp)).encode())
    unsigned = f"{header.decode().rstrip('=')}.{payload.decode().rstrip('=')}."
    _refused(_score(owasp, **_bearer(unsigned)))
    # A real token with its claims edited (role raised, MFA set): the signature breaks.
    real = owasp.token("api2-edit", "scorer")
    head, body, sig = real.split(".")
    claims = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    claims.update(role="admin", mfa=True)
    edited = base64.urlsafe_b64encode(json.dumps(claims).encode()).decode().rstrip("=")
    with owasp.server.client(**_bearer(f"{head}.{edited}.{sig}")) as c:
        _refused(c.get("/v1/admin/dead-letters"), "signature")
    # Other keys' and services' tokens: unknown key id, other audience or issuer, no kid.
    secret = "x" * 48
    for token, why in (
        (jwt.encode(_claims(owasp), secret, headers={"kid": "k-unknown"}), "unknown"),
        (jwt.encode(_claims(owasp), secret), "key id"),
    ):
        _refused(_score(owasp, **_bearer(token)), why)


def test_tokens_for_another_audience_or_with_an_unknown_role_are_refused(owasp: Owasp) -> None:
    from greenscore.security.tokens import _load  # the keyring's secret, as the server holds it

    ring = _load(owasp.settings, fresh=True)
    kid, secret = ring.active_kid, ring.secrets[ring.active_kid]
    for changes, why in (
        ({"aud": "another-service"}, "audience"),
        ({"iss": "someone-else"}, "issuer"),
        ({"role": "superuser"}, "role"),
        ({"exp": None}, "exp"),
        ({"nbf": int(time.time()) + 3600}, "not yet valid"),
    ):
        token = jwt.encode(_claims(owasp, **changes), secret, headers={"kid": kid})
        _refused(_score(owasp, **_bearer(token)), why)
    # The same claims as a valid admin token pass: the refusals above are the changes'.
    good = jwt.encode(_claims(owasp, role="scorer"), secret, headers={"kid": kid})
    assert _score(owasp, **_bearer(good)).status_code == 200


def test_a_token_replayed_after_its_signing_key_is_retired_is_refused(owasp: Owasp) -> None:
    old = owasp.token("api2-replay", "scorer")
    old_kid = jwt.get_unverified_header(old)["kid"]
    assert _score(owasp, **_bearer(old)).status_code == 200
    rotate_signing_key(settings=owasp.settings)
    # Still valid after a rotation (it has not expired and its key is not retired)...
    assert _score(owasp, **_bearer(old)).status_code == 200
    retire_signing_key(old_kid, settings=owasp.settings)
    deadline = time.monotonic() + 15  # the server's keyring cache holds 1 s
    while (r := _score(owasp, **_bearer(old))).status_code == 200:
        assert time.monotonic() < deadline, "a token of a retired key is still accepted"
        time.sleep(0.3)
    _refused(r, "retired")
    assert _score(owasp, **_bearer(owasp.token("api2-new", "scorer"))).status_code == 200
