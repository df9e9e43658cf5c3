"""Backups: encrypted tar of the home folder with a manifest; restore verifies every file."""

from __future__ import annotations

import hashlib
import json
import sqlite3
from pathlib import Path

import pytest

from greenscore.config import Settings, use_settings
from greenscore.errors import ConfigError, DataError, PrivacyError
from greenscore.privacy.backup import (
    BACKUP_NAME,
    build_archive,
    create_backup,
    open_backup,
    restore_backup,
)
from greenscore.privacy.crypto import encrypt_bytes_with_master
from greenscore.privacy.keys import MasterKey

KEY = "11" * 32


@pytest.fixture(autouse=True)
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv("GREENSCORE_HOME", raising=False)
    monkeypatch.delenv("GREENSCORE_DATABASE_URL", raising=False)
    monkeypatch.setenv("GREENSCORE_MASTER_KEY", KEY)
    home = tmp_path / "home"
    (home / "data").mkdir(parents=True)
    (home / "data" / "apps.csv").write_text("id,name\n1,Ada Lovelace\n")
    (home / "models" / "m1").mkdir(parents=True)
    (home / "models" / "m1" / "metadata.json").write_text('{"auc": 0.8}')
    db = sqlite3.connect(home / "greenscore.db")
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("create table t (x int)")
    db.execute("insert into t values (42)")
    db.commit()  # still open: its WAL holds the row, the backup must capture it anyway
    use_settings(Settings(home=home))
    yield home
    db.close()
    use_settings(None)


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_backup_round_trip_restores_every_file(home: Path, tmp_path: Path) -> None:
    out = tmp_path / "backup.gsb"
    report = create_backup(out)
    assert report.files == 3
    assert b"Ada Lovelace" not in out.read_bytes() and b"MANIFEST" not in out.read_bytes()
    target = tmp_path / "restored"
    restored = restore_backup(out, target)
    assert restored.files == 3
    for rel in ("data/apps.csv", "models/m1/metadata.json"):
        assert _sha(target / rel) == _sha(home / rel)
    copy = sqlite3.connect(target / "greenscore.db")
    assert copy.execute("select x from t").fetchall() == [(42,)]
    copy.close()


def test_backup_inside_home_does_not_include_itself(home: Path, tmp_path: Path) -> None:
    out = home / "backups" / "b1.gsb"
    create_backup(out)
    create_backup(out)  # second run sees the first file at the same path and skips it
    assert "backups/b1.gsb" not in open_backup(out)


def test_restore_refuses_manifest_mismatch_and_writes_nothing(tmp_path: Path) -> None:
    files = {"data/apps.csv": b"id\n1\n", "notes.txt": b"hello"}
    manifest = {
        "format": "greenscore-backup",
        "files": {
            "data/apps.csv": {"sha256": hashlib.sha256(b"id\n1\n").hexdigest(), "size": 5},
            "notes.txt": {"sha256": hashlib.sha256(b"HELLO").hexdigest(), "size": 5},
        },
    }
    bad = tmp_path / "bad.gsb"
    bad.write_bytes(
        encrypt_bytes_with_master(
            build_archive(files, manifest=manifest), name=BACKUP_NAME, kind="backup"
        )
    )
    target = tmp_path / "restored"
    with pytest.raises(
        DataError, match=r"fails verification: 1 file\(s\) differ from its manifest, e.g. notes.txt"
    ):
        restore_backup(bad, target)
    assert not target.exists()


def test_restore_refuses_extra_file_not_in_manifest(tmp_path: Path) -> None:
    manifest = {"files": {}}
    bad = tmp_path / "extra.gsb"
    archive = build_archive({"smuggled.txt": b"x"}, manifest=manifest)
    bad.write_bytes(encrypt_bytes_with_master(archive, name=BACKUP_NAME, kind="backup"))
    with pytest.raises(DataError, match="smuggled.txt"):
        open_backup(bad)


def test_tampered_backup_and_wrong_master_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "b.gsb"
    create_backup(out)
    blob = bytearray(out.read_bytes())
    blob[-100] ^= 0x80
    tampered = tmp_path / "t.gsb"
    tampered.write_bytes(bytes(blob))
    with pytest.raises(PrivacyError, match="^tampered"):
        restore_backup(tampered, tmp_path / "r1")
    monkeypatch.setenv("GREENSCORE_MASTER_KEY", "22" * 32)
    with pytest.raises(PrivacyError, match="^wrong master key"):
        restore_backup(out, tmp_path / "r2")


def test_backup_opens_with_master_key_only_on_a_fresh_machine(tmp_path: Path) -> None:
    out = tmp_path / "b.gsb"
    create_backup(out)
    # A fresh machine: another home without a keyring; only the master key is shared.
    use_settings(Settings(home=tmp_path / "fresh"))
    files = open_backup(out, master=MasterKey.parse(KEY, source="test"))
    assert files["data/apps.csv"] == b"id,name\n1,Ada Lovelace\n"
    manifest_free = json.dumps(sorted(files))
    assert "MANIFEST.json" not in manifest_free


def test_restore_into_non_empty_folder_is_refused(tmp_path: Path) -> None:
    out = tmp_path / "b.gsb"
    create_backup(out)
    target = tmp_path / "busy"
    target.mkdir()
    (target / "keep.txt").write_text("mine")
    with pytest.raises(ConfigError, match="not empty"):
        restore_backup(out, target)
