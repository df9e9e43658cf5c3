"""The privacy, backup and gdpr commands end to end through ``greenscore.cli.main``."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pandas as pd
import pyotp
import pytest
from pycanon import anonymity

from greenscore import cli
from greenscore.config import Settings, get_settings, use_settings
from greenscore.errors import AuthError, PermissionDeniedError, PrivacyError
from greenscore.privacy.at_rest import read_table, write_table
from greenscore.security import _clock
from greenscore.security.audit import find_events, verify_chain
from greenscore.security.mfa import enroll

T0 = 1_800_000_000.0


@pytest.fixture(autouse=True)
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv("GREENSCORE_HOME", raising=False)
    monkeypatch.delenv("GREENSCORE_DATABASE_URL", raising=False)
    monkeypatch.setenv("GREENSCORE_MASTER_KEY", "ef" * 32)
    use_settings(Settings(home=tmp_path / "home"))
    yield tmp_path / "home"
    use_settings(None)


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


@pytest.fixture(scope="module")
def applications(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from greenscore.data.synthetic import generate

    path = tmp_path_factory.mktemp("data") / "apps.csv"
    generate(400, seed=2).applications.to_csv(path, index=False)
    return path


def test_scan_and_anonymize(run, applications: Path, tmp_path: Path) -> None:
    code, out, err = run("privacy", "scan", "--data", str(applications), "--json")
    assert code == 0, err
    classes = {row["column"]: row["classification"] for row in json.loads(out)}
    assert {c for c, k in classes.items() if k == "direct_identifier"} >= {
        "name", "email", "phone", "national_id", "address"
    }  # fmt: skip

    out_path = tmp_path / "anon.csv"
    code, out, err = run(
        "privacy", "anonymize", "--data", str(applications), "--k", "5", "--l", "2",
        "--quasi", "age,sex,region", "--sensitive", "default", "--out", str(out_path),
        "--tokenize", "applicant_id",
    )  # fmt: skip
    assert code == 0, err
    report = json.loads(out)
    anon = pd.read_csv(out_path)
    assert anonymity.k_anonymity(anon, ["age", "sex", "region"]) >= 5
    assert anonymity.l_diversity(anon, ["age", "sex", "region"], ["default"]) >= 2
    assert not {"name", "email", "phone", "national_id", "address"} & set(anon.columns)
    assert anon["applicant_id"].str.startswith("tok_").all()
    assert report["rows_out"] == len(anon) and "ncp" in report and "suppressed_rows" in report


def test_anonymize_without_quasi_identifiers_is_a_clear_error(run, tmp_path: Path) -> None:
    data = tmp_path / "plain.csv"
    pd.DataFrame({"income": [1, 2, 3], "loan": [4, 5, 6]}).to_csv(data, index=False)
    code, _, err = run(
        "privacy", "anonymize", "--data", str(data), "--k", "2", "--out", str(tmp_path / "o.csv")
    )
    assert code == 2 and "no quasi-identifiers found" in err


def test_keys_rotate_rewrap_retire(run, home: Path, tmp_path: Path) -> None:
    src = tmp_path / "secret.txt"
    src.write_text("top secret")
    enc = home / "files" / "secret.txt.enc"
    assert run("privacy", "encrypt", str(src), "--out", str(enc))[0] == 0
    assert run("privacy", "keys", "rotate")[1].strip() == "current KEK version: 2"
    code, _, err = run("privacy", "keys", "retire", "1")
    assert code == PrivacyError.exit_code and "still wraps 1 file(s)" in err
    assert "rewrapped 1 file(s) to KEK version 2" in run("privacy", "keys", "rewrap")[1]
    assert run("privacy", "keys", "retire", "1", "--actor", "ops")[0] == 0
    assert [e["action"] for e in find_events(limit=10, settings=get_settings())][:2] == [
        "privacy.keys.retire",
        "privacy.keys.rewrap",
    ]
    status = json.loads(run("privacy", "keys", "status", "--json")[1])
    assert [(s["version"], bool(s["retired"]), s["files"]) for s in status] == [
        (1, True, 0),
        (2, False, 1),
    ]
    out = tmp_path / "back.txt"
    assert run("privacy", "decrypt", str(enc), "--out", str(out))[0] == 0
    assert out.read_text() == "top secret"


def test_backup_create_and_restore(run, home: Path, tmp_path: Path) -> None:
    write_table(pd.DataFrame({"id": [1, 2]}), home / "data" / "d.csv", encrypt=True)
    backup = tmp_path / "home.gsb"
    code, out, err = run("backup", "create", "--out", str(backup))
    assert code == 0, err
    assert (
        find_events(action="privacy.backup.create", settings=get_settings())[0]["details"]["files"]
        >= 2
    )
    code, out, err = run("backup", "restore", str(backup), "--to", str(tmp_path / "restored"))
    assert code == 0 and "verified file(s)" in out, err
    restored = tmp_path / "restored" / "data" / "d.csv.enc"
    assert restored.read_bytes() == (home / "data" / "d.csv.enc").read_bytes()


def test_consent_and_lineage_commands(run) -> None:
    assert (
        run(
            "gdpr",
            "consent",
            "grant",
            "--subject",
            "S-1",
            "--purpose",
            "credit_scoring",
            "--actor",
            "ops",
        )[0]
        == 0
    )
    assert (
        run("gdpr", "consent", "revoke", "--subject", "S-1", "--purpose", "credit_scoring")[0] == 0
    )
    shown = json.loads(run("gdpr", "consent", "show", "--subject", "S-1", "--json")[1])
    assert shown["current"] == {"credit_scoring": False} and len(shown["history"]) == 2
    assert json.loads(run("gdpr", "lineage", "--subject", "S-1")[1]) == []
    code, out, _ = run("gdpr", "purge", "--dry-run")
    assert code == 0 and json.loads(out)["dry_run"] is True


def test_erase_needs_admin_totp_and_records_one_hashed_event(
    run, clock: list[float], home: Path
) -> None:
    path = write_table(
        pd.DataFrame({"applicant_id": ["S-77", "S-78"], "income": [1.0, 2.0]}),
        home / "apps.csv",
        encrypt=False,
    )
    assert run("gdpr", "datasets", "add", str(path), "--id-column", "applicant_id")[0] == 0
    secret, _ = enroll("alice", role="admin", settings=get_settings())
    analyst, _ = enroll("bob", role="analyst", settings=get_settings())
    totp = pyotp.TOTP(secret)

    code, _, err = run("gdpr", "erase", "--subject", "S-77", "--user", "alice", "--totp", "000000")
    assert code == AuthError.exit_code and "wrong TOTP code" in err
    code, _, err = run(
        "gdpr", "erase", "--subject", "S-77", "--user", "bob", "--totp", pyotp.TOTP(analyst).at(clock[0])
    )  # fmt: skip
    assert code == PermissionDeniedError.exit_code and "may not perform 'gdpr:erase'" in err
    assert read_table(path)["applicant_id"].tolist() == ["S-77", "S-78"]

    clock[0] += 1  # alice's wrong code above earns a 1 s back-off (security.lockout)
    code, out, err = run(
        "gdpr", "erase", "--subject", "S-77", "--user", "alice", "--totp", totp.at(clock[0])
    )
    assert code == 0, err
    assert json.loads(out)["datasets"] == {"apps.csv": 1}
    assert read_table(path)["applicant_id"].tolist() == ["S-78"]
    erased = find_events(action="gdpr.erase", settings=get_settings())
    assert len(erased) == 1 and erased[0]["actor"] == "alice"
    assert len(find_events(action="cli.refused", settings=get_settings())) == 2
    assert verify_chain().ok
    assert all(
        "S-77" not in json.dumps(e) for e in find_events(limit=1000, settings=get_settings())
    )
