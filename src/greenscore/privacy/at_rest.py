"""Encryption at rest for what GreenScore stores: dataset files and model bundles.

When ``settings.privacy.encryption_enabled`` is on, a stored table ``x.parquet`` is
written as ``x.parquet.enc`` and a bundle's ``bundle.joblib`` as ``bundle.joblib.enc``;
readers here recognise either form, so code that stores through these helpers does not
care whether encryption is on. The plaintext never touches the disk: it is serialised in
memory and encrypted before the one atomic write.

Hook for :class:`~greenscore.models.bundle.ScoringBundle`: ``save`` may call
:func:`save_encrypted_bundle` when :func:`encryption_enabled` is true, and ``load`` may call
:func:`load_encrypted_bundle` when :func:`is_encrypted_bundle` is true for the folder.
Encrypted bundles are signed like plain ones (:mod:`greenscore.privacy.signing`, over the
ciphertext file): the signature is checked before the file is even decrypted.
"""

from __future__ import annotations

import io
import json
import warnings
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from greenscore.config import Settings, get_settings
from greenscore.errors import DataError, ModelError, NotFoundError
from greenscore.privacy._files import atomic_write
from greenscore.privacy.crypto import (
    decrypt_bytes,
    object_name,
    read_encrypted,
    write_encrypted,
)
from greenscore.privacy.object_format import is_encrypted
from greenscore.privacy.signing import read_signed, sign_folder, signed_manifest

if TYPE_CHECKING:
    from greenscore.models.bundle import ScoringBundle

ENC_SUFFIX = ".enc"
ENCRYPTED_BUNDLE_FILE = "bundle.joblib.enc"
TABLE_FORMATS = (".csv", ".parquet", ".json", ".jsonl")


def encryption_enabled(settings: Settings | None = None) -> bool:
    """Whether stored data and bundles are encrypted (``privacy.encryption_enabled``)."""
    return bool((settings or get_settings()).privacy.encryption_enabled)


def plain_path(path: Path | str) -> Path:
    """The path without a trailing ``.enc`` (tells the table format of an encrypted file)."""
    path = Path(path)
    return path.with_suffix("") if path.suffix == ENC_SUFFIX else path


def _table_format(path: Path) -> str:
    suffix = plain_path(path).suffix.lower()
    if suffix not in TABLE_FORMATS:
        raise DataError(f"{path}: stored tables must be one of {', '.join(TABLE_FORMATS)}")
    return suffix


def _serialise(frame: pd.DataFrame, fmt: str) -> bytes:
    buffer = io.BytesIO()
    if fmt == ".parquet":
        frame.to_parquet(buffer, index=False)
    elif fmt == ".csv":
        frame.to_csv(buffer, index=False)
    elif fmt == ".json":
        frame.to_json(buffer, orient="records", date_format="iso")
    else:
        frame.to_json(buffer, orient="records", lines=True, date_format="iso")
    return buffer.getvalue()


def _deserialise(data: bytes, fmt: str, *, what: Path) -> pd.DataFrame:
    buffer = io.BytesIO(data)
    try:
        if fmt == ".parquet":
            return pd.read_parquet(buffer)
        if fmt == ".csv":
            return pd.read_csv(buffer, low_memory=False)
        return pd.read_json(buffer, orient="records", lines=fmt == ".jsonl")
    except Exception as exc:  # each reader fails in its own way on bad bytes
        raise DataError(f"{what}: not a readable {fmt[1:]} table ({type(exc).__name__})") from exc


def write_table(frame: pd.DataFrame, path: Path | str, *, encrypt: bool | None = None) -> Path:
    """Store a table, encrypted when ``encrypt`` (default: the setting) is true.

    Parameters
    ----------
    frame : DataFrame
        The rows; the index is not stored.
    path : path
        Where to store it; the format comes from the suffix (``.csv``, ``.parquet``,
        ``.json``, ``.jsonl``), and ``.enc`` is appended when encrypting.
    encrypt : bool, optional
        Force encryption on or off.

    Returns
    -------
    Path
        The file actually written.
    """
    path = plain_path(path)
    fmt = _table_format(path)
    data = _serialise(frame, fmt)
    path.parent.mkdir(parents=True, exist_ok=True)
    if encryption_enabled() if encrypt is None else encrypt:
        from greenscore.privacy.crypto import encrypt_bytes, object_name

        target = path.with_name(path.name + ENC_SUFFIX)
        write_encrypted(target, encrypt_bytes(data, name=object_name(target), kind="dataset"))
        return target
    atomic_write(path, data, mode=0o644)
    return path


def read_table(path: Path | str) -> pd.DataFrame:
    """Read a table stored by :func:`write_table`, decrypting it when it is encrypted.

    Raises
    ------
    NotFoundError
        If the file does not exist.
    PrivacyError
        If it is encrypted and cannot be opened (wrong key, tampered, swapped).
    """
    path = Path(path)
    if not path.exists():
        raise NotFoundError(f"no stored table at {path}")
    fmt = _table_format(path)
    data = read_encrypted(path) if is_encrypted(path) else path.read_bytes()
    return _deserialise(data, fmt, what=path)


def is_encrypted_bundle(folder: Path | str) -> bool:
    """True when a bundle folder holds an encrypted bundle file."""
    return (Path(folder) / ENCRYPTED_BUNDLE_FILE).exists()


def save_encrypted_bundle(bundle: ScoringBundle, folder: Path | str) -> Path:
    """Save a bundle like ``ScoringBundle.save`` but with the model file encrypted.

    ``metadata.json`` and ``spec.yaml`` stay readable: they describe the model (metrics,
    columns, versions) and hold no applicant data.
    """
    import joblib

    import greenscore
    from greenscore.models.bundle import BUNDLE_FILE, METADATA_FILE, SPEC_FILE
    from greenscore.privacy.crypto import encrypt_bytes, object_name

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    if bundle.metadata.greenscore_version is None:
        bundle.metadata.greenscore_version = greenscore.__version__
    buffer = io.BytesIO()
    joblib.dump(bundle, buffer, compress=3)
    target = folder / ENCRYPTED_BUNDLE_FILE
    write_encrypted(
        target, encrypt_bytes(buffer.getvalue(), name=object_name(target), kind="bundle")
    )
    # A plaintext copy from an earlier unencrypted save would defeat the point.
    (folder / BUNDLE_FILE).unlink(missing_ok=True)
    meta = {"name": bundle.name, **bundle.metadata.to_dict()}
    (folder / METADATA_FILE).write_text(json.dumps(meta, indent=2, default=str), "utf-8")
    bundle.spec.to_yaml(folder / SPEC_FILE)
    sign_folder(folder)
    return folder


def load_encrypted_bundle(folder: Path | str) -> ScoringBundle:
    """Load a bundle saved by :func:`save_encrypted_bundle`.

    Raises
    ------
    NotFoundError
        If the folder holds no encrypted bundle.
    ModelError
        If the bundle is unsigned or fails its signature (checked first), or the
        decrypted bytes are not a ScoringBundle.
    PrivacyError
        If the file cannot be decrypted (wrong key, tampered, swapped from another folder).
    """
    import joblib

    import greenscore
    from greenscore.models.bundle import ScoringBundle

    target = Path(folder) / ENCRYPTED_BUNDLE_FILE
    if not target.exists():
        raise NotFoundError(f"no encrypted model bundle at {folder}")
    blob = read_signed(target.parent, target.name, signed_manifest(target.parent))
    data = decrypt_bytes(blob, name=object_name(target))
    try:
        bundle = joblib.load(io.BytesIO(data))
    except ModelError:
        raise  # metadata this release cannot read: the error names what
    except Exception as exc:  # a foreign pickle can fail in many ways
        raise ModelError(f"{target} decrypts but is not a readable bundle: {exc}") from exc
    if not isinstance(bundle, ScoringBundle):
        raise ModelError(f"{target} holds a {type(bundle).__name__}, not a ScoringBundle")
    saved = bundle.metadata.greenscore_version
    if saved != greenscore.__version__:
        warnings.warn(
            f"bundle saved by GreenScore {saved}, loading with {greenscore.__version__}",
            stacklevel=2,
        )
    return bundle
