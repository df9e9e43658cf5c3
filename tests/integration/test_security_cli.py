"""The security CLI end to end through ``greenscore.cli.main``: exit codes, TOTP-gated admin
actions, their audit trail, audit verification and anchors, operator tokens with MFA,
lockout and unlock, and self-signed certificates."""

from __future__ import annotations

import json
import re
import sys
import time
from pathlib import Path

import jwt
import pyotp
import pytest
from sqlalchemy import text

from greenscore import cli
from greenscore.config import Settings, get_settings, use_settings
from greenscore.errors import AuthError
from greenscore.security import _clock, api_keys, find_events, verify_key, verify_token
from greenscore.store import database

T0 = 1_800_000_000.0


@pytest.fixture(autouse=True)
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv("GREENSCORE_HOME", raising=False)
    monkeypatch.delenv("GREENSCORE_DATABASE_URL", raising=False)
    use_settings(Settings(home=tmp_path))
    api_keys.clear_cache()
    yield tmp_path
    use_settings(None)
    api_keys.clear_cache()


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    now = [T0 + 1]
    monkeypatch.setattr(_clock, "epoch", lambda: now[0])
    return now


@pytest.fixture
def run(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]):
    def _run(*args: str) -> tuple[int, str, str]:
        monkeypatch.setattr(sys, "argv", ["greenscore", *args])
        try:
            cli.main()
            code = 0
        except SystemExit as exc:
            code = exc.code or 0
        out = capsys.readouterr()
        return code, out.out, out.err

    return _run


def enroll_admin(run, user: str = "alice") -> pyotp.TOTP:
    code, out, _ = run("mfa", "enroll", "--user", user)
    assert code == 0, out
    return pyotp.TOTP(re.search(r"secret: (\w+)", out).group(1))


def test_key_lifecycle_needs_admin_totp_and_is_audited(run, clock: list[float]) -> None:
    totp = enroll_admin(run)
    code, out, err = run(
        "keys", "create", "--name", "svc", "--role", "scorer", "--user", "alice",
        "--totp", totp.at(clock[0]),
    )  # fmt: skip
    assert code == 0, err
    key_id = re.search(r"key_id: (\w+)", out).group(1)
    plaintext = re.search(r"key: (gs_\S+)", out).group(1)
    assert verify_key(plaintext, settings=get_settings()).role == "scorer"

    # The same code again is a replay; a wrong code is refused; both leave exit code 5.
    code, _, err = run(
        "keys", "revoke", key_id, "--user", "alice", "--totp", totp.at(clock[0])
    )  # fmt: skip
    assert code == AuthError.exit_code and "already used" in err
    clock[0] += 30
    code, _, err = run("keys", "revoke", key_id, "--user", "alice", "--totp", "000000")
    assert code == AuthError.exit_code
    verify_key(plaintext, settings=get_settings())  # still valid

    clock[0] += 30
    code, out, _ = run("keys", "revoke", key_id, "--user", "alice", "--totp", totp.at(clock[0]))
    assert code == 0 and f"revoked {key_id}" in out
    with pytest.raises(AuthError, match="revoked"):
        verify_key(plaintext, settings=get_settings())

    code, out, _ = run("keys", "list")
    assert key_id in out and "revoked" in out and plaintext not in out

    actions = [e["action"] for e in find_events(limit=20, settings=get_settings())][::-1]
    # The replay is refused but is no guess; the wrong code is one (mfa.failure).
    assert actions == [
        "mfa.enroll", "keys.create", "cli.refused", "mfa.failure", "cli.refused", "keys.revoke"
    ]  # fmt: skip
    code, out, _ = run("audit", "verify")
    assert (code, out.strip()) == (0, "audit log verified: 6 entries")


def test_non_admin_and_unenrolled_are_refused(run, clock: list[float]) -> None:
    admin = enroll_admin(run)
    code, _, err = run("keys", "create", "--name", "x", "--role", "scorer", "--user", "eve",
                       "--totp", "123456")  # fmt: skip
    assert code == AuthError.exit_code and "not enrolled" in err

    code, _, err = run("mfa", "enroll", "--user", "bob", "--role", "analyst")
    assert code == AuthError.exit_code and "--by and --totp" in err
    code, out, err = run("mfa", "enroll", "--user", "bob", "--role", "analyst", "--by", "alice",
                         "--totp", admin.at(clock[0]))  # fmt: skip
    assert code == 0, err
    bob = pyotp.TOTP(re.search(r"secret: (\w+)", out).group(1))
    code, _, err = run("keys", "create", "--name", "x", "--role", "scorer", "--user", "bob",
                       "--totp", bob.at(clock[0]))  # fmt: skip
    assert code == AuthError.exit_code
    assert "role 'analyst' may not perform 'keys:manage'" in err


@pytest.mark.tampers_audit
def test_audit_verify_names_the_bad_entry(run, clock: list[float]) -> None:
    totp = enroll_admin(run)
    for i in range(3):
        clock[0] += 30
        code, _, err = run("keys", "create", "--name", f"k{i}", "--role", "analyst",
                           "--user", "alice", "--totp", totp.at(clock[0]))  # fmt: skip
        assert code == 0, err
    with database(get_settings()).begin() as conn:
        conn.execute(text("UPDATE security_audit_log SET actor = 'mallory' WHERE id = 2"))
    code, out, err = run("audit", "verify")
    assert code == 2
    assert "entry 2" in err and "first bad entry id 2" in err and "altered" in err


def test_tls_selfsigned_and_first_enrolment_must_be_admin(run, home: Path) -> None:
    code, out, _ = run("tls", "selfsigned", "--out", str(home / "tls"))
    assert (
        code == 0 and (home / "tls" / "cert.pem").is_file() and (home / "tls" / "key.pem").is_file()
    )
    code, _, err = run("mfa", "enroll", "--user", "bob", "--role", "analyst")
    assert code == 2 and "first enrolled operator must have role 'admin'" in err


def test_audit_anchor_then_verify_against_it(run, clock: list[float], home: Path) -> None:
    totp = enroll_admin(run)
    anchor = home / "elsewhere" / "anchor.json"
    code, out, err = run("audit", "anchor", "--out", str(anchor))
    assert code == 0, err
    assert out.startswith("anchored 2 entries (last id 2) to ")
    assert json.loads(anchor.read_text())["count"] == 2
    clock[0] += 30
    run("keys", "create", "--name", "k", "--role", "scorer", "--user", "alice",
        "--totp", totp.at(clock[0]))  # fmt: skip
    code, out, _ = run("audit", "verify", "--anchor", str(anchor))
    assert code == 0 and "3 entries verified; anchor of" in out
    # Entries 2 and 3 deleted, the head set back to entry 1: only the anchor tells.
    with database(get_settings()).begin() as conn:
        mac1 = conn.execute(text("SELECT hash FROM security_audit_log WHERE id = 1")).scalar_one()
        conn.execute(text("DELETE FROM security_audit_log WHERE id >= 2"))
        conn.execute(
            text("UPDATE security_audit_head SET count = 1, last_id = 1, head_hash = :h"),
            {"h": mac1},
        )
    assert run("audit", "verify")[0] == 0
    code, _, err = run("audit", "verify", "--anchor", str(anchor))
    assert code == 2 and "the anchored entry 2 is missing" in err
    code, _, err = run("audit", "anchor")
    assert code == 2 and "give --out FILE or --url URL" in err


def test_operator_token_carries_mfa_and_service_token_does_not(run, clock: list[float]) -> None:
    clock[0] = float(int(time.time()))  # tokens are checked against the real clock
    totp = enroll_admin(run)
    code, out, err = run("tokens", "issue", "--user", "alice", "--totp", totp.at(clock[0]))
    assert code == 0, err
    principal = verify_token(out.strip(), settings=get_settings())
    assert (principal.id, principal.role, principal.mfa_verified) == ("alice", "admin", True)
    claims = jwt.decode(out.strip(), options={"verify_signature": False})
    assert claims["exp"] - claims["iat"] == 600  # security.mfa_token_ttl_seconds
    clock[0] += 30
    code, out, err = run("tokens", "issue", "--user", "alice", "--totp", totp.at(clock[0]),
                         "--subject", "svc", "--role", "admin")  # fmt: skip
    assert code == 0, err
    assert jwt.decode(out.strip(), options={"verify_signature": False})["mfa"] is False
    code, _, err = run("tokens", "issue", "--user", "alice", "--totp", "123456", "--role", "admin")
    assert code == 2 and "--subject and --role go together" in err
    issued = [e["details"] for e in find_events(action="tokens.issue", settings=get_settings())]
    assert [(d["token_subject"], d["mfa"]) for d in issued] == [("svc", False), ("alice", True)]


def test_admin_unlocks_a_locked_out_operator(run, clock: list[float], home: Path) -> None:
    admin = enroll_admin(run)
    code, out, _ = run("mfa", "enroll", "--user", "bob", "--role", "analyst", "--by", "alice",
                       "--totp", admin.at(clock[0]))  # fmt: skip
    bob = pyotp.TOTP(re.search(r"secret: (\w+)", out).group(1))
    use_settings(Settings(home=home, security={"totp_max_failures": 1, "totp_lockout_seconds": 0}))
    code, _, err = run("tokens", "issue", "--user", "bob", "--totp", "000000")
    assert code == AuthError.exit_code and "wrong TOTP code" in err
    clock[0] += 3600
    code, _, err = run("tokens", "issue", "--user", "bob", "--totp", bob.at(clock[0]))
    assert code == AuthError.exit_code and "an admin must run 'greenscore mfa unlock" in err
    code, out, err = run("mfa", "unlock", "--user", "bob", "--by", "alice",
                         "--totp", admin.at(clock[0]))  # fmt: skip
    assert code == 0 and "unlocked bob (1 wrong codes cleared)" in out, err
    clock[0] += 30
    code, _, err = run("tokens", "issue", "--user", "bob", "--totp", bob.at(clock[0]))
    assert code == 0, err
    actions = [e["action"] for e in find_events(limit=20, settings=get_settings())][::-1]
    assert actions[-6:] == [
        "mfa.failure", "mfa.lockout", "cli.refused", "cli.refused", "mfa.unlock", "tokens.issue"
    ]  # fmt: skip
