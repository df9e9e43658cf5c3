"""JWTs: issue/verify, expiry, audience, issuer, rotation and retirement, production rules."""

from __future__ import annotations

from pathlib import Path

import jwt
import pytest
from sqlalchemy import text

from greenscore.config import Settings, get_settings, use_settings
from greenscore.errors import AuthError, ConfigError, NotFoundError
from greenscore.security import (
    issue_token,
    retire_signing_key,
    rotate_signing_key,
    verify_token,
)
from greenscore.security import tokens as tokens_mod
from greenscore.store import database


@pytest.fixture(autouse=True)
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    # Settings(home=...) below must win: the environment outranks init arguments.
    monkeypatch.delenv("GREENSCORE_HOME", raising=False)
    monkeypatch.delenv("GREENSCORE_DATABASE_URL", raising=False)
    monkeypatch.delenv("GREENSCORE_SECURITY__JWT_SECRET", raising=False)
    use_settings(Settings(home=tmp_path))
    tokens_mod._forget()
    yield tmp_path
    use_settings(None)
    tokens_mod._forget()


def test_issue_and_verify() -> None:
    token = issue_token(subject="alice", role="analyst", mfa=True, settings=get_settings())
    principal = verify_token(token, settings=get_settings())
    assert (principal.id, principal.role, principal.kind) == ("alice", "analyst", "jwt")
    assert principal.mfa_verified
    assert not verify_token(
        issue_token(subject="svc", role="scorer", settings=get_settings()), settings=get_settings()
    ).mfa_verified


def test_expired_token_is_refused() -> None:
    token = issue_token(subject="alice", role="analyst", ttl_seconds=-1, settings=get_settings())
    with pytest.raises(AuthError) as err:
        verify_token(token, settings=get_settings())
    assert err.value.message == "token expired"


def test_wrong_audience_and_issuer(home: Path) -> None:
    token = issue_token(subject="alice", role="analyst", settings=get_settings())
    use_settings(Settings(home=home, security={"jwt_audience": "other-service"}))
    with pytest.raises(AuthError, match="token audience is not 'other-service'"):
        verify_token(token, settings=get_settings())
    use_settings(Settings(home=home, security={"jwt_issuer": "someone-else"}))
    with pytest.raises(AuthError, match="token issuer is not 'someone-else'"):
        verify_token(token, settings=get_settings())


def test_tampered_and_foreign_tokens() -> None:
    token = issue_token(subject="alice", role="analyst", settings=get_settings())
    head, body, sig = token.split(".")
    forged_body = jwt.utils.base64url_encode(
        jwt.utils.base64url_decode(body).replace(b'"analyst"', b'"admin"')
    ).decode()
    with pytest.raises(AuthError, match="signature invalid"):
        verify_token(f"{head}.{forged_body}.{sig}", settings=get_settings())
    foreign = jwt.encode({"sub": "x"}, "k" * 32, algorithm="HS256", headers={"kid": "k-nope"})
    with pytest.raises(AuthError, match="unknown or retired key 'k-nope'"):
        verify_token(foreign, settings=get_settings())
    with pytest.raises(AuthError, match="no key id"):
        verify_token(jwt.encode({"sub": "x"}, "k" * 32, algorithm="HS256"), settings=get_settings())
    with pytest.raises(AuthError, match="malformed token"):
        verify_token("not.a.jwt", settings=get_settings())


def test_rotation_keeps_old_tokens_until_retired() -> None:
    old = issue_token(subject="alice", role="analyst", settings=get_settings())
    old_kid = jwt.get_unverified_header(old)["kid"]
    new_kid = rotate_signing_key(settings=get_settings())
    assert new_kid != old_kid
    new = issue_token(subject="bob", role="scorer", settings=get_settings())
    assert jwt.get_unverified_header(new)["kid"] == new_kid
    assert verify_token(old, settings=get_settings()).id == "alice"
    with pytest.raises(ConfigError, match="active one"):
        retire_signing_key(new_kid, settings=get_settings())
    retire_signing_key(old_kid, settings=get_settings())
    with pytest.raises(AuthError, match=f"unknown or retired key '{old_kid}'"):
        verify_token(old, settings=get_settings())
    assert verify_token(new, settings=get_settings()).id == "bob"
    with pytest.raises(NotFoundError):
        retire_signing_key("k-missing", settings=get_settings())


def test_rotation_in_another_process_is_picked_up() -> None:
    issue_token(
        subject="alice", role="analyst", settings=get_settings()
    )  # our keyring is now cached
    # Another process rotates: a new key row appears in the database behind our cache.
    secret = "n" * 48
    with database(get_settings()).begin() as conn:
        conn.execute(
            text(
                "INSERT INTO security_signing_keys (kid, secret, activated_at) "
                "VALUES ('k-other', :s, '2999-01-01 00:00:00.000000')"
            ),
            {"s": secret},
        )
    claims = {"sub": "c", "role": "scorer", "iss": "greenscore", "aud": "greenscore"}
    token = jwt.encode(
        {**claims, "iat": 0, "exp": 2**40}, secret, algorithm="HS256", headers={"kid": "k-other"}
    )
    assert verify_token(token, settings=get_settings()).id == "c"


def test_configured_secret_and_production_rules(home: Path) -> None:
    secret = "s" * 40
    use_settings(Settings(home=home, security={"jwt_secret": secret}))
    token = issue_token(subject="alice", role="admin", settings=get_settings())
    kid = jwt.get_unverified_header(token)["kid"]
    assert kid.startswith("cfg-")
    assert jwt.decode(token, secret, algorithms=["HS256"], audience="greenscore")["sub"] == "alice"

    for environment in ("production", "staging"):
        use_settings(Settings(home=home / "prod", environment=environment))
        with pytest.raises(
            ConfigError,
            match=f"security.jwt_secret' must be set when environment is '{environment}'",
        ):
            issue_token(subject="alice", role="admin", settings=get_settings())
    with pytest.raises(ConfigError, match="security.jwt_secret"):
        verify_token(token, settings=get_settings())
    use_settings(
        Settings(home=home / "prod", environment="production", security={"jwt_secret": "short"})
    )
    with pytest.raises(ConfigError, match="at least 32 bytes"):
        issue_token(subject="alice", role="admin", settings=get_settings())
    use_settings(
        Settings(home=home / "prod", environment="production", security={"jwt_secret": secret})
    )
    assert (
        verify_token(
            issue_token(subject="alice", role="admin", settings=get_settings()),
            settings=get_settings(),
        ).role
        == "admin"
    )


def test_unknown_role_refused_both_ways() -> None:
    with pytest.raises(ConfigError, match="unknown role"):
        issue_token(subject="alice", role="root", settings=get_settings())
    ring = tokens_mod._load(get_settings())
    token = jwt.encode(
        {
            "sub": "a",
            "role": "root",
            "iss": "greenscore",
            "aud": "greenscore",
            "iat": 0,
            "exp": 2**40,
        },
        ring.secrets[ring.active_kid],
        algorithm="HS256",
        headers={"kid": ring.active_kid},
    )
    with pytest.raises(AuthError, match="token role 'root'"):
        verify_token(token, settings=get_settings())
