"""TOTP enrolment and verification: drift window, wrong codes, replay, roles; back-off and
lockout after wrong codes, audited, and an admin's unlock."""

from __future__ import annotations

import threading
from pathlib import Path

import pyotp
import pytest

from greenscore.config import Settings, get_settings, use_settings
from greenscore.errors import AuthError, ConfigError
from greenscore.security import (
    _clock,
    authenticate_user,
    enroll,
    find_events,
    is_enrolled,
    verify_totp,
)
from greenscore.security.mfa import unlock_user

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
    secret, uri = enroll("alice", settings=get_settings())
    assert uri.startswith("otpauth://totp/GreenScore:alice?secret=" + secret)
    assert is_enrolled("alice", settings=get_settings()) and not is_enrolled(
        "bob", settings=get_settings()
    )
    with pytest.raises(ConfigError, match="already enrolled"):
        enroll("alice", settings=get_settings())
    new_secret, _ = enroll("alice", replace=True, settings=get_settings())
    assert new_secret != secret


def test_valid_code_then_replay_refused(clock: list[float]) -> None:
    secret, _ = enroll("alice", settings=get_settings())
    code = pyotp.TOTP(secret).at(clock[0])
    verify_totp("alice", code, settings=get_settings())
    with pytest.raises(AuthError, match="already used"):
        verify_totp("alice", code, settings=get_settings())
    clock[0] += 30
    principal = authenticate_user("alice", pyotp.TOTP(secret).at(clock[0]), settings=get_settings())
    assert (principal.id, principal.role, principal.kind, principal.mfa_verified) == (
        "alice",
        "admin",
        "user",
        True,
    )


def test_drift_window_and_wrong_codes(clock: list[float]) -> None:
    secret, _ = enroll("bob", role="analyst", settings=get_settings())
    totp = pyotp.TOTP(secret)
    with pytest.raises(AuthError, match="^wrong TOTP code"):
        verify_totp("bob", totp.at(clock[0] - 60), settings=get_settings())  # two steps old
    clock[0] += 1  # the back-off after one wrong code (same 30 s step)
    with pytest.raises(AuthError, match="^wrong TOTP code"):
        verify_totp("bob", totp.at(clock[0] + 60), settings=get_settings())
    clock[0] += 2  # and after two
    verify_totp(
        "bob", totp.at(clock[0] - 30), settings=get_settings()
    )  # one step of drift is accepted
    # An older code than one already used is a replay too.
    verify_totp("bob", totp.at(clock[0]), settings=get_settings())
    with pytest.raises(AuthError, match="already used"):
        verify_totp("bob", totp.at(clock[0] - 30), settings=get_settings())
    with pytest.raises(AuthError, match="must be 6 digits"):
        verify_totp("bob", "12ab56", settings=get_settings())


def test_not_enrolled_and_bad_role() -> None:
    with pytest.raises(AuthError, match="'carol' is not enrolled"):
        verify_totp("carol", "123456", settings=get_settings())
    with pytest.raises(ConfigError, match="unknown role"):
        enroll("dave", role="root", settings=get_settings())


# ------------------------------------------------------------------ back-off and lockout
def _wrong(user: str, secret: str, now: float) -> str:
    """A six-digit code that is not valid for ``user`` at ``now`` (nor one step either side)."""
    valid = {pyotp.TOTP(secret).at(now + d) for d in (-30, 0, 30)}
    return next(c for c in (f"{i:06d}" for i in range(1000)) if c not in valid)


def test_wrong_codes_back_off_then_lock_out_and_are_audited(clock: list[float]) -> None:
    secret, _ = enroll("alice", settings=get_settings())
    totp = pyotp.TOTP(secret)
    waits = []
    for failures in range(1, 5):
        with pytest.raises(AuthError, match="^wrong TOTP code"):
            verify_totp("alice", _wrong("alice", secret, clock[0]), settings=get_settings())
        # Even the right code is refused until the back-off (1, 2, 4, 8 s) has passed.
        with pytest.raises(AuthError, match="retry in") as refused:
            verify_totp("alice", totp.at(clock[0]), settings=get_settings())
        waits.append(refused.value.message)
        clock[0] += 2.0 ** (failures - 1)
    assert [w.rsplit(" ", 2)[-2] for w in waits] == ["1", "2", "4", "8"]
    with pytest.raises(AuthError, match="^wrong TOTP code"):
        verify_totp(
            "alice", _wrong("alice", secret, clock[0]), settings=get_settings()
        )  # the fifth
    clock[0] += 600
    with pytest.raises(AuthError, match="locked out after 5 wrong TOTP codes; retry in 300 s"):
        verify_totp("alice", totp.at(clock[0]), settings=get_settings())
    clock[0] += 300
    verify_totp(
        "alice", totp.at(clock[0]), settings=get_settings()
    )  # the lockout ended; a right code resets the count
    with pytest.raises(AuthError, match="^wrong TOTP code"):
        verify_totp("alice", _wrong("alice", secret, clock[0]), settings=get_settings())
    events = find_events(limit=20, settings=get_settings())[::-1]
    failures = [e["details"]["failures"] for e in events if e["action"] == "mfa.failure"]
    assert failures == [1, 2, 3, 4, 5, 1]
    [locked] = [e for e in events if e["action"] == "mfa.lockout"]
    assert locked["actor"] == "alice" and locked["details"]["locked_seconds"] == 900


def test_lockout_doubles_and_can_last_until_an_admin_unlocks(
    home: Path, clock: list[float]
) -> None:
    use_settings(Settings(home=home, security={"totp_max_failures": 2, "totp_lockout_seconds": 60}))
    secret, _ = enroll("bob", role="analyst", settings=get_settings())
    for wait in (1, 60, 120):  # back-off, then a lockout that doubles after each new failure
        with pytest.raises(AuthError, match="^wrong TOTP code"):
            verify_totp("bob", _wrong("bob", secret, clock[0]), settings=get_settings())
        clock[0] += wait
    with pytest.raises(AuthError, match="^wrong TOTP code"):
        verify_totp("bob", _wrong("bob", secret, clock[0]), settings=get_settings())
    with pytest.raises(AuthError, match="retry in 240 s"):
        verify_totp("bob", pyotp.TOTP(secret).at(clock[0]), settings=get_settings())
    assert unlock_user("bob", settings=get_settings()) == 4
    verify_totp("bob", pyotp.TOTP(secret).at(clock[0]), settings=get_settings())

    use_settings(Settings(home=home, security={"totp_max_failures": 1, "totp_lockout_seconds": 0}))
    clock[0] += 30
    with pytest.raises(AuthError, match="^wrong TOTP code"):
        verify_totp("bob", _wrong("bob", secret, clock[0]), settings=get_settings())
    clock[0] += 10**6
    with pytest.raises(AuthError, match="an admin must run 'greenscore mfa unlock --user bob'"):
        verify_totp("bob", pyotp.TOTP(secret).at(clock[0]), settings=get_settings())


def test_parallel_guesses_share_one_allowance(clock: list[float]) -> None:
    secret, _ = enroll("carol", settings=get_settings())
    wrong = [f"{i:06d}" for i in range(40)]
    valid = {pyotp.TOTP(secret).at(clock[0] + d) for d in (-30, 0, 30)}
    wrong = [c for c in wrong if c not in valid][:16]
    outcomes: list[str] = []

    def guess(code: str) -> None:
        try:
            verify_totp("carol", code, settings=get_settings())
        except AuthError as exc:
            outcomes.append(exc.message)

    threads = [threading.Thread(target=guess, args=(c,)) for c in wrong]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(outcomes) == len(wrong)
    # One guess was checked; every other one met the back-off it started.
    assert sum(m.startswith("wrong TOTP code") for m in outcomes) == 1
    assert sum(m.startswith("too many wrong TOTP codes") for m in outcomes) == len(wrong) - 1


def test_replays_and_malformed_codes_are_no_guesses(clock: list[float]) -> None:
    secret, _ = enroll("dave", settings=get_settings())
    code = pyotp.TOTP(secret).at(clock[0])
    verify_totp("dave", code, settings=get_settings())
    for _ in range(10):
        with pytest.raises(AuthError, match="already used"):
            verify_totp("dave", code, settings=get_settings())
        with pytest.raises(AuthError, match="must be 6 digits"):
            verify_totp("dave", "12345", settings=get_settings())
    clock[0] += 30
    verify_totp("dave", pyotp.TOTP(secret).at(clock[0]), settings=get_settings())
    assert not [
        e for e in find_events(limit=50, settings=get_settings()) if e["action"] == "mfa.failure"
    ]
