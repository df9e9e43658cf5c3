"""The registry of stored datasets that hold personal data.

Erasure and retention can only reach files they know about: every dataset GreenScore
keeps (an applications file, a scored batch, an anonymised export with tokens) is
registered with its path, the column that identifies the subject, and optionally the
column that dates a row. A file that names subjects in more than one column (a relations
file: ``source_id,target_id``) registers them comma-separated, and a subject's rows are
those naming them in any of them. Files are CSV, JSON or Parquet, plain or encrypted (``.enc``);
rewriting keeps the file's format and its encryption. A dataset may also be a folder of
Parquet parts (what ``greenscore score --engine dask`` writes): it is read part by part —
only the id and time columns, and the whole of a part only when it holds rows to remove —
and each affected part is rewritten atomically, so no step holds more than one part.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd
from sqlalchemy import delete, select

from greenscore.data.loading import sha256_file
from greenscore.errors import ConfigError, DataError, NotFoundError
from greenscore.privacy.at_rest import read_table, write_table
from greenscore.privacy.object_format import is_encrypted
from greenscore.store import Database, affected_rows
from greenscore.store.tables.privacy import RegisteredDataset


@dataclass(frozen=True)
class DatasetEntry:
    """A registered dataset as returned to callers."""

    name: str
    path: Path
    id_column: str
    time_column: str | None
    sha256: str
    encrypted: bool

    @property
    def id_columns(self) -> tuple[str, ...]:
        """The columns that name a subject (``id_column`` may list several, comma-separated)."""
        return split_id_columns(self.id_column)


def split_id_columns(id_column: str) -> tuple[str, ...]:
    """``"source_id, target_id"`` -> ``("source_id", "target_id")``."""
    return tuple(c.strip() for c in id_column.split(",") if c.strip())


#: The files of a registered folder: its Parquet parts, plain or encrypted.
PART_PATTERNS = ("*.parquet", "*.parquet.enc")


def dataset_parts(path: Path) -> list[Path]:
    """The files a dataset is stored in: the file itself, or a folder's Parquet parts in name
    order (hidden and ``_`` files skipped: temporary parts, manifests)."""
    if not path.is_dir():
        return [path]
    found = {p for pattern in PART_PATTERNS for p in path.glob(pattern)}
    return sorted(p for p in found if not p.name.startswith((".", "_")))


def _columns_of(path: Path) -> list[str]:
    """A dataset's columns: a folder's from its first part's schema (nothing else read)."""
    if not path.is_dir():
        return [str(c) for c in read_table(path).columns]
    parts = dataset_parts(path)
    if not parts:
        raise DataError(f"{path} is a folder without Parquet parts")
    return [str(c) for c in _read_part(parts[0], None).columns]


def _read_part(part: Path, columns: list[str] | None) -> pd.DataFrame:
    """A part's rows, or only ``columns`` of a plain Parquet part (an encrypted part is
    decrypted whole: its columns cannot be read apart)."""
    if columns is not None and part.suffix == ".parquet":
        import pyarrow.parquet as pq  # type: ignore[import-untyped]

        present = set(pq.read_schema(part).names)
        return pd.read_parquet(part, columns=[c for c in columns if c in present])
    return read_table(part)


def _fingerprint(path: Path) -> str:
    """SHA-256 of a file, or of a folder's parts (each part's name and digest, in order)."""
    if not path.is_dir():
        return sha256_file(path)
    digest = hashlib.sha256()
    for part in dataset_parts(path):
        digest.update(f"{part.name}:{sha256_file(part)}\n".encode())
    return digest.hexdigest()


def _entry(row: RegisteredDataset) -> DatasetEntry:
    path = Path(row.path)
    return DatasetEntry(
        row.name, path, row.id_column, row.time_column, row.sha256, is_encrypted(path)
    )


def register_dataset(
    path: Path | str,
    *,
    id_column: str,
    name: str | None = None,
    time_column: str | None = None,
    db: Database,
) -> DatasetEntry:
    """Register (or re-register) a stored dataset.

    Raises
    ------
    NotFoundError
        If the file or folder does not exist.
    ConfigError
        If the id or time column is not in the file (a folder: its first part).
    """
    path = Path(path).resolve()
    if not path.exists():
        raise NotFoundError(f"no stored table at {path}")
    columns = _columns_of(path)
    id_columns = split_id_columns(id_column)
    if not id_columns:
        raise ConfigError(f"no id column given for {path}")
    id_column = ",".join(id_columns)
    roles = [("id column", c) for c in id_columns] + [("time column", time_column)]
    for role, column in roles:
        if column is not None and column not in columns:
            raise ConfigError(
                f"{role} '{column}' is not in {path} (columns: {', '.join(columns[:12])})"
            )
    name = name or path.name
    now = datetime.now(UTC)
    with db.session() as session:
        row = session.get(RegisteredDataset, name)
        if row is None:
            row = RegisteredDataset(name=name, registered_at=now)
            session.add(row)
        row.path, row.id_column, row.time_column = str(path), id_column, time_column
        row.sha256, row.updated_at = _fingerprint(path), now
        return _entry(row)


def list_datasets(*, db: Database) -> list[DatasetEntry]:
    """Every registered dataset, by name."""
    with db.session() as session:
        rows = session.execute(select(RegisteredDataset).order_by(RegisteredDataset.name)).scalars()
        return [_entry(r) for r in rows]


def unregister_dataset(name: str, *, db: Database) -> None:
    """Forget a dataset (the file is left alone).

    Raises
    ------
    NotFoundError
        If no dataset has that name.
    """
    with db.session() as session:
        if not affected_rows(
            session.execute(delete(RegisteredDataset).where(RegisteredDataset.name == name))
        ):
            raise NotFoundError(f"no registered dataset named '{name}'")


def _selected(
    entry: DatasetEntry, select_rows: Callable[[pd.DataFrame], pd.Series]
) -> Iterator[tuple[Path, Callable[[], pd.DataFrame], np.ndarray]]:
    """Each part of a dataset with a reader of its rows and the rows ``select_rows`` marks
    (decided from the id and time columns only, where the format allows)."""
    if not entry.path.exists():
        raise NotFoundError(f"registered dataset '{entry.name}' is missing its file {entry.path}")
    wanted = [*entry.id_columns, *([entry.time_column] if entry.time_column else [])]
    for part in dataset_parts(entry.path):
        frame = _read_part(part, wanted if entry.path.is_dir() else None)
        for column in wanted:
            if column not in frame.columns:
                raise DataError(
                    f"registered dataset '{entry.name}' no longer has column '{column}'"
                )
        hit = select_rows(frame).fillna(False).astype(bool).to_numpy()
        whole = None if entry.path.is_dir() and part.suffix == ".parquet" else frame
        yield part, partial(_whole, part, whole), hit


def _whole(part: Path, frame: pd.DataFrame | None) -> pd.DataFrame:
    """A part's rows: the frame already read whole, else the part read now."""
    return frame if frame is not None else read_table(part)


def count_rows(entry: DatasetEntry, select_rows: Callable[[pd.DataFrame], pd.Series]) -> int:
    """How many rows ``select_rows`` marks in a registered dataset (nothing is changed).

    Raises
    ------
    NotFoundError, DataError
        As :func:`remove_rows`.
    """
    return sum(int(hit.sum()) for _, _, hit in _selected(entry, select_rows))


def remove_rows(
    entry: DatasetEntry,
    select_rows: Callable[[pd.DataFrame], pd.Series],
    *,
    db: Database,
) -> int:
    """Delete the rows ``select_rows`` marks from a registered dataset, rewriting it in place.

    A file keeps its format and, if it was encrypted, is re-encrypted (fresh data key); in a
    folder of parts, each part holding marked rows is rewritten so (atomically), the others
    are left alone. Returns the number of rows removed; an untouched file is not rewritten.

    Raises
    ------
    NotFoundError
        If the registered file or folder no longer exists.
    DataError
        If the registered id or time column is gone from the file (or one of the parts).
    """
    removed = 0
    for part, read_whole, hit in _selected(entry, select_rows):
        if hit.any():
            write_table(read_whole().loc[~hit], part, encrypt=is_encrypted(part))
            removed += int(hit.sum())
    if removed:
        with db.session() as session:
            row = session.get(RegisteredDataset, entry.name)
            if row is not None:
                row.sha256, row.updated_at = _fingerprint(entry.path), datetime.now(UTC)
    return removed


def rows_of_subject(entry: DatasetEntry, subject: str) -> Callable[[pd.DataFrame], pd.Series]:
    """A row selector for one subject: rows naming them in any id column (ids compared as
    trimmed text, so 7 matches "7")."""
    wanted = str(subject).strip()

    def names_subject(ids: pd.Series) -> pd.Series:
        text = ids.astype("string").str.strip()
        # Integer ids read back as floats (a CSV with gaps) print as "7.0"; compare those too.
        if pd.api.types.is_float_dtype(ids):
            whole = ids.notna() & (ids == ids.round())
            text = text.where(~whole, ids.astype("Int64").astype("string"))
        return (text == wanted).fillna(False)

    def select_rows(frame: pd.DataFrame) -> pd.Series:
        hits = [names_subject(frame[column]) for column in entry.id_columns]
        return pd.concat(hits, axis=1).any(axis=1)

    return select_rows
