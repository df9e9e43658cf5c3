"""Secrets in the database are sealed under the keyring; the home folder is owner-only.

A copy of ``greenscore.db`` alone must not give anyone a TOTP secret, a JWT signing key or
the audit pepper (reading them was enough to mint an admin + MFA token), and the files
must not be readable by other users from the moment they exist. Rows written in clear by
release 0.1.0 are sealed on first use.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import stat
import subprocess
import sys
import time
from pathlib import Path

import jwt
import pyotp
import pytest

from greenscore.config import Settings, get_settings, use_settings
from greenscore.errors import PrivacyError
from greenscore.privacy.keys import Keyring
from greenscore.security import (
    _clock,
    authenticate_user,
    enroll,
    issue_token,
    record_event,
    subject_hash,
    verify_chain,
    verify_token,
)
from greenscore.security import tokens as tokens_mod
from greenscore.security._secrets import SEALED_PREFIX, reseal_all, stored_secret
from greenscore.store import database
from greenscore.tracking.mlflow_run import tracking_uri

FIXTURE_DB = Path(__file__).parents[1] / "fixtures" / "home-0.1.0" / "greenscore.db"
T0 = 1_800_000_000.0


@pytest.fixture(autouse=True)
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    for name in ("GREENSCORE_HOME", "GREENSCORE_DATABASE_URL", "GREENSCORE_MASTER_KEY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("GREENSCORE_SECURITY__JWT_SECRET", raising=False)
    home = tmp_path / "home"
    use_settings(Settings(home=home, environment="test"))
    tokens_mod._forget()
    yield home
    use_settings(None)
    tokens_mod._forget()


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    now = [T0 + 5]
    monkeypatch.setattr(_clock, "epoch", lambda: now[0])
    return now


def _database_bytes(home: Path) -> bytes:
    """The database file and its WAL, as someone copying the home's files would get them."""
    return b"".join(
        p.read_bytes() for p in sorted(home.glob("greenscore.db*")) if p.suffix != ".lock"
    )


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_database_file_holds_no_secret_in_clear(home: Path) -> None:
    totp_secret, _ = enroll("alice", role="admin", settings=get_settings())
    token = issue_token(subject="alice", role="admin", mfa=True, settings=get_settings())
    kid = jwt.get_unverified_header(token)["kid"]
    jwt_secret = tokens_mod._load(get_settings()).secrets[kid]
    pepper = stored_secret("audit_pepper", settings=get_settings())
    record_event("score", actor="k1", subject="APP-1")
    raw = _database_bytes(home)
    assert b"security_totp_users" in raw  # the grep does see the database's contents
    for secret in (totp_secret, jwt_secret, pepper):
        assert len(secret) >= 32 and secret.encode() not in raw
    with database(get_settings()).connect() as conn:
        stored = conn.exec_driver_sql("SELECT secret FROM security_totp_users").scalar_one()
    assert stored.startswith(SEALED_PREFIX)


def test_home_and_files_are_owner_only(home: Path) -> None:
    enroll("alice", role="admin", settings=get_settings())
    issue_token(subject="svc", role="scorer", settings=get_settings())
    tracking_uri(get_settings())  # MLflow's store, created before MLflow opens it
    assert _mode(home) == 0o700
    for name in ("greenscore.db", "greenscore.db-wal", "greenscore.db-shm", "mlflow.db"):
        assert _mode(home / name) == 0o600, name
    keys = home / "keys"
    assert _mode(keys) == 0o700
    assert {p.name for p in keys.iterdir()} >= {"master.key", "keyring.gsk"}
    assert all(_mode(p) == 0o600 for p in keys.iterdir())


def test_an_older_loose_home_is_tightened(tmp_path: Path) -> None:
    loose = tmp_path / "loose"
    loose.mkdir(mode=0o755)
    shutil.copy(FIXTURE_DB, loose / "greenscore.db")
    os.chmod(loose, 0o755)
    os.chmod(loose / "greenscore.db", 0o644)
    use_settings(Settings(home=loose, environment="test"))
    database(get_settings())
    assert (_mode(loose), _mode(loose / "greenscore.db")) == (0o700, 0o600)


def test_a_copy_of_the_database_alone_opens_nothing(home: Path, tmp_path: Path) -> None:
    secret, _ = enroll("alice", role="admin", settings=get_settings())
    token = issue_token(subject="alice", role="admin", mfa=True, settings=get_settings())
    assert verify_token(token, settings=get_settings()).mfa_verified
    thief = tmp_path / "thief"
    thief.mkdir()
    with (
        sqlite3.connect(home / "greenscore.db") as src,
        sqlite3.connect(thief / "greenscore.db") as dst,
    ):
        src.backup(dst)
    # The copy under another home: its own (new) keyring and master key, not the victim's.
    use_settings(Settings(home=thief, environment="test"))
    tokens_mod._forget()
    with pytest.raises(PrivacyError):
        verify_token(token, settings=get_settings())
    with pytest.raises(PrivacyError):
        authenticate_user("alice", pyotp.TOTP(secret).now(), settings=get_settings())


def test_a_sealed_secret_is_bound_to_its_row(home: Path, clock: list[float]) -> None:
    enroll("alice", role="admin", settings=get_settings())
    bob_secret, _ = enroll("bob", role="analyst", settings=get_settings())
    with database(get_settings()).begin() as conn:
        conn.exec_driver_sql(
            "UPDATE security_totp_users SET secret = "
            "(SELECT secret FROM security_totp_users WHERE user = 'bob') WHERE user = 'alice'"
        )
    with pytest.raises(PrivacyError, match="wrong object"):
        authenticate_user("alice", pyotp.TOTP(bob_secret).at(clock[0]), settings=get_settings())


def test_plaintext_secrets_of_release_0_1_0_are_sealed_on_first_use(
    home: Path, clock: list[float]
) -> None:
    home.mkdir(parents=True)
    shutil.copy(FIXTURE_DB, home / "greenscore.db")
    with sqlite3.connect(home / "greenscore.db") as conn:
        user, totp_secret = conn.execute("SELECT user, secret FROM security_totp_users").fetchone()
        kid, jwt_secret = conn.execute(
            "SELECT kid, secret FROM security_signing_keys WHERE secret IS NOT NULL"
        ).fetchone()
        old_subject_hash = conn.execute(
            "SELECT subject_hash FROM security_audit_log WHERE id = 1"
        ).fetchone()[0]
    assert not totp_secret.startswith(SEALED_PREFIX)
    # A token signed by release 0.1.0 still verifies, and the operator's TOTP still works.
    legacy = jwt.encode(
        {"sub": "svc", "role": "scorer", "iss": "greenscore", "aud": "greenscore",
         "iat": int(time.time()) - 5, "exp": int(time.time()) + 600},
        jwt_secret, algorithm="HS256", headers={"kid": kid},
    )  # fmt: skip
    assert verify_token(legacy, settings=get_settings()).id == "svc"
    assert (
        authenticate_user(user, pyotp.TOTP(totp_secret).at(clock[0]), settings=get_settings()).role
        == "admin"
    )
    # The audit pepper is the same secret (subject hashes still match), now sealed too.
    assert subject_hash("100042", settings=get_settings()) == old_subject_hash
    raw = _database_bytes(home)
    for secret in (totp_secret, jwt_secret):
        assert secret.encode() not in raw
    with database(get_settings()).connect() as conn:
        for table, column in (
            ("security_totp_users", "secret"),
            ("security_signing_keys", "secret"),
            ("security_secrets", "value"),
        ):
            values = conn.exec_driver_sql(
                f"SELECT {column} FROM {table} WHERE {column} IS NOT NULL"
            ).scalars()
            assert all(v.startswith(SEALED_PREFIX) for v in values), table
    record_event("score", actor="k1")
    assert verify_chain().ok


def test_production_needs_a_configured_master_key(tmp_path: Path) -> None:
    use_settings(
        Settings(
            home=tmp_path / "prod",
            environment="production",
            security={"jwt_secret": "s" * 40, "audit_pepper": "p" * 40},
        )
    )
    with pytest.raises(PrivacyError, match="privacy.master_key_file.*production"):
        enroll("alice", settings=get_settings())
    assert not (tmp_path / "prod" / "keys" / "master.key").exists()


CHILD = """
import sys
from pathlib import Path
from greenscore.config import Settings, use_settings
from greenscore.privacy.keys import derived_key
from greenscore.security import record_event
use_settings(Settings(home=Path(sys.argv[1]), environment="test"))
record_event("start", actor=sys.argv[2])
print(derived_key("audit-chain").hex())
"""


def test_processes_starting_together_share_one_master_key(tmp_path: Path) -> None:
    # Parallel test workers (pytest-xdist) and service workers may start on a fresh home at
    # once: exactly one master key and one keyring must come out, and one chain.
    shared = tmp_path / "shared"
    use_settings(Settings(home=shared, environment="test"))
    database(get_settings())  # the schema first: concurrent migration is the store's own test
    assert not (shared / "keys").exists()
    env = {k: v for k, v in os.environ.items() if not k.startswith("GREENSCORE_")}
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", CHILD, str(shared), f"p{n}"],
            env=env,
            stdout=subprocess.PIPE,
            text=True,
        )
        for n in range(3)
    ]
    keys = {p.communicate(timeout=120)[0].strip() for p in procs}
    assert [p.returncode for p in procs] == [0] * 3
    assert len(keys) == 1 and len(next(iter(keys))) == 64
    result = verify_chain()
    assert (result.ok, result.checked) == (True, 3)


def test_sealed_secrets_follow_kek_rotation_so_the_old_kek_can_be_retired(
    clock: list[float],
) -> None:
    secret, _ = enroll("alice", role="admin", settings=get_settings())
    keyring = Keyring.open()
    assert keyring.rotate() == 2
    assert reseal_all(get_settings()) >= 1  # what 'greenscore privacy keys rewrap' also does
    keyring.retire(1)
    assert (
        authenticate_user("alice", pyotp.TOTP(secret).at(clock[0]), settings=get_settings()).id
        == "alice"
    )
