"""Key management: the master key from the environment and the versioned keyring of KEKs.

Envelope encryption has three layers. The **master key** comes from an environment
variable or a file named in settings (32 raw bytes as base64 or hex, or a passphrase
stretched with scrypt); in the ``local`` and ``test`` environments only, when neither is
set, GreenScore generates one on first use in ``HOME/keys/master.key`` (0600), beside the
keyring and outside the database, so a copy of the database alone opens nothing. In
production it must be configured. It is never logged. It encrypts the **keyring** file in
the home folder, which holds versioned **key-encryption keys** (KEKs). A KEK wraps the
fresh **data key** of every encrypted object (see :mod:`greenscore.privacy.crypto`).
Rotating adds a KEK version; rewrapping moves an object to the newest version without
touching its ciphertext; retiring destroys an old KEK once no known object uses it.

Keys for other uses of the master key (the audit chain's HMAC, bundle signatures) come
from :meth:`Keyring.derive_key` by purpose, and :func:`derived_key` caches them per process.
"""

from __future__ import annotations

import base64
import binascii
import fcntl
import hashlib
import hmac
import json
import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt
from sqlalchemy import func, select

from greenscore.config import Settings, get_settings, private_dir
from greenscore.errors import PrivacyError
from greenscore.privacy._files import atomic_write
from greenscore.privacy.object_format import (
    header_kek_version,
    is_encrypted,
    sealed_text_kek_version,
)
from greenscore.store import database
from greenscore.store.tables.privacy import SealedUnit
from greenscore.store.tables.security import SEALED_COLUMNS

KEY_BYTES = 32
MIN_PASSPHRASE = 12
KEYRING_FORMAT = "greenscore-keyring"
KEYRING_VERSION = 1
_KEYRING_AAD = b"greenscore-keyring/1"
_CHECK_LABEL = b"greenscore key check"
# scrypt cost: about 0.1 s and 32 MiB per derivation (OWASP's interactive minimum is 2**15).
_SCRYPT_N, _SCRYPT_R, _SCRYPT_P = 2**15, 8, 1

MASTER_KEY_FILE = "master.key"
NO_MASTER_KEY = (
    "no master key: set the environment variable {env} (32 bytes as base64 or hex, or a "
    "passphrase of at least {min} characters) or settings field 'privacy.master_key_file'"
    " (required when environment is '{environment}'; only local and test generate one)"
)
SHORT_PASSPHRASE = (
    "master key in {source} is neither 32 bytes of base64/hex nor a passphrase of {min}+ characters"
)
WRONG_MASTER_KEY = "wrong master key: it does not open the keyring at {path}"
DAMAGED_KEYRING = "keyring at {path} is damaged or tampered with (the master key itself checks out)"
UNKNOWN_KEK = "KEK version {version} is not in the keyring at {path} (known: {known})"
RETIRED_KEK = (
    "KEK version {version} was retired on {when}; objects wrapped by it can no longer be opened"
)
RETIRE_CURRENT = "KEK version {version} is the current one; rotate first, then retire it"
RETIRE_IN_USE = (
    "KEK version {version} still wraps {what}; rewrap them first ('greenscore privacy keys rewrap')"
)


def _utcnow() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.b64decode(text.encode("ascii"), validate=True)


def _raw_key(text: str) -> bytes | None:
    """32 bytes from 64 hex digits or base64 (standard or URL-safe), else None."""
    if len(text) == 2 * KEY_BYTES:
        try:
            return bytes.fromhex(text)
        except ValueError:
            pass
    for decode in (base64.b64decode, base64.urlsafe_b64decode):
        try:
            raw = decode(text.encode("ascii") + b"=" * (-len(text) % 4))
        except (binascii.Error, ValueError, UnicodeEncodeError):
            continue
        if len(raw) == KEY_BYTES:
            return raw
    return None


@lru_cache(maxsize=16)
def _scrypt(passphrase: bytes, salt: bytes) -> bytes:
    # Cached so a passphrase costs one stretch per process and salt, not one per object.
    return Scrypt(salt=salt, length=KEY_BYTES, n=_SCRYPT_N, r=_SCRYPT_R, p=_SCRYPT_P).derive(
        passphrase
    )


def _hkdf(key: bytes, *, salt: bytes, info: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=KEY_BYTES, salt=salt, info=info).derive(key)


class MasterKey:
    """The secret that opens the keyring; never written anywhere by GreenScore.

    Parameters
    ----------
    secret : bytes
        32 raw key bytes, or the UTF-8 bytes of a passphrase.
    passphrase : bool
        True when ``secret`` is a passphrase that must be stretched with scrypt.
    """

    def __init__(self, secret: bytes, *, passphrase: bool) -> None:
        self._secret = secret
        self.passphrase = passphrase

    def __repr__(self) -> str:  # never show the secret, even in a debugger or a log
        return f"MasterKey(passphrase={self.passphrase})"

    @classmethod
    def parse(cls, text: str, *, source: str) -> MasterKey:
        """Read a master key from text: 32 bytes as hex or base64, else a passphrase.

        Raises
        ------
        PrivacyError
            If the text is neither a 32-byte key nor a long enough passphrase.
        """
        text = text.strip()
        raw = _raw_key(text)
        if raw is not None:
            return cls(raw, passphrase=False)
        if len(text) < MIN_PASSPHRASE:
            raise PrivacyError(SHORT_PASSPHRASE.format(source=source, min=MIN_PASSPHRASE))
        return cls(text.encode("utf-8"), passphrase=True)

    @classmethod
    def from_settings(cls, settings: Settings | None = None) -> MasterKey:
        """The master key named by ``settings.privacy`` (environment variable first, then file).

        In the ``local`` and ``test`` environments, with neither set, the key in
        ``HOME/keys/master.key``, generated on first use.

        Raises
        ------
        PrivacyError
            If neither source holds a usable key (and none may be generated).
        """
        settings = settings or get_settings()
        privacy = settings.privacy
        value = os.environ.get(privacy.master_key_env)
        if value:
            return cls.parse(value, source=f"environment variable {privacy.master_key_env}")
        if privacy.master_key_file is not None:
            return cls._read_file(Path(privacy.master_key_file))
        if settings.generates_secrets:
            return cls._read_file(_generated_master_key(master_key_path(settings)))
        raise PrivacyError(
            NO_MASTER_KEY.format(
                env=privacy.master_key_env, min=MIN_PASSPHRASE, environment=settings.environment
            )
        )

    @classmethod
    def _read_file(cls, path: Path) -> MasterKey:
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise PrivacyError(f"cannot read master key file {path}: {exc.strerror}") from exc
        return cls.parse(text, source=f"file {path}")

    def root(self, salt: bytes) -> bytes:
        """The 32-byte root key for a salt (scrypt for a passphrase, HKDF for raw bytes)."""
        if self.passphrase:
            return _scrypt(self._secret, salt)
        return _hkdf(self._secret, salt=salt, info=b"greenscore root")

    def derive(self, salt: bytes, purpose: str) -> bytes:
        """A 32-byte key for one purpose, so no two uses of the master key share a key."""
        return _hkdf(self.root(salt), salt=b"", info=f"greenscore/{purpose}".encode())

    def check_value(self, salt: bytes) -> str:
        """A short public fingerprint that tells a wrong master key from a damaged file."""
        digest = hmac.new(self.derive(salt, "check"), _CHECK_LABEL, hashlib.sha256).digest()
        return digest[:8].hex()


def keyring_path(settings: Settings | None = None) -> Path:
    """Where the keyring file lives (``privacy.keyring_file`` or ``HOME/keys/keyring.gsk``)."""
    settings = settings or get_settings()
    return Path(settings.privacy.keyring_file or settings.home / "keys" / "keyring.gsk")


def master_key_path(settings: Settings | None = None) -> Path:
    """Where a generated master key lives (local and test use): ``HOME/keys/master.key``."""
    return Path((settings or get_settings()).home) / "keys" / MASTER_KEY_FILE


def _generated_master_key(path: Path) -> Path:
    """Make ``path`` hold a fresh random master key unless it exists; return it.

    The key is written to a temporary file and hard-linked into place, which fails if the
    name exists: of two processes starting at once, one key wins whole and both use it.
    """
    if path.exists():
        return path
    private_dir(path.parent)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    atomic_write(tmp, (_b64(secrets.token_bytes(KEY_BYTES)) + "\n").encode(), mode=0o600)
    try:
        os.link(tmp, path)
    except FileExistsError:
        pass  # another process generated it first: use theirs
    finally:
        tmp.unlink(missing_ok=True)
    return path


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    """An exclusive lock beside the keyring so two processes never lose each other's writes."""
    private_dir(path.parent)
    lock = os.open(path.with_suffix(path.suffix + ".lock"), os.O_RDWR | os.O_CREAT, 0o600)
    with os.fdopen(lock, "r+b") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


class Keyring:
    """Versioned key-encryption keys, stored encrypted under the master key.

    Use :meth:`open`; every change (:meth:`rotate`, :meth:`retire`, :meth:`track`) is
    written back at once under a file lock.

    Attributes
    ----------
    path : Path
        The keyring file.
    """

    def __init__(
        self,
        path: Path,
        master: MasterKey,
        home: Path,
        state: dict[str, Any],
        salt: bytes,
        settings: Settings | None = None,
    ):
        self.path = path
        self.home = home
        # The settings it was opened with: their database holds the rows sealed under it.
        self.settings = settings
        self._master = master
        self._state = state
        self._salt = salt

    def __repr__(self) -> str:
        return f"Keyring(path={str(self.path)!r}, current={self.current_version})"

    # ------------------------------------------------------------------ file
    @classmethod
    def open(cls, settings: Settings | None = None, *, master: MasterKey | None = None) -> Keyring:
        """Open the keyring, creating it with KEK version 1 on first use.

        Raises
        ------
        PrivacyError
            If there is no master key, it is the wrong one, or the file is damaged.
        """
        settings = settings or get_settings()
        master = master or MasterKey.from_settings(settings)
        path = keyring_path(settings)
        with _locked(path):
            if path.exists():
                state, salt = cls._read(path, master)
            else:
                salt = secrets.token_bytes(16)
                state = {"current": 1, "keys": {"1": cls._new_kek()}, "files": {}}
                cls._write(path, master, state, salt)
        return cls(path, master, Path(settings.home), state, salt, settings)

    @staticmethod
    def _new_kek() -> dict[str, Any]:
        return {"key": _b64(secrets.token_bytes(KEY_BYTES)), "created": _utcnow(), "retired": None}

    @staticmethod
    def _read(path: Path, master: MasterKey) -> tuple[dict[str, Any], bytes]:
        try:
            doc = json.loads(path.read_bytes())
            salt = _unb64(doc["salt"])
            nonce, body, check = _unb64(doc["nonce"]), _unb64(doc["ciphertext"]), doc["check"]
        except (ValueError, KeyError, TypeError) as exc:
            raise PrivacyError(DAMAGED_KEYRING.format(path=path)) from exc
        if doc.get("format") != KEYRING_FORMAT:
            raise PrivacyError(f"{path} is not a GreenScore keyring")
        if not hmac.compare_digest(master.check_value(salt), str(check)):
            raise PrivacyError(WRONG_MASTER_KEY.format(path=path))
        try:
            plain = AESGCM(master.derive(salt, "keyring")).decrypt(nonce, body, _KEYRING_AAD)
        except InvalidTag as exc:
            raise PrivacyError(DAMAGED_KEYRING.format(path=path)) from exc
        return json.loads(plain), salt

    @staticmethod
    def _write(path: Path, master: MasterKey, state: dict[str, Any], salt: bytes) -> None:
        nonce = secrets.token_bytes(12)
        body = AESGCM(master.derive(salt, "keyring")).encrypt(
            nonce, json.dumps(state).encode(), _KEYRING_AAD
        )
        doc = {
            "format": KEYRING_FORMAT,
            "version": KEYRING_VERSION,
            "salt": _b64(salt),
            "check": master.check_value(salt),
            "nonce": _b64(nonce),
            "ciphertext": _b64(body),
        }
        private_dir(path.parent)
        atomic_write(path, json.dumps(doc, indent=1).encode())

    @contextmanager
    def _update(self) -> Iterator[dict[str, Any]]:
        """Re-read under the lock, let the caller change the state, write it back."""
        with _locked(self.path):
            state, salt = self._read(self.path, self._master)
            yield state
            self._write(self.path, self._master, state, salt)
            self._state, self._salt = state, salt

    # ------------------------------------------------------------------ keys
    def derive_key(self, purpose: str) -> bytes:
        """A 32-byte key for one use (``"audit-chain"``, ``"bundle-signature"``, ...).

        Derived from the master key and this keyring's salt, so it is the same in every
        process that opens this keyring and survives KEK rotation.
        """
        return self._master.derive(self._salt, f"keyring/{purpose}")

    @property
    def current_version(self) -> int:
        """The KEK version new objects are wrapped with."""
        return int(self._state["current"])

    @property
    def versions(self) -> list[int]:
        """Every KEK version ever created, retired ones included."""
        return sorted(int(v) for v in self._state["keys"])

    def kek(self, version: int) -> bytes:
        """The key-encryption key of a version.

        Raises
        ------
        PrivacyError
            If the version is unknown or retired.
        """
        entry = self._state["keys"].get(str(version))
        if entry is None:
            known = ", ".join(str(v) for v in self.versions)
            raise PrivacyError(UNKNOWN_KEK.format(version=version, path=self.path, known=known))
        if entry["retired"] is not None:
            raise PrivacyError(RETIRED_KEK.format(version=version, when=entry["retired"]))
        return _unb64(entry["key"])

    def rotate(self) -> int:
        """Add a new KEK version, make it current and return its number."""
        with self._update() as state:
            version = max(int(v) for v in state["keys"]) + 1
            state["keys"][str(version)] = self._new_kek()
            state["current"] = version
        return version

    def retire(self, version: int) -> None:
        """Destroy an old KEK; refused while it is current or anything still uses it.

        Users are the known files and the rows of the keyring's database sealed under it
        (sealed units, sealed secrets); ``greenscore privacy keys rewrap`` moves both.

        Raises
        ------
        PrivacyError
            If the version is current, unknown, or still wraps a file or a sealed row
            (rewrap them first).
        """
        self.kek(version)  # unknown or already retired -> clear error
        if version == self.current_version:
            raise PrivacyError(RETIRE_CURRENT.format(version=version))
        users = self.files_using(version)
        rows = self.sealed_rows_using(version)
        if users or rows:
            what = []
            if users:
                what.append(f"{len(users)} file(s), e.g. {users[0]}")
            if rows:
                tables = ", ".join(f"{table}: {n}" for table, n in rows.items())
                what.append(f"{sum(rows.values())} sealed database row(s) ({tables})")
            raise PrivacyError(RETIRE_IN_USE.format(version=version, what=" and ".join(what)))
        with self._update() as state:
            entry = state["keys"][str(version)]
            entry["key"] = None
            entry["retired"] = _utcnow()

    # ------------------------------------------------------------------ files
    def track(self, path: Path | str, version: int) -> None:
        """Remember that a file is wrapped by a KEK version (so retiring can refuse)."""
        key = str(Path(path).resolve())
        if self._state["files"].get(key) == version:
            return
        with self._update() as state:
            state["files"][key] = version

    def untrack(self, path: Path | str) -> None:
        """Forget a file (it was deleted or decrypted for good)."""
        key = str(Path(path).resolve())
        if key in self._state["files"]:
            with self._update() as state:
                state["files"].pop(key, None)

    def known_files(self) -> list[Path]:
        """Tracked files that still exist, plus encrypted files found under the home folder."""
        found = {Path(p) for p in self._state["files"] if Path(p).exists()}
        if self.home.exists():
            for root, _dirs, names in os.walk(self.home):
                for name in names:
                    candidate = Path(root) / name
                    if candidate != self.path and is_encrypted(candidate):
                        found.add(candidate.resolve())
        return sorted(found)

    def sealed_rows_using(self, version: int) -> dict[str, int]:
        """Rows of the keyring's database sealed under ``version``, by table (none listed: 0).

        A keyring opened without settings, or whose SQLite database was never created,
        has no rows to count.
        """
        settings = self.settings
        if settings is None or (
            settings.database_url is None and not (Path(settings.home) / "greenscore.db").exists()
        ):
            return {}
        units = SealedUnit.__table__
        counts: dict[str, int] = {}
        with database(settings).connect() as conn:
            n = conn.execute(
                select(func.count()).select_from(units).where(units.c.kek_version == version)
            ).scalar_one()
            if n:
                counts[units.name] = int(n)
            for table, _, column in SEALED_COLUMNS:
                values = conn.execute(select(table.c[column])).scalars()
                n = sum(1 for v in values if v and sealed_text_kek_version(v) == version)
                if n:
                    counts[table.name] = n
        return counts

    def files_using(self, version: int) -> list[Path]:
        """Known files whose header says they are wrapped by ``version`` (read, not assumed)."""
        return [p for p in self.known_files() if header_kek_version(p) == version]

    def status(self) -> list[dict[str, Any]]:
        """One row per KEK version: created, retired, current, number of files using it."""
        counts: dict[int, int] = {}
        for path in self.known_files():
            version = header_kek_version(path)
            if version is not None:
                counts[version] = counts.get(version, 0) + 1
        return [
            {
                "version": v,
                "created": self._state["keys"][str(v)]["created"],
                "retired": self._state["keys"][str(v)]["retired"],
                "current": v == self.current_version,
                "files": counts.get(v, 0),
            }
            for v in self.versions
        ]


_derived: dict[tuple[str, ...], bytes] = {}


def derived_key(purpose: str, settings: Settings | None = None) -> bytes:
    """:meth:`Keyring.derive_key` of the settings' keyring, cached for this process.

    For per-request paths (each audit event needs the chain key): opening the keyring
    reads and decrypts a file. The cache is keyed on what the key depends on: the keyring
    file and where the master key comes from.

    Raises
    ------
    PrivacyError
        If there is no usable master key or it does not open the keyring.
    """
    settings = settings or get_settings()
    privacy = settings.privacy
    # Cheap reads only (resolving the keyring's path costs more than an audit append's
    # HMAC): a relative home or keyring file is told apart by the working directory.
    where = privacy.keyring_file or settings.home
    cache_key = (
        purpose,
        str(privacy.keyring_file or ""),
        str(settings.home),
        "" if Path(where).is_absolute() else os.getcwd(),
        os.environ.get(privacy.master_key_env) or "",
        str(privacy.master_key_file or ""),
        settings.environment,
    )
    key = _derived.get(cache_key)
    if key is None:
        key = _derived[cache_key] = Keyring.open(settings).derive_key(purpose)
    return key
