"""The registry of stored datasets that hold personal data.

Erasure and retention can only reach files they know about: every dataset GreenScore
keeps (an applications file, a scored batch, an anonymised export with tokens) is
registered with its path, the column that identifies the subject, and optionally the
column that dates a row. Files are CSV, JSON or Parquet, plain or encrypted (``.enc``);
rewriting keeps the file's format and its encryption.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

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
        If the file does not exist.
    ConfigError
        If the id or time column is not in the file.
    """
    path = Path(path).resolve()
    frame = read_table(path)
    for role, column in (("id column", id_column), ("time column", time_column)):
        if column is not None and column not in frame.columns:
            raise ConfigError(
                f"{role} '{column}' is not in {path} (columns: {', '.join(map(str, frame.columns[:12]))})"
            )
    name = name or path.name
    now = datetime.now(UTC)
    with db.session() as session:
        row = session.get(RegisteredDataset, name)
        if row is None:
            row = RegisteredDataset(name=name, registered_at=now)
            session.add(row)
        row.path, row.id_column, row.time_column = str(path), id_column, time_column
        row.sha256, row.updated_at = sha256_file(path), now
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


def remove_rows(
    entry: DatasetEntry,
    select_rows: Callable[[pd.DataFrame], pd.Series],
    *,
    db: Database,
) -> int:
    """Delete the rows ``select_rows`` marks from a registered file, rewriting it in place.

    The file keeps its format and, if it was encrypted, is re-encrypted (fresh data key).
    Returns the number of rows removed; an untouched file is not rewritten.

    Raises
    ------
    NotFoundError
        If the registered file no longer exists.
    DataError
        If the registered id or time column is gone from the file.
    """
    if not entry.path.exists():
        raise NotFoundError(f"registered dataset '{entry.name}' is missing its file {entry.path}")
    frame = read_table(entry.path)
    for column in (entry.id_column, entry.time_column):
        if column is not None and column not in frame.columns:
            raise DataError(f"registered dataset '{entry.name}' no longer has column '{column}'")
    hit = select_rows(frame).fillna(False).astype(bool).to_numpy()
    removed = int(hit.sum())
    if removed:
        write_table(frame.loc[~hit], entry.path, encrypt=entry.encrypted)
        with db.session() as session:
            row = session.get(RegisteredDataset, entry.name)
            if row is not None:
                row.sha256, row.updated_at = sha256_file(entry.path), datetime.now(UTC)
    return removed


def rows_of_subject(entry: DatasetEntry, subject: str) -> Callable[[pd.DataFrame], pd.Series]:
    """A row selector for one subject (ids compared as trimmed text, so 7 matches "7")."""
    wanted = str(subject).strip()

    def select_rows(frame: pd.DataFrame) -> pd.Series:
        ids = frame[entry.id_column]
        text = ids.astype("string").str.strip()
        # Integer ids read back as floats (a CSV with gaps) print as "7.0"; compare those too.
        if pd.api.types.is_float_dtype(ids):
            whole = ids.notna() & (ids == ids.round())
            text = text.where(~whole, ids.astype("Int64").astype("string"))
        return text == wanted

    return select_rows
