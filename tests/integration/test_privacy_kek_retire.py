"""Retiring a KEK is refused while rows sealed in the database still need it (sealed units:
job data and dead letters; sealed secrets: TOTP and JWT keys), naming the rewrap command;
``greenscore privacy keys rewrap`` moves them, and the retire then succeeds and they still
open."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from greenscore import cli
from greenscore.config import Settings, get_settings, use_settings
from greenscore.errors import PrivacyError
from greenscore.privacy import sealed
from greenscore.privacy.keys import Keyring
from greenscore.security import issue_token, verify_token
from greenscore.store import database


@pytest.fixture(autouse=True)
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv("GREENSCORE_HOME", raising=False)
    monkeypatch.delenv("GREENSCORE_DATABASE_URL", raising=False)
    monkeypatch.setenv("GREENSCORE_MASTER_KEY", "7c" * 32)
    use_settings(Settings(home=tmp_path / "home"))
    yield tmp_path / "home"
    use_settings(None)


def _cli(monkeypatch: pytest.MonkeyPatch, *args: str) -> int:
    monkeypatch.setattr(sys, "argv", ["greenscore", *args])
    try:
        cli.main()
    except SystemExit as exc:
        return int(exc.code or 0)
    return 0


def test_sealed_units_block_retire_until_rewrapped(monkeypatch: pytest.MonkeyPatch) -> None:
    db = database(get_settings())
    sealed.seal("jobs", [sealed.Unit("job-1/in/1", [{"income": 1.0}])], db=db)
    assert Keyring.open().rotate() == 2
    with pytest.raises(PrivacyError) as refused:
        Keyring.open().retire(1)
    message = str(refused.value)
    assert "KEK version 1 still wraps 1 sealed database row(s) (privacy_sealed_units: 1)" in message
    assert "'greenscore privacy keys rewrap'" in message
    assert Keyring.open().kek(1)  # not destroyed

    assert _cli(monkeypatch, "privacy", "keys", "rewrap") == 0
    assert sealed.kek_versions_in_use(db=db) == {2: 1}
    assert _cli(monkeypatch, "privacy", "keys", "retire", "1") == 0
    assert sealed.unseal("jobs", "job-1/in/1", db=db) == [{"income": 1.0}]


def test_sealed_secrets_block_retire_until_rewrapped(monkeypatch: pytest.MonkeyPatch) -> None:
    token = issue_token(subject="svc", role="scorer", settings=get_settings())  # seals a JWT key
    assert Keyring.open().rotate() == 2
    with pytest.raises(PrivacyError, match=r"still wraps \d+ sealed database row\(s\) \(.*"):
        Keyring.open().retire(1)
    assert _cli(monkeypatch, "privacy", "keys", "retire", "1") == PrivacyError.exit_code
    assert _cli(monkeypatch, "privacy", "keys", "rewrap") == 0
    Keyring.open().retire(1)
    assert verify_token(token, settings=get_settings()).id == "svc"
