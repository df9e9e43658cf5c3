"""API keys against a SQLite database: create, verify, cache, revoke, expire, list."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import text

from greenscore.config import Settings, get_settings, use_settings
from greenscore.errors import AuthError, ConfigError, NotFoundError
from greenscore.security import _clock, api_keys, create_key, list_keys, revoke_key, verify_key
from greenscore.store import database


@pytest.fixture(autouse=True)
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    # Settings(home=...) below must win: the environment outranks init arguments.
    monkeypatch.delenv("GREENSCORE_HOME", raising=False)
    monkeypatch.delenv("GREENSCORE_DATABASE_URL", raising=False)
    use_settings(Settings(home=tmp_path))
    api_keys.clear_cache()
    yield tmp_path
    use_settings(None)
    api_keys.clear_cache()


def test_create_and_verify_returns_principal() -> None:
    key_id, plaintext = create_key(name="lending-app", role="scorer", settings=get_settings())
    assert plaintext.startswith(f"gs_{key_id}_")
    principal = verify_key(plaintext, settings=get_settings())
    assert (principal.id, principal.role, principal.kind) == (key_id, "scorer", "api_key")
    assert not principal.mfa_verified


def test_secret_is_stored_hashed_and_never_listed(home: Path) -> None:
    key_id, plaintext = create_key(name="svc", role="analyst", settings=get_settings())
    secret = plaintext.split("_", 2)[2]
    with database(get_settings()).connect() as conn:
        stored = conn.execute(text("SELECT * FROM security_api_keys")).mappings().one()
    assert secret not in str(dict(stored))
    listed = list_keys(settings=get_settings())
    assert listed[0]["key_id"] == key_id and listed[0]["status"] == "active"
    assert secret not in str(listed) and "secret_sha256" not in listed[0]


@pytest.mark.parametrize(
    ("mangle", "message"),
    [
        (lambda k: k[:-2] + ("AA" if not k.endswith("AA") else "BB"), "unknown API key"),
        (lambda k: "gs_0000000000000000_" + k.split("_", 2)[2], "unknown API key"),
        (lambda k: "not-a-key", "malformed API key"),
    ],
)
def test_wrong_keys_are_refused(mangle, message: str) -> None:
    _, plaintext = create_key(name="svc", role="scorer", settings=get_settings())
    with pytest.raises(AuthError, match=message):
        verify_key(mangle(plaintext), settings=get_settings())


def test_revoke_takes_effect_at_once_in_this_process() -> None:
    key_id, plaintext = create_key(name="svc", role="scorer", settings=get_settings())
    verify_key(plaintext, settings=get_settings())  # now cached
    revoke_key(key_id, settings=get_settings())
    with pytest.raises(AuthError) as err:
        verify_key(plaintext, settings=get_settings())
    assert err.value.message == f"API key '{key_id}' has been revoked"
    assert list_keys(settings=get_settings())[0]["status"] == "revoked"
    with pytest.raises(NotFoundError):
        revoke_key("nope", settings=get_settings())


def test_revocation_elsewhere_is_seen_within_cache_ttl(monkeypatch: pytest.MonkeyPatch) -> None:
    key_id, plaintext = create_key(name="svc", role="scorer", settings=get_settings())
    clock = [1000.0]
    monkeypatch.setattr(_clock, "monotonic", lambda: clock[0])
    verify_key(plaintext, settings=get_settings())
    # Another process revokes: only the database changes, not our cache.
    with database(get_settings()).begin() as conn:
        conn.execute(
            text("UPDATE security_api_keys SET revoked_at = created_at WHERE key_id = :k"),
            {"k": key_id},
        )
    clock[0] += 4.9
    verify_key(plaintext, settings=get_settings())  # still inside the 5 s cache window
    clock[0] += 0.2
    with pytest.raises(AuthError, match="revoked"):
        verify_key(plaintext, settings=get_settings())


def test_expired_key_is_refused_even_when_cached(monkeypatch: pytest.MonkeyPatch) -> None:
    key_id, plaintext = create_key(name="svc", role="scorer", ttl_days=1, settings=get_settings())
    verify_key(plaintext, settings=get_settings())
    real = _clock.utcnow
    monkeypatch.setattr(_clock, "utcnow", lambda: real() + timedelta(days=1, seconds=1))
    with pytest.raises(AuthError, match=f"API key '{key_id}' expired at"):
        verify_key(plaintext, settings=get_settings())
    assert list_keys(settings=get_settings())[0]["status"] == "expired"


def test_bad_arguments() -> None:
    with pytest.raises(ConfigError, match="unknown role 'root'"):
        create_key(name="svc", role="root", settings=get_settings())
    with pytest.raises(ConfigError, match="ttl_days"):
        create_key(name="svc", role="scorer", ttl_days=0, settings=get_settings())


def test_cache_is_per_database(tmp_path: Path) -> None:
    _, plaintext = create_key(name="svc", role="scorer", settings=get_settings())
    verify_key(plaintext, settings=get_settings())
    use_settings(Settings(home=tmp_path / "other"))
    with pytest.raises(AuthError, match="unknown API key"):
        verify_key(plaintext, settings=get_settings())


def test_revocation_during_a_verification_is_not_undone_by_its_cache_write(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    key_id, plaintext = create_key(name="svc", role="scorer", settings=get_settings())
    real_load = api_keys._load

    def load_then_revoke(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        loaded = real_load(*args, **kwargs)  # read while the key was still valid
        revoke_key(
            key_id, settings=get_settings()
        )  # another thread revokes before this verification caches it
        return loaded

    monkeypatch.setattr(api_keys, "_load", load_then_revoke)
    verify_key(plaintext, settings=get_settings())  # began before the revocation: it may pass
    monkeypatch.setattr(api_keys, "_load", real_load)
    with pytest.raises(AuthError, match="revoked"):
        verify_key(
            plaintext, settings=get_settings()
        )  # but nothing after it, not even for the cache's 5 s
