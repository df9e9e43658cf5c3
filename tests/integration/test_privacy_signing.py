"""Bundle signatures: written at save, checked before anything is unpickled at load.

A bundle is a pickle, and unpickling runs code: loading must refuse a bundle that is
unsigned, whose files changed, whose manifest was forged, or that another keyring signed,
and must do so without running the payload.
"""

from __future__ import annotations

import hashlib
import json
import os
import pickle
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline

from greenscore.config import Settings, use_settings
from greenscore.data.spec import DatasetSpec
from greenscore.errors import ModelError
from greenscore.models.bundle import BUNDLE_FILE, ScoringBundle
from greenscore.privacy import at_rest
from greenscore.privacy.signing import SIGNATURE_FILE, sign_folder, verify_folder

X = pd.DataFrame({"x": [0.0, 1.0, 2.0, 3.0]})


class Payload:
    """Unpickling this creates a file: proof that code ran."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):  # noqa: ANN204
        return (Path.touch, (self.marker,))


@pytest.fixture(autouse=True)
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    for name in ("GREENSCORE_HOME", "GREENSCORE_DATABASE_URL", "GREENSCORE_MASTER_KEY"):
        monkeypatch.delenv(name, raising=False)
    use_settings(Settings(home=tmp_path / "home", environment="test"))
    yield tmp_path / "home"
    use_settings(None)


def bundle() -> ScoringBundle:
    pipe = Pipeline([("clf", LogisticRegression())]).fit(X, [0, 0, 1, 1])
    return ScoringBundle(name="logit", spec=DatasetSpec(target="y", numeric=["x"]), pipeline=pipe)


def evil(folder: Path, marker: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / BUNDLE_FILE).write_bytes(pickle.dumps(Payload(marker)))
    return folder


def test_saved_bundles_are_signed_and_load(tmp_path: Path) -> None:
    original = bundle()
    folder = original.save(tmp_path / "m")
    signature = json.loads((folder / SIGNATURE_FILE).read_text())
    assert set(signature["files"]) >= {BUNDLE_FILE, "metadata.json", "spec.yaml"}
    digest = hashlib.sha256((folder / BUNDLE_FILE).read_bytes()).hexdigest()
    assert signature["files"][BUNDLE_FILE] == digest and len(signature["mac"]) == 64
    np.testing.assert_allclose(ScoringBundle.load(folder).predict_pd(X), original.predict_pd(X))
    ScoringBundle.load(folder / BUNDLE_FILE)  # the file itself, in its signed folder


def test_an_unsigned_pickle_is_refused_without_running_it(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    folder = evil(tmp_path / "evil", marker)
    with pytest.raises(ModelError, match="is not signed; an admin can sign"):
        ScoringBundle.load(folder)
    assert not marker.exists()


def test_a_forged_manifest_is_refused(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    folder = evil(tmp_path / "evil", marker)
    data = (folder / BUNDLE_FILE).read_bytes()
    # Everything an attacker without the master key can write: the digests are right,
    # the MAC cannot be.
    (folder / SIGNATURE_FILE).write_text(
        json.dumps(
            {
                "format": "greenscore-bundle-signature",
                "version": 1,
                "files": {BUNDLE_FILE: hashlib.sha256(data).hexdigest()},
                "mac": "0" * 64,
            }
        )
    )
    with pytest.raises(ModelError, match="fails its signature .the manifest was altered"):
        ScoringBundle.load(folder)
    assert not marker.exists()


def test_a_changed_file_in_a_signed_bundle_is_refused(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    folder = bundle().save(tmp_path / "m")
    (folder / BUNDLE_FILE).write_bytes(pickle.dumps(Payload(marker)))
    with pytest.raises(ModelError, match="file 'bundle.joblib' was changed"):
        ScoringBundle.load(folder)
    with pytest.raises(ModelError, match="was changed"):
        verify_folder(folder)
    assert not marker.exists()


def test_a_link_in_place_of_a_signed_file_is_not_followed(tmp_path: Path) -> None:
    folder = bundle().save(tmp_path / "m")
    target = tmp_path / "elsewhere.bin"
    os.replace(folder / BUNDLE_FILE, target)
    (folder / BUNDLE_FILE).symlink_to(target)  # same bytes, but through a link
    with pytest.raises(ModelError, match="was changed or is missing"):
        ScoringBundle.load(folder)


def test_a_bundle_signed_by_another_keyring_is_refused_until_signed_here(
    home: Path, tmp_path: Path
) -> None:
    folder = bundle().save(tmp_path / "m")
    use_settings(Settings(home=tmp_path / "other-home", environment="test"))
    with pytest.raises(ModelError, match="signed by another keyring"):
        ScoringBundle.load(folder)
    sign_folder(folder)  # what 'greenscore model sign' does, after an admin's TOTP
    assert ScoringBundle.load(folder).name == "logit"


def test_encrypted_bundles_are_signed_too(home: Path, tmp_path: Path) -> None:
    settings = Settings(home=home, environment="test")
    settings.privacy.encryption_enabled = True
    use_settings(settings)
    folder = bundle().save(tmp_path / "enc")
    assert (folder / at_rest.ENCRYPTED_BUNDLE_FILE).exists()
    assert not (folder / BUNDLE_FILE).exists()
    assert at_rest.ENCRYPTED_BUNDLE_FILE in verify_folder(folder)
    assert ScoringBundle.load(folder).name == "logit"
    blob = bytearray((folder / at_rest.ENCRYPTED_BUNDLE_FILE).read_bytes())
    blob[-1] ^= 1
    (folder / at_rest.ENCRYPTED_BUNDLE_FILE).write_bytes(bytes(blob))
    with pytest.raises(ModelError, match="was changed"):
        ScoringBundle.load(folder)
