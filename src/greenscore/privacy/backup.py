"""Encrypted backups of the home folder, verified file by file on restore.

A backup is a tar archive of the home folder whose first member, ``MANIFEST.json``, lists
the SHA-256 and size of every other member. The archive is encrypted with a key derived
from the master key alone (not the keyring, which is itself inside the archive), so a
backup opens on a fresh machine given only the master key. SQLite databases are copied
through SQLite's online backup API, so a database that is being written is still captured
in a consistent state.

Archives are built in memory: a home folder is limited to the ~2 GiB one AES-GCM object
can hold (a clear error says so).
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import sqlite3
import tarfile
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import Any

from greenscore.config import Settings, get_settings
from greenscore.errors import ConfigError, DataError, NotFoundError, PrivacyError
from greenscore.privacy._files import atomic_write
from greenscore.privacy.crypto import (
    MASTER_KEK_VERSION,
    decrypt_bytes,
    encrypt_bytes_with_master,
)
from greenscore.privacy.keys import MasterKey
from greenscore.privacy.object_format import parse_header
from greenscore.version import __version__

BACKUP_NAME = "greenscore-backup"
MANIFEST = "MANIFEST.json"
MANIFEST_FORMAT = "greenscore-backup"
_SQLITE_MAGIC = b"SQLite format 3\x00"
# Side files that are either rebuilt (locks, temp files) or folded into the .db copy (WAL).
_SKIP_SUFFIXES = (".lock", "-writer", "-wal", "-shm", "-journal", ".tmp")

MISMATCH = (
    "backup {path} fails verification: {count} file(s) differ from its manifest, e.g. {example}"
)
NOT_EMPTY = "restore target {path} is not empty; choose an empty folder"


@dataclass(frozen=True)
class BackupReport:
    """What a backup or restore covered.

    Attributes
    ----------
    path : the backup file, or the folder restored into.
    files : number of files in the archive (manifest excluded).
    bytes : their total size before encryption.
    """

    path: Path
    files: int
    bytes: int


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _read_member(path: Path) -> bytes:
    """A file's bytes; SQLite databases via the online backup API for a consistent copy."""
    with path.open("rb") as fh:
        head = fh.read(len(_SQLITE_MAGIC))
    if head != _SQLITE_MAGIC:
        return path.read_bytes()
    with tempfile.TemporaryDirectory() as tmp:
        copy = Path(tmp) / "snapshot.db"
        source = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        target = sqlite3.connect(copy)
        try:
            source.backup(target)
        finally:
            target.close()
            source.close()
        return copy.read_bytes()


def _collect(home: Path, exclude: set[Path]) -> dict[str, bytes]:
    files: dict[str, bytes] = {}
    for root, dirs, names in os.walk(home):
        dirs.sort()
        for name in sorted(names):
            path = Path(root) / name
            if path.resolve() in exclude or name.endswith(_SKIP_SUFFIXES) or path.is_symlink():
                continue
            files[path.relative_to(home).as_posix()] = _read_member(path)
    return files


def build_archive(files: dict[str, bytes], *, manifest: dict[str, Any] | None = None) -> bytes:
    """A tar archive of ``files`` (relative POSIX path -> bytes) led by its manifest.

    ``manifest`` overrides the computed one (tests use it to build a lying archive).
    """
    manifest = manifest or {
        "format": MANIFEST_FORMAT,
        "version": 1,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "greenscore_version": __version__,
        "files": {rel: {"sha256": _sha256(data), "size": len(data)} for rel, data in files.items()},
    }
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for rel, data in [(MANIFEST, json.dumps(manifest, indent=1).encode()), *files.items()]:
            info = tarfile.TarInfo(rel)
            info.size, info.mode = len(data), 0o600
            info.mtime = int(datetime.now(UTC).timestamp())
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def create_backup(
    out: Path | str, *, settings: Settings | None = None, master: MasterKey | None = None
) -> BackupReport:
    """Write an encrypted, checksummed backup of the home folder to ``out``.

    Raises
    ------
    NotFoundError
        If the home folder does not exist.
    PrivacyError
        If there is no usable master key.
    """
    settings = settings or get_settings()
    home = Path(settings.home).resolve()
    if not home.is_dir():
        raise NotFoundError(f"home folder {home} does not exist; nothing to back up")
    out = Path(out).resolve()
    master = master or MasterKey.from_settings(settings)
    files = _collect(home, exclude={out})
    blob = encrypt_bytes_with_master(
        build_archive(files), name=BACKUP_NAME, kind="backup", master=master
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(out, blob, mode=0o600)
    return BackupReport(out, len(files), sum(len(d) for d in files.values()))


def _safe_name(name: str) -> str:
    pure = PurePosixPath(name)
    if pure.is_absolute() or ".." in pure.parts or not pure.parts:
        raise DataError(f"backup member '{name}' would land outside the restore folder")
    return pure.as_posix()


def open_backup(path: Path | str, *, master: MasterKey | None = None) -> dict[str, bytes]:
    """Decrypt a backup and verify every file against the manifest, in memory.

    Returns
    -------
    dict
        Relative path -> verified bytes.

    Raises
    ------
    PrivacyError
        Wrong master key, tampered file, or not a backup.
    DataError
        A file whose checksum or size differs from the manifest, a missing or extra
        file, or a member that is not a plain file inside the archive.
    """
    path = Path(path)
    if not path.is_file():
        raise NotFoundError(f"no backup file at {path}")
    blob = path.read_bytes()
    if parse_header(blob, what=str(path)).kek_version != MASTER_KEK_VERSION:
        raise PrivacyError(f"{path} is an encrypted object but not a GreenScore backup")
    archive = decrypt_bytes(blob, name=BACKUP_NAME, master=master)
    files: dict[str, bytes] = {}
    with tarfile.open(fileobj=io.BytesIO(archive), mode="r") as tar:
        for member in tar.getmembers():
            if not member.isfile():
                raise DataError(f"backup member '{member.name}' is not a plain file")
            extracted = tar.extractfile(member)
            assert extracted is not None  # isfile() members always extract
            files[_safe_name(member.name)] = extracted.read()
    try:
        manifest = json.loads(files.pop(MANIFEST))
        expected: dict[str, dict[str, Any]] = manifest["files"]
    except (KeyError, ValueError, TypeError) as exc:
        raise DataError(f"backup {path} has no readable {MANIFEST}") from exc
    bad = sorted(
        rel
        for rel in set(expected) | set(files)
        if rel not in files
        or rel not in expected
        or _sha256(files[rel]) != expected[rel].get("sha256")
        or len(files[rel]) != expected[rel].get("size")
    )
    if bad:
        raise DataError(MISMATCH.format(path=path, count=len(bad), example=bad[0]))
    return files


def restore_backup(
    path: Path | str, to: Path | str, *, master: MasterKey | None = None
) -> BackupReport:
    """Restore a verified backup into an empty folder; nothing is written unless all checks pass.

    Raises
    ------
    PrivacyError, DataError
        See :func:`open_backup`.
    ConfigError
        If the target folder is not empty.
    """
    target = Path(to)
    if target.exists() and any(target.iterdir()):
        raise ConfigError(NOT_EMPTY.format(path=target))
    files = open_backup(path, master=master)
    for rel, data in files.items():
        dest = target / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(dest, data, mode=0o600)
    return BackupReport(target, len(files), sum(len(d) for d in files.values()))
