"""Envelope encryption: round trips, tamper/swap/wrong-key refusals, rotation, rewrap, retire."""

from __future__ import annotations

import base64
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from greenscore.config import Settings, use_settings
from greenscore.errors import ModelError, PrivacyError
from greenscore.privacy import at_rest
from greenscore.privacy.crypto import (
    decrypt_bytes,
    decrypt_file,
    encrypt_bytes,
    encrypt_file,
    rewrap_file,
)
from greenscore.privacy.keys import Keyring, MasterKey, keyring_path
from greenscore.privacy.object_format import header_kek_version, parse_header
from greenscore.privacy.signing import sign_folder

KEY = base64.b64encode(bytes(range(32))).decode()
OTHER_KEY = bytes(range(1, 33)).hex()


@pytest.fixture(autouse=True)
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv("GREENSCORE_HOME", raising=False)
    monkeypatch.delenv("GREENSCORE_DATABASE_URL", raising=False)
    monkeypatch.setenv("GREENSCORE_MASTER_KEY", KEY)
    use_settings(Settings(home=tmp_path / "home"))
    yield tmp_path / "home"
    use_settings(None)


def _flip(blob: bytes, index: int) -> bytes:
    out = bytearray(blob)
    out[index] ^= 0x01
    return bytes(out)


def test_bytes_round_trip_uses_fresh_data_key_per_object() -> None:
    data = os.urandom(5000)
    a = encrypt_bytes(data, name="a", kind="test")
    b = encrypt_bytes(data, name="a", kind="test")
    assert decrypt_bytes(a, name="a") == data and decrypt_bytes(b) == data
    assert a != b and data not in a
    assert parse_header(a).wrapped_key != parse_header(b).wrapped_key
    meta = parse_header(a).meta
    assert (meta["name"], meta["kind"]) == ("a", "test") and "created" in meta


@pytest.mark.parametrize("where", ["payload", "metadata", "wrapped_key", "nonce"])
def test_flipped_byte_anywhere_is_reported_as_tampering(where: str) -> None:
    blob = encrypt_bytes(b"secret rows" * 20, name="obj", kind="test")
    header = parse_header(blob)
    fixed = 5 + 1 + 4 + 2
    index = {
        "payload": len(blob) - 20,
        "wrapped_key": fixed + 3,
        "nonce": fixed + len(header.wrapped_key) + 2,
        "metadata": header.body_offset - 3,
    }[where]
    with pytest.raises(PrivacyError, match="^tampered"):
        decrypt_bytes(_flip(blob, index), name="obj")


def test_swapped_file_is_detected_by_name(home: Path, tmp_path: Path) -> None:
    src = tmp_path / "plain.bin"
    src.write_bytes(b"model A weights")
    a = encrypt_file(src, home / "models" / "a" / "bundle.joblib.enc", kind="bundle")
    src.write_bytes(b"model B weights")
    b = encrypt_file(src, home / "models" / "b" / "bundle.joblib.enc", kind="bundle")
    # An attacker with write access copies A over B: right key, wrong object.
    b.write_bytes(a.read_bytes())
    with pytest.raises(PrivacyError, match="^wrong object: expected 'b/bundle.joblib.enc'"):
        decrypt_file(b, tmp_path / "out.bin")
    assert decrypt_file(a, tmp_path / "out.bin").read_bytes() == b"model A weights"


def test_wrong_master_key_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    blob = encrypt_bytes(b"x", name="x", kind="test")
    monkeypatch.setenv("GREENSCORE_MASTER_KEY", OTHER_KEY)
    with pytest.raises(PrivacyError, match="^wrong master key"):
        decrypt_bytes(blob)
    monkeypatch.setenv("GREENSCORE_MASTER_KEY", "correct horse battery staple")
    with pytest.raises(PrivacyError, match="^wrong master key"):
        Keyring.open()


def test_missing_and_short_master_keys_are_refused(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("GREENSCORE_MASTER_KEY")
    # Only local and test use generate a master key (HOME/keys/master.key); production never.
    use_settings(Settings(home=home, environment="production"))
    with pytest.raises(
        PrivacyError, match="no master key: set the environment variable GREENSCORE_MASTER_KEY"
    ):
        encrypt_bytes(b"x", name="x", kind="t")
    use_settings(Settings(home=home, environment="local"))
    blob = encrypt_bytes(b"x", name="x", kind="t")
    assert decrypt_bytes(blob, name="x") == b"x"
    assert oct((home / "keys" / "master.key").stat().st_mode & 0o777) == "0o600"
    monkeypatch.setenv("GREENSCORE_MASTER_KEY", "short")
    with pytest.raises(PrivacyError, match="neither 32 bytes"):
        encrypt_bytes(b"x", name="x", kind="t")


def test_passphrase_and_key_file_sources(
    home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("GREENSCORE_MASTER_KEY")
    key_file = tmp_path / "master.key"
    key_file.write_text("a long enough passphrase\n")
    settings = Settings(home=home)
    settings.privacy.master_key_file = key_file
    use_settings(settings)
    assert MasterKey.from_settings().passphrase
    blob = encrypt_bytes(b"with passphrase", name="p", kind="t")
    assert decrypt_bytes(blob, name="p") == b"with passphrase"
    assert "passphrase" not in keyring_path().read_text() and "MasterKey(passphrase=True)" == repr(
        MasterKey.from_settings()
    )


def test_keyring_file_holds_no_key_material_in_clear(home: Path) -> None:
    keyring = Keyring.open()
    kek = keyring.kek(1)
    raw = keyring_path().read_bytes()
    assert kek not in raw and base64.b64encode(kek) not in raw and KEY.encode() not in raw
    assert oct(keyring_path().stat().st_mode & 0o777) == "0o600"


def test_rotation_rewrap_and_retire(home: Path, tmp_path: Path) -> None:
    src = tmp_path / "data.csv"
    src.write_text("id,income\n1,100\n")
    old = encrypt_file(src, home / "data" / "old.csv.enc", kind="dataset")
    keyring = Keyring.open()
    old_blob = old.read_bytes()
    assert keyring.rotate() == 2
    new = encrypt_file(src, home / "data" / "new.csv.enc", kind="dataset")
    assert (header_kek_version(old), header_kek_version(new)) == (1, 2)
    # Old and new both decrypt after rotation.
    for path in (old, new):
        assert decrypt_file(path, tmp_path / "o.csv").read_text() == src.read_text()

    with pytest.raises(PrivacyError, match="current one; rotate first"):
        Keyring.open().retire(2)
    with pytest.raises(
        PrivacyError, match=r"KEK version 1 still wraps 1 file\(s\).*old.csv.enc; rewrap"
    ):
        Keyring.open().retire(1)

    body = old_blob[parse_header(old_blob).body_offset :]
    assert rewrap_file(old) == 2
    rewrapped = old.read_bytes()
    assert rewrapped[parse_header(rewrapped).body_offset :] == body  # ciphertext untouched
    assert header_kek_version(old) == 2

    Keyring.open().retire(1)
    assert decrypt_file(old, tmp_path / "o.csv").read_text() == src.read_text()
    with pytest.raises(PrivacyError, match="KEK version 1 was retired"):
        decrypt_bytes(old_blob)
    status = {row["version"]: row for row in Keyring.open().status()}
    assert status[1]["retired"] and status[2]["current"] and status[2]["files"] == 2


def test_untracked_encrypted_file_in_home_still_blocks_retire(home: Path) -> None:
    blob = encrypt_bytes(b"restored from elsewhere", name="x/y.enc", kind="t")
    (home / "x").mkdir(parents=True)
    (home / "x" / "y.enc").write_bytes(blob)  # never passed through encrypt_file
    Keyring.open().rotate()
    with pytest.raises(PrivacyError, match="still wraps 1 file"):
        Keyring.open().retire(1)


def test_dataset_round_trip_encrypted_and_plain(home: Path) -> None:
    frame = pd.DataFrame(
        {"applicant_id": [1, 2, 3], "income": [10.5, 20.0, np.nan], "name": ["a", "b", "c"]}
    )
    written = at_rest.write_table(frame, home / "data" / "apps.parquet", encrypt=True)
    assert written.name == "apps.parquet.enc" and not (home / "data" / "apps.parquet").exists()
    assert b"applicant_id" not in written.read_bytes()
    pd.testing.assert_frame_equal(at_rest.read_table(written), frame)
    plain = at_rest.write_table(frame, home / "data" / "apps.csv", encrypt=False)
    pd.testing.assert_frame_equal(at_rest.read_table(plain), frame)


def test_encryption_setting_drives_write_table(home: Path) -> None:
    settings = Settings(home=home)
    settings.privacy.encryption_enabled = True
    use_settings(settings)
    written = at_rest.write_table(pd.DataFrame({"a": [1]}), home / "t.csv")
    assert written.suffix == ".enc"


def test_model_bundle_round_trip_and_swap(home: Path) -> None:
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline

    from greenscore.data.spec import DatasetSpec
    from greenscore.models.bundle import BUNDLE_FILE, ScoringBundle

    X = pd.DataFrame({"x": [0.0, 1.0, 2.0, 3.0]})
    pipe = Pipeline([("clf", LogisticRegression())]).fit(X, [0, 0, 1, 1])
    spec = DatasetSpec(target="y", numeric=["x"])
    bundle = ScoringBundle(name="logit", spec=spec, pipeline=pipe)
    settings = Settings(home=home)
    settings.privacy.encryption_enabled = True
    use_settings(settings)
    folder = bundle.save(home / "models" / "logit")
    encrypted = folder / at_rest.ENCRYPTED_BUNDLE_FILE
    assert encrypted.exists() and not (folder / BUNDLE_FILE).exists()
    assert b"LogisticRegression" not in encrypted.read_bytes()
    loaded = ScoringBundle.load(folder)
    np.testing.assert_allclose(loaded.predict_pd(X), bundle.predict_pd(X))

    other = bundle.save(home / "models" / "other")
    (other / at_rest.ENCRYPTED_BUNDLE_FILE).write_bytes(
        (folder / at_rest.ENCRYPTED_BUNDLE_FILE).read_bytes()
    )
    # The bundle's signature catches the swap first; signed anyway, the cipher still does.
    with pytest.raises(ModelError, match="was changed"):
        ScoringBundle.load(other)
    sign_folder(other)
    with pytest.raises(PrivacyError, match="wrong object"):
        ScoringBundle.load(other)
