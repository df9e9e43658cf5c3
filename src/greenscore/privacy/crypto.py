"""AES-256-GCM envelope encryption of bytes and files.

Every object gets a fresh 256-bit data key, which is wrapped (AES-GCM) by a versioned KEK
from the :class:`~greenscore.privacy.keys.Keyring` — or, for backups that must open on a
fresh machine, by a key derived from the master key alone (KEK version 0).

Object layout: see :mod:`greenscore.privacy.object_format`.

The payload's associated data is ``magic | format | nonce | meta_len | metadata``: the
metadata is authenticated, so a swapped file (right key, wrong object) is caught by name,
while the KEK fields stay outside it, so :func:`rewrap_file` can re-wrap the data key
without touching the ciphertext. The wrapped key is itself bound to the metadata.
"""

from __future__ import annotations

import base64
import json
import secrets
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from greenscore.errors import PrivacyError
from greenscore.privacy._files import atomic_write
from greenscore.privacy.keys import KEY_BYTES, Keyring, MasterKey
from greenscore.privacy.object_format import (
    NONCE_BYTES,
    Header,
    parse_header,
)

MASTER_KEK_VERSION = 0
# AES-GCM in `cryptography` takes at most 2**31 - 1 bytes in one call.
MAX_PLAINTEXT = 2**31 - 1 - 16

TAMPERED_KEY = (
    "tampered: the data key of '{name}' fails authentication under KEK v{version} "
    "(changed header, or encrypted under another keyring)"
)
TAMPERED = "tampered: '{name}' fails authentication (a byte of the file was changed)"
WRONG_OBJECT = "wrong object: expected '{expected}' but the file holds '{actual}' (swapped file?)"
WRONG_MASTER = "wrong master key: it does not open '{name}' (key check value differs)"
TOO_LARGE = "'{name}' is {size} bytes; one encrypted object holds at most {limit} bytes"


def _wrap(kek: bytes, data_key: bytes, meta_bytes: bytes) -> bytes:
    nonce = secrets.token_bytes(NONCE_BYTES)
    return nonce + AESGCM(kek).encrypt(nonce, data_key, b"gs-data-key|" + meta_bytes)


def _unwrap(kek: bytes, wrapped: bytes, meta_bytes: bytes) -> bytes:
    return AESGCM(kek).decrypt(
        wrapped[:NONCE_BYTES], wrapped[NONCE_BYTES:], b"gs-data-key|" + meta_bytes
    )


def _meta(name: str, kind: str, extra: dict[str, Any] | None = None) -> bytes:
    meta = {"name": name, "kind": kind, "created": datetime.now(UTC).isoformat(timespec="seconds")}
    meta.update(extra or {})
    return json.dumps(meta, sort_keys=True, separators=(",", ":")).encode()


def _seal(data: bytes, *, meta_bytes: bytes, kek_version: int, kek: bytes, name: str) -> bytes:
    if len(data) > MAX_PLAINTEXT:
        raise PrivacyError(TOO_LARGE.format(name=name, size=len(data), limit=MAX_PLAINTEXT))
    data_key = AESGCM.generate_key(bit_length=8 * KEY_BYTES)
    header = Header(
        kek_version=kek_version,
        wrapped_key=_wrap(kek, data_key, meta_bytes),
        nonce=secrets.token_bytes(NONCE_BYTES),
        meta_bytes=meta_bytes,
        body_offset=0,
    )
    return header.encode() + AESGCM(data_key).encrypt(header.nonce, data, header.aad)


def _open(blob: bytes, kek_for: Callable[[Header], bytes], *, name: str | None, what: str) -> bytes:
    header = parse_header(blob, what=what)
    label = header.meta.get("name", what)
    kek = kek_for(header)
    try:
        data_key = _unwrap(kek, header.wrapped_key, header.meta_bytes)
    except InvalidTag as exc:
        raise PrivacyError(TAMPERED_KEY.format(name=label, version=header.kek_version)) from exc
    try:
        data = AESGCM(data_key).decrypt(header.nonce, blob[header.body_offset :], header.aad)
    except InvalidTag as exc:
        raise PrivacyError(TAMPERED.format(name=label)) from exc
    if name is not None and label != name:
        raise PrivacyError(WRONG_OBJECT.format(expected=name, actual=label))
    return data


def _keyring_kek(keyring: Keyring | None) -> Callable[[Header], bytes]:
    def lookup(header: Header) -> bytes:
        return (keyring or Keyring.open()).kek(header.kek_version)

    return lookup


def _master_kek(master: MasterKey | None) -> Callable[[Header], bytes]:
    def lookup(header: Header) -> bytes:
        key = master or MasterKey.from_settings()
        meta = header.meta
        try:
            salt = base64.b64decode(meta["salt"], validate=True)
            check = meta["check"]
        except (KeyError, ValueError, TypeError) as exc:
            raise PrivacyError(TAMPERED.format(name=meta.get("name", "object"))) from exc
        if key.check_value(salt) != check:
            raise PrivacyError(WRONG_MASTER.format(name=meta.get("name", "object")))
        return key.derive(salt, "object-kek")

    return lookup


# ---------------------------------------------------------------------- bytes
def encrypt_bytes(data: bytes, *, name: str, kind: str, keyring: Keyring | None = None) -> bytes:
    """Encrypt bytes under a fresh data key wrapped by the keyring's current KEK.

    Parameters
    ----------
    data : bytes
        The plaintext.
    name : str
        The object's identity, checked on decryption (catches swapped files).
    kind : str
        What it is (``dataset``, ``bundle``, ``backup``, ...), kept in the metadata.
    keyring : Keyring, optional
        Defaults to the keyring of the current settings.

    Returns
    -------
    bytes
        Header followed by ciphertext and tag.
    """
    keyring = keyring or Keyring.open()
    version = keyring.current_version
    return _seal(
        data, meta_bytes=_meta(name, kind), kek_version=version, kek=keyring.kek(version), name=name
    )


def encrypt_bytes_with_master(
    data: bytes, *, name: str, kind: str, master: MasterKey | None = None
) -> bytes:
    """Encrypt bytes under a key derived from the master key alone (KEK version 0).

    For backups: they must open on a machine whose keyring was lost, given only the master key.
    """
    master = master or MasterKey.from_settings()
    salt = secrets.token_bytes(16)
    extra = {"salt": base64.b64encode(salt).decode(), "check": master.check_value(salt)}
    return _seal(
        data,
        meta_bytes=_meta(name, kind, extra),
        kek_version=MASTER_KEK_VERSION,
        kek=master.derive(salt, "object-kek"),
        name=name,
    )


def decrypt_bytes(
    blob: bytes,
    *,
    name: str | None = None,
    keyring: Keyring | None = None,
    master: MasterKey | None = None,
) -> bytes:
    """Decrypt an object made by :func:`encrypt_bytes` or :func:`encrypt_bytes_with_master`.

    Parameters
    ----------
    blob : bytes
        The encrypted object.
    name : str, optional
        The object expected; a different authenticated name raises (swapped file).
    keyring, master : optional
        Key sources; default to those of the current settings.

    Raises
    ------
    PrivacyError
        Not an encrypted object; wrong master key; unknown or retired KEK; tampered
        header or ciphertext; or a different object than ``name``. Never returns garbage.
    """
    what = f"object '{name}'" if name else "data"
    header = parse_header(blob, what=what)
    lookup = (
        _master_kek(master) if header.kek_version == MASTER_KEK_VERSION else _keyring_kek(keyring)
    )
    return _open(blob, lookup, name=name, what=what)


def object_meta(blob: bytes) -> dict[str, Any]:
    """The clear-text metadata of an object (unauthenticated until it is decrypted)."""
    return parse_header(blob).meta


# ---------------------------------------------------------------------- files
def object_name(path: Path | str) -> str:
    """The identity a file is encrypted under: its folder and file name.

    Two files that share a name in different folders (every bundle's ``bundle.joblib.enc``)
    get different identities, while moving a whole home folder keeps them.
    """
    path = Path(path)
    return f"{path.parent.name}/{path.name}" if path.parent.name else path.name


def encrypt_file(
    src: Path | str,
    dst: Path | str,
    *,
    kind: str,
    name: str | None = None,
    keyring: Keyring | None = None,
) -> Path:
    """Encrypt a file to ``dst`` (atomically) and record its KEK version in the keyring.

    The object name defaults to :func:`object_name` of ``dst``.
    """
    keyring = keyring or Keyring.open()
    dst = Path(dst)
    blob = encrypt_bytes(
        Path(src).read_bytes(), name=name or object_name(dst), kind=kind, keyring=keyring
    )
    write_encrypted(dst, blob, keyring=keyring)
    return dst


def write_encrypted(dst: Path | str, blob: bytes, *, keyring: Keyring | None = None) -> Path:
    """Write an encrypted object to a file atomically and track its KEK version."""
    dst = Path(dst)
    dst.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(dst, blob, mode=0o600)
    version = parse_header(blob).kek_version
    if version != MASTER_KEK_VERSION:
        (keyring or Keyring.open()).track(dst, version)
    return dst


def read_encrypted(
    src: Path | str, *, name: str | None = None, keyring: Keyring | None = None
) -> bytes:
    """Decrypt a file's bytes; the expected name defaults to :func:`object_name` of ``src``."""
    src = Path(src)
    try:
        blob = src.read_bytes()
    except OSError as exc:
        raise PrivacyError(f"cannot read encrypted file {src}: {exc.strerror}") from exc
    return decrypt_bytes(blob, name=name or object_name(src), keyring=keyring)


def decrypt_file(
    src: Path | str, dst: Path | str, *, name: str | None = None, keyring: Keyring | None = None
) -> Path:
    """Decrypt ``src`` into ``dst`` (atomically); see :func:`decrypt_bytes` for the errors."""
    dst = Path(dst)
    data = read_encrypted(src, name=name, keyring=keyring)
    dst.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(dst, data, mode=0o600)
    return dst


def rewrap_file(path: Path | str, *, keyring: Keyring | None = None) -> int:
    """Re-wrap a file's data key with the newest KEK, leaving the ciphertext byte-for-byte.

    Returns
    -------
    int
        The KEK version the file is wrapped by afterwards.

    Raises
    ------
    PrivacyError
        If the file is not encrypted, its KEK is retired, or its header was tampered with.
    """
    keyring = keyring or Keyring.open()
    path = Path(path)
    blob = path.read_bytes()
    header = parse_header(blob, what=str(path))
    if header.kek_version == MASTER_KEK_VERSION:
        raise PrivacyError(
            f"{path} is wrapped by the master key itself (a backup); nothing to rewrap"
        )
    current = keyring.current_version
    if header.kek_version != current:
        try:
            data_key = _unwrap(
                keyring.kek(header.kek_version), header.wrapped_key, header.meta_bytes
            )
        except InvalidTag as exc:
            label = header.meta.get("name", str(path))
            raise PrivacyError(TAMPERED_KEY.format(name=label, version=header.kek_version)) from exc
        new_header = Header(
            kek_version=current,
            wrapped_key=_wrap(keyring.kek(current), data_key, header.meta_bytes),
            nonce=header.nonce,
            meta_bytes=header.meta_bytes,
            body_offset=0,
        )
        atomic_write(path, new_header.encode() + blob[header.body_offset :], mode=0o600)
    keyring.track(path, current)
    return current
