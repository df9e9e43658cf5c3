"""Typed bundle metadata: validated on load, 0.1.0 dicts converted, newer schemas refused by name."""

from __future__ import annotations

import io
import pickle

import joblib
import numpy as np
import pytest
from serving_bundle import shared

from greenscore.config import Settings, use_settings
from greenscore.errors import ModelError
from greenscore.models.bundle import ScoringBundle, content_id
from greenscore.models.metadata import (
    NEWER_SCHEMA,
    SCHEMA_VERSION,
    BundleMetadata,
    RegistryInfo,
)


@pytest.fixture
def home(tmp_path):
    use_settings(Settings(home=tmp_path, environment="test"))
    yield tmp_path
    use_settings(None)


def _copy(bundle: ScoringBundle, metadata: object) -> ScoringBundle:
    other = ScoringBundle(name=bundle.name, spec=bundle.spec, pipeline=bundle.pipeline)
    other.__dict__["metadata"] = metadata  # as a pickle of another release would hold it
    return other


def test_a_plain_dict_is_validated_into_typed_fields() -> None:
    meta = BundleMetadata.read(
        {"training_pd": [0.1, 0.2], "metrics": {"auc": 0.8}, "lender": "bank-a", "extra": 1}
    )
    assert meta.schema_version == SCHEMA_VERSION
    assert meta.training_pd == [0.1, 0.2] and meta.metrics["auc"] == 0.8
    assert meta.lender == "bank-a" and meta.extra == 1  # unknown keys are kept
    assert meta.model_version() == "unsaved"
    meta.registry = RegistryInfo(name="pd", version=3)
    assert meta.model_version() == "3"


def test_a_field_that_does_not_validate_is_named() -> None:
    with pytest.raises(ModelError, match="field 'training_pd'"):
        BundleMetadata.read({"training_pd": "not a list"})
    with pytest.raises(ModelError, match="mapping"):
        BundleMetadata.read(["not", "a", "mapping"])


def test_a_0_1_0_bundle_pickle_loads_with_converted_metadata() -> None:
    _, bundle = shared()
    legacy = {
        "training_ranges": dict(bundle.metadata.training_ranges),
        "training_pd": list(bundle.metadata.training_pd or []),
        "metrics": None,  # 0.1.0 could leave it empty
        "greenscore_version": "0.1.0",
        "reason_codes": bundle.metadata.reason_codes,
    }
    old = _copy(bundle, legacy)
    state = dict(old.__dict__)  # what a 0.1.0 pickle holds: metadata as a plain dict
    loaded = ScoringBundle.__new__(ScoringBundle)
    loaded.__setstate__(state)
    assert isinstance(loaded.metadata, BundleMetadata)
    assert loaded.metadata.greenscore_version == "0.1.0" and loaded.metadata.metrics == {}
    assert loaded.metadata.training_ranges == legacy["training_ranges"]
    np.testing.assert_allclose(
        loaded.predict_pd(bundle.model_input(shared()[0].frame.head(5))),
        bundle.predict_pd(bundle.model_input(shared()[0].frame.head(5))),
    )


def test_metadata_of_a_newer_schema_is_refused_naming_the_versions(home, monkeypatch) -> None:
    _, bundle = shared()
    newer = _copy(bundle, {"schema_version": SCHEMA_VERSION + 1, "greenscore_version": "9.0.0"})
    # What a later release pickles: its own metadata layout, as plain data.
    with monkeypatch.context() as patch:
        patch.setattr(ScoringBundle, "__getstate__", lambda self: dict(self.__dict__))
        data = pickle.dumps(newer)
        written = _joblib_bytes(newer)
    with pytest.raises(ModelError) as caught:
        pickle.loads(data)
    message = str(caught.value)
    assert str(SCHEMA_VERSION + 1) in message and "9.0.0" in message
    assert message.startswith(NEWER_SCHEMA.split("{")[0])
    # Through ScoringBundle.load the same error reaches the user, not "not readable".
    folder = bundle.save(home / "m")
    (folder / "bundle.joblib").write_bytes(written)
    from greenscore.privacy.signing import sign_folder

    sign_folder(folder)
    with pytest.raises(ModelError, match="schema version"):
        ScoringBundle.load(folder)


def _joblib_bytes(obj: object) -> bytes:
    buffer = io.BytesIO()
    joblib.dump(obj, buffer, compress=3)
    return buffer.getvalue()


def test_save_writes_a_content_version_that_load_keeps(home) -> None:
    _, bundle = shared()
    copy = ScoringBundle(
        name=bundle.name, spec=bundle.spec, pipeline=bundle.pipeline, metadata=bundle.metadata
    )
    copy.metadata = BundleMetadata.read(bundle.metadata.to_dict() | {"content_id": None})
    assert copy.version == "unsaved"
    folder = copy.save(home / "m")
    assert copy.version == content_id(bundle.pipeline)
    assert copy.version.startswith("sha256:") and len(copy.version) == 19
    loaded = ScoringBundle.load(folder)
    assert loaded.version == copy.version and loaded.model_name == bundle.name
    assert loaded.metadata.greenscore_version is not None
