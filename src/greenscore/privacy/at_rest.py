"""Encryption at rest for what GreenScore stores: dataset files and model bundles.

When ``settings.privacy.encryption_enabled`` is on, a stored table ``x.parquet`` is
written as ``x.parquet.enc`` and a bundle's ``bundle.joblib`` as ``bundle.joblib.enc``;
readers here recognise either form, so code that stores through these helpers does not
care whether encryption is on. The plaintext never touches the disk: it is serialised in
memory and encrypted before the one atomic write.

Model bundles (:class:`~greenscore.models.bundle.ScoringBundle`) use the byte-level pair
:func:`encrypt_to_file` / :func:`read_signed_encrypted` for their model file: encrypted
bundles are signed like plain ones (:mod:`greenscore.privacy.signing`, over the ciphertext
file), and the signature is checked before the file is even decrypted. Nothing here knows
what a bundle is.
"""

from __future__ import annotations

import io
from pathlib import Path

import pandas as pd

from greenscore.config import Settings, get_settings
from greenscore.errors import DataError, NotFoundError
from greenscore.privacy._files import atomic_write
from greenscore.privacy.crypto import (
    decrypt_bytes,
    object_name,
    read_encrypted,
    write_encrypted,
)
from greenscore.privacy.object_format import is_encrypted
from greenscore.privacy.signing import read_signed, signed_manifest

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


def install_dataset_reader(settings: Settings | None = None) -> None:
    """Let every data reader (:func:`greenscore.data.io.open_source`) open encrypted
    dataset files in place, with the keys of ``settings`` (default: the settings current
    when a file is read).

    The data layer sits below privacy and cannot import it; the CLI and the service call
    this as they start.
    """
    from greenscore.data.io import register_decryptor
    from greenscore.privacy.keys import Keyring

    def decrypt(path: Path) -> bytes:
        return read_encrypted(path, keyring=Keyring.open(settings) if settings else None)

    register_decryptor(decrypt)


def encrypt_to_file(target: Path | str, data: bytes, *, kind: str) -> Path:
    """Encrypt bytes made in memory and write them to ``target`` in one atomic write (the
    plaintext never touches the disk); the object is named after ``target``."""
    from greenscore.privacy.crypto import encrypt_bytes

    target = Path(target)
    return write_encrypted(target, encrypt_bytes(data, name=object_name(target), kind=kind))


def read_signed_encrypted(target: Path | str) -> bytes:
    """The plaintext of an encrypted file in a signed folder: the signature over the
    ciphertext is checked before anything is decrypted.

    Raises
    ------
    ModelError
        If the folder is unsigned or the file does not match its signature.
    PrivacyError
        If the file cannot be decrypted (wrong key, tampered, swapped from another folder).
    """
    target = Path(target)
    blob = read_signed(target.parent, target.name, signed_manifest(target.parent))
    return decrypt_bytes(blob, name=object_name(target))
