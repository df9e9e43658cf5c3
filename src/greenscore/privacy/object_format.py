"""The clear-text header of a GreenScore encrypted object, and how to read it.

Layout (all integers big-endian)::

    magic "GSENC" | format u8 | kek_version u32 | wrapped_len u16 | wrapped data key
    | nonce (12) | meta_len u32 | metadata JSON (name, kind, created, ...) | ciphertext+tag

Reading a header needs no key: the keyring uses it to see which KEK a file needs, and
:mod:`greenscore.privacy.crypto` to open an object.
"""

from __future__ import annotations

import base64
import binascii
import json
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from greenscore.errors import PrivacyError

MAGIC = b"GSENC"
FORMAT_VERSION = 1
NONCE_BYTES = 12

_FIXED = struct.Struct(">5sBIH")  # magic, format, kek version, wrapped length
_META_LEN = struct.Struct(">I")

# Prefix of an encrypted object stored as text in a database column (base64 after it).
SEALED_TEXT_PREFIX = "gsenc:"
NOT_ENCRYPTED = "{what} is not a GreenScore encrypted object (no GSENC header)"
TRUNCATED = "{what} has a truncated or damaged encryption header"


@dataclass(frozen=True)
class Header:
    """The parsed clear-text header of an encrypted object."""

    kek_version: int
    wrapped_key: bytes
    nonce: bytes
    meta_bytes: bytes
    body_offset: int

    @property
    def meta(self) -> dict[str, Any]:
        """The authenticated metadata (trust it only after decryption succeeded)."""
        return json.loads(self.meta_bytes)

    @property
    def aad(self) -> bytes:
        """Associated data of the payload: everything but the KEK fields."""
        return (
            MAGIC
            + bytes([FORMAT_VERSION])
            + self.nonce
            + _META_LEN.pack(len(self.meta_bytes))
            + self.meta_bytes
        )

    def encode(self) -> bytes:
        """The header bytes, as they precede the ciphertext."""
        return (
            _FIXED.pack(MAGIC, FORMAT_VERSION, self.kek_version, len(self.wrapped_key))
            + self.wrapped_key
            + self.nonce
            + _META_LEN.pack(len(self.meta_bytes))
            + self.meta_bytes
        )


def parse_header(blob: bytes, *, what: str = "data") -> Header:
    """Read the header of an encrypted object.

    Raises
    ------
    PrivacyError
        If the bytes are not a GreenScore object or the header is cut short.
    """
    if not blob.startswith(MAGIC):
        raise PrivacyError(NOT_ENCRYPTED.format(what=what))
    try:
        _magic, fmt, kek_version, wrapped_len = _FIXED.unpack_from(blob, 0)
        pos = _FIXED.size
        wrapped = blob[pos : pos + wrapped_len]
        pos += wrapped_len
        nonce = blob[pos : pos + NONCE_BYTES]
        pos += NONCE_BYTES
        (meta_len,) = _META_LEN.unpack_from(blob, pos)
        pos += _META_LEN.size
        meta_bytes = blob[pos : pos + meta_len]
        pos += meta_len
    except struct.error as exc:
        raise PrivacyError(TRUNCATED.format(what=what)) from exc
    if fmt != FORMAT_VERSION:
        raise PrivacyError(
            f"{what} uses encryption format {fmt}; this GreenScore reads {FORMAT_VERSION}"
        )
    if len(wrapped) != wrapped_len or len(nonce) != NONCE_BYTES or len(meta_bytes) != meta_len:
        raise PrivacyError(TRUNCATED.format(what=what))
    try:
        json.loads(meta_bytes)
    except ValueError as exc:
        raise PrivacyError(TRUNCATED.format(what=what)) from exc
    return Header(kek_version, wrapped, nonce, meta_bytes, pos)


def is_encrypted(path: Path | str) -> bool:
    """True when a file starts with the GreenScore encryption magic."""
    try:
        with open(path, "rb") as fh:
            return fh.read(len(MAGIC)) == MAGIC
    except OSError:
        return False


def header_kek_version(path: Path | str) -> int | None:
    """The KEK version named in a file's header, or None for a file that is not encrypted."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(_FIXED.size)
    except OSError:
        return None
    if len(head) < _FIXED.size or not head.startswith(MAGIC):
        return None
    return int(_FIXED.unpack(head)[2])


def sealed_text_kek_version(stored: str) -> int | None:
    """The KEK version of a value sealed as text (``gsenc:`` + base64), None for plaintext."""
    if not stored.startswith(SEALED_TEXT_PREFIX):
        return None
    try:
        blob = base64.b64decode(stored.removeprefix(SEALED_TEXT_PREFIX).encode("ascii"))
    except (binascii.Error, UnicodeEncodeError) as exc:
        raise PrivacyError(TRUNCATED.format(what="a sealed database value")) from exc
    return parse_header(blob, what="a sealed database value").kek_version
