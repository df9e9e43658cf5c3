"""TOTP enrolment and verification: drift window, wrong codes, replay, roles."""

from __future__ import annotations

from pathlib import Path

import pyotp
import pytest

from greenscore.config import Settings, use_settings
from greenscore.errors import AuthError, ConfigError
from greenscore.security import _clock, authenticate_user, enroll, is_enrolled, verify_totp

T0 = 1_800_000_000.0  # a step boundary (divisible by 30)


@pytest.fixture(autouse=True)
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv("GREENSCORE_HOME", raising=False)
    monkeypatch.delenv("GREENSCORE_DATABASE_URL", raising=False)
    use_settings(Settings(home=tmp_path))
    yield tmp_path
    use_settings(None)


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    now = [T0 + 5]
    monkeypatch.setattr(_clock, "epoch", lambda: now[0])
    return now


def test_enroll_returns_secret_and_uri() -> None:
    secret, uri = enroll("alice")
    assert uri.startswith("otpauth://totp/GreenScore:alice?secret=" + secret)
    assert is_enrolled("alice") and not is_enrolled("bob")
    with pytest.raises(ConfigError, match="already enrolled"):
        enroll("alice")
    new_secret, _ = enroll("alice", replace=True)
    assert new_secret != secret


def test_valid_code_then_replay_refused(clock: list[float]) -> None:
    secret, _ = enroll("alice")
    code = pyotp.TOTP(secret).at(clock[0])
    verify_totp("alice", code)
    with pytest.raises(AuthError, match="already used"):
        verify_totp("alice", code)
    clock[0] += 30
    principal = authenticate_user("alice", pyotp.TOTP(secret).at(clock[0]))
    assert (principal.id, principal.role, principal.kind, principal.mfa_verified) == (
        "alice",
        "admin",
        "user",
        True,
    )


def test_drift_window_and_wrong_codes(clock: list[float]) -> None:
    secret, _ = enroll("bob", role="analyst")
    totp = pyotp.TOTP(secret)
    with pytest.raises(AuthError, match="wrong TOTP code"):
        verify_totp("bob", totp.at(clock[0] - 60))  # two steps old
    with pytest.raises(AuthError, match="wrong TOTP code"):
        verify_totp("bob", totp.at(clock[0] + 60))
    verify_totp("bob", totp.at(clock[0] - 30))  # one step of drift is accepted
    # An older code than one already used is a replay too.
    verify_totp("bob", totp.at(clock[0]))
    with pytest.raises(AuthError, match="already used"):
        verify_totp("bob", totp.at(clock[0] - 30))
    with pytest.raises(AuthError, match="must be 6 digits"):
        verify_totp("bob", "12ab56")


def test_not_enrolled_and_bad_role() -> None:
    with pytest.raises(AuthError, match="'carol' is not enrolled"):
        verify_totp("carol", "123456")
    with pytest.raises(ConfigError, match="unknown role"):
        enroll("dave", role="root")
