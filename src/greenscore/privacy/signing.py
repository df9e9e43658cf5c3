"""Signatures over a model bundle's files, checked before anything in them is unpickled.

A bundle is a pickle, and unpickling runs code: a bundle must come from this platform. At
save, ``signature.json`` is written beside the bundle's files: a manifest of their names
and SHA-256 digests and an HMAC-SHA256 of it under a key derived from the keyring
(purpose ``"bundle-signature"``, see :meth:`~greenscore.privacy.keys.Keyring.derive_key`).
At load, the manifest's MAC is checked first (only ``signature.json`` has been read then),
then every listed file's digest; the bytes that are unpickled are the very bytes whose
digest was checked, read once. Files the manifest does not list are never read.

A bundle signed in one home opens wherever the same master key opens the same keyring
(copies of a home, the MLflow registry of that home). A bundle from elsewhere, or saved
before signatures existed, is refused until an admin signs it
(``greenscore model sign --model PATH``).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import stat
from pathlib import Path
from typing import Any

from greenscore.config import Settings, get_settings
from greenscore.errors import ModelError
from greenscore.privacy._files import atomic_write
from greenscore.privacy.keys import derived_key

SIGNATURE_FILE = "signature.json"
SIGNATURE_FORMAT = "greenscore-bundle-signature"
SIGNATURE_VERSION = 1
KEY_PURPOSE = "bundle-signature"

UNSIGNED = (
    "model bundle {folder} is not signed; an admin can sign a bundle they trust with "
    "'greenscore model sign --model {folder}'"
)
BAD_SIGNATURE_FILE = "model bundle {folder} has an unreadable signature file ({why})"
OTHER_KEY = (
    "model bundle {folder} is signed by another keyring (another home or master key); "
    "an admin can re-sign it here with 'greenscore model sign'"
)
FORGED = "model bundle {folder} fails its signature (the manifest was altered)"
CHANGED = "model bundle {folder} fails its signature: file '{name}' was changed or is missing"
NOT_LISTED = "model bundle {folder} fails its signature: '{name}' is not a signed file"


def _key(settings: Settings | None) -> bytes:
    return derived_key(KEY_PURPOSE, settings or get_settings())


def _key_check(key: bytes) -> str:
    """A public fingerprint of the signing key, to tell 'another keyring' from 'altered'."""
    return hmac.new(key, b"greenscore key check", hashlib.sha256).hexdigest()[:16]


def _mac(key: bytes, body: dict[str, Any]) -> str:
    text = json.dumps(body, sort_keys=True, separators=(",", ":"))
    return hmac.new(key, text.encode("utf-8"), hashlib.sha256).hexdigest()


def _read_regular(path: Path) -> bytes:
    """A regular file's bytes; a symbolic link is refused, not followed.

    A signed name replaced by a link to some other file (the live database, say) must not
    get that file opened: closing any descriptor of a SQLite file drops the process's
    locks on it.
    """
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    with os.fdopen(fd, "rb") as fh:
        if not stat.S_ISREG(os.fstat(fh.fileno()).st_mode):
            raise OSError(f"{path} is not a regular file")
        return fh.read()


def _sha256(path: Path) -> str:
    return hashlib.sha256(_read_regular(path)).hexdigest()


def sign_folder(folder: Path | str, *, settings: Settings | None = None) -> Path:
    """Write ``signature.json`` over every regular file of a bundle folder.

    Returns
    -------
    Path
        The signature file.

    Raises
    ------
    PrivacyError
        If there is no usable master key (production must configure one).
    """
    folder = Path(folder)
    key = _key(settings)
    files = {
        p.name: _sha256(p)
        for p in sorted(folder.iterdir())
        if p.is_file() and not p.is_symlink() and p.name != SIGNATURE_FILE
        if not p.name.startswith(".")
    }
    body = {"format": SIGNATURE_FORMAT, "version": SIGNATURE_VERSION, "files": files}
    document = {**body, "key_check": _key_check(key), "mac": _mac(key, body)}
    target = folder / SIGNATURE_FILE
    atomic_write(target, (json.dumps(document, indent=1) + "\n").encode("utf-8"), mode=0o644)
    return target


def signed_manifest(folder: Path | str, *, settings: Settings | None = None) -> dict[str, str]:
    """The manifest (file name -> SHA-256) of a folder whose signature checks out.

    Only ``signature.json`` is read; the files themselves are checked by
    :func:`read_signed` (or all at once by :func:`verify_folder`).

    Raises
    ------
    ModelError
        If the folder is unsigned, the signature file unreadable, made under another
        keyring, or the manifest altered.
    """
    folder = Path(folder)
    path = folder / SIGNATURE_FILE
    if not path.is_file():
        raise ModelError(UNSIGNED.format(folder=folder))
    try:
        document = json.loads(_read_regular(path).decode("utf-8"))
        body = {
            "format": document["format"],
            "version": document["version"],
            "files": {str(k): str(v) for k, v in dict(document["files"]).items()},
        }
        mac, key_check = str(document["mac"]), str(document.get("key_check", ""))
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ModelError(BAD_SIGNATURE_FILE.format(folder=folder, why=type(exc).__name__)) from exc
    key = _key(settings)
    if not hmac.compare_digest(_mac(key, body), mac):
        if key_check and not hmac.compare_digest(_key_check(key), key_check):
            raise ModelError(OTHER_KEY.format(folder=folder))
        raise ModelError(FORGED.format(folder=folder))
    for name in body["files"]:
        if Path(name).name != name or name in ("", ".", ".."):
            raise ModelError(FORGED.format(folder=folder))
    return body["files"]


def read_signed(folder: Path | str, name: str, manifest: dict[str, str]) -> bytes:
    """The bytes of one signed file, after checking them against the manifest.

    Raises
    ------
    ModelError
        If the file is not in the manifest, missing, or its digest differs.
    """
    folder = Path(folder)
    if name not in manifest:
        raise ModelError(NOT_LISTED.format(folder=folder, name=name))
    try:
        data = _read_regular(folder / name)
    except OSError as exc:
        raise ModelError(CHANGED.format(folder=folder, name=name)) from exc
    if not hmac.compare_digest(hashlib.sha256(data).hexdigest(), manifest[name]):
        raise ModelError(CHANGED.format(folder=folder, name=name))
    return data


def verify_folder(folder: Path | str, *, settings: Settings | None = None) -> dict[str, str]:
    """Check a bundle folder's signature and every signed file's digest; return the manifest.

    Raises
    ------
    ModelError
        As :func:`signed_manifest`, or if a signed file was changed or removed.
    """
    folder = Path(folder)
    manifest = signed_manifest(folder, settings=settings)
    for name in manifest:
        read_signed(folder, name, manifest)
    return manifest
