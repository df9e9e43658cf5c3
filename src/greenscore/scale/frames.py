"""Tables read lazily with :mod:`dask.dataframe`, with the row labels pandas would give.

A Parquet file, or a folder of Parquet parts, is read one partition per part (so a
partition's number names the same rows on every run, which resumable scoring relies on);
a CSV file in blocks of :data:`CSV_BLOCKSIZE`. Every partition's index is set to the global
0-based data row, as :func:`greenscore.data.io.read_table` numbers a file read whole, so a
finding computed per partition names the same rows as the pandas engine.

CSV columns are typed by Dask from a sample of the file, and integers with gaps come back
as floats (Dask's ``assume_missing``); Parquet keeps the file's own types, exactly as pandas.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from greenscore.data.io import CsvSource, ParquetSource, open_source, sniff_delimiter
from greenscore.errors import DataError

#: Bytes of CSV per partition.
CSV_BLOCKSIZE = "64MiB"
ERR_NOT_LAZY = (
    "{location}: --engine dask reads CSV and Parquet files (or a folder of Parquet parts); "
    "read other sources with the pandas engine"
)
ERR_NO_ROWS = "{location} has column names but no data rows (header only)"


@dataclass(frozen=True)
class LazyTable:
    """A table read lazily.

    Attributes
    ----------
    frame : dask.dataframe.DataFrame
        Partitions indexed by global 0-based data row.
    location : str
    lengths : tuple of int
        Rows per partition.
    parts : tuple of str
        The file behind each partition (the same file for every block of a CSV).
    """

    frame: Any
    location: str
    lengths: tuple[int, ...]
    parts: tuple[str, ...]

    @property
    def n_rows(self) -> int:
        """Rows in the table."""
        return int(sum(self.lengths))

    @property
    def npartitions(self) -> int:
        """Partitions in the table."""
        return len(self.lengths)


def parquet_parts(path: Path) -> list[Path]:
    """The Parquet files of a file or folder, in name order (hidden and ``_`` files skipped)."""
    if path.is_file():
        return [path]
    return sorted(p for p in path.glob("*.parquet") if not p.name.startswith((".", "_")))


def _numbered(part: pd.DataFrame, offset: int) -> pd.DataFrame:
    return part.set_axis(pd.RangeIndex(offset, offset + len(part)), axis=0)


def read_lazy(location: str | Path) -> LazyTable:
    """Open a CSV or Parquet source lazily.

    Raises
    ------
    DataError
        If the source is missing, not CSV or Parquet, or holds no rows.
    """
    import dask.dataframe as dd
    import pyarrow.parquet as pq  # type: ignore[import-untyped]

    source = open_source(location)
    if isinstance(source, ParquetSource):
        files = parquet_parts(source.path)
        if not files:
            raise DataError(f"{source.path} is a folder without Parquet parts")
        lengths = [pq.ParquetFile(f).metadata.num_rows for f in files]
        raw = dd.read_parquet([str(f) for f in files], split_row_groups=False)
        if raw.npartitions != len(files):  # one partition per part, or the rows' names drift
            raw = dd.from_map(pd.read_parquet, [str(f) for f in files], meta=raw._meta)
        parts = [str(f) for f in files]
    elif isinstance(source, CsvSource):
        head = source.path.open("rb").read(64_000)
        encoding = source.encoding or ("utf-8-sig" if head.startswith(b"\xef\xbb\xbf") else "utf-8")
        lines = [ln for ln in head.decode(encoding, errors="replace").splitlines()[:-1] if ln]
        raw = dd.read_csv(
            str(source.path),
            sep=source.delimiter or sniff_delimiter(lines[:200]),
            encoding=encoding,
            blocksize=CSV_BLOCKSIZE,
            skipinitialspace=True,
            assume_missing=True,
            on_bad_lines="error",
        )
        lengths = list(raw.map_partitions(len).compute())
        parts = [str(source.path)] * raw.npartitions
    else:
        raise DataError(ERR_NOT_LAZY.format(location=source.location))
    if sum(lengths) == 0:
        raise DataError(ERR_NO_ROWS.format(location=source.location))
    offsets = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64)
    frame = _with_offsets(raw, offsets, _numbered(raw._meta, 0), total=int(sum(lengths)))
    return LazyTable(frame, source.location, tuple(int(n) for n in lengths), tuple(parts))


def _with_offsets(raw: Any, offsets: np.ndarray, meta: pd.DataFrame, *, total: int) -> Any:
    """Each partition re-indexed from its global first row (known divisions)."""
    import dask.dataframe as dd
    from dask import delayed

    pieces = [
        delayed(_numbered)(part, int(offset))
        for part, offset in zip(raw.to_delayed(), offsets, strict=True)
    ]
    known = bool(np.all(np.diff(offsets) > 0)) and total - 1 >= int(offsets[-1])
    divisions = (*(int(o) for o in offsets), total - 1) if known else None
    return dd.from_delayed(pieces, meta=meta, divisions=divisions, verify_meta=False)


def column_slices(table: LazyTable, column: str) -> Iterator[pd.Series]:
    """One column of a lazy table, partition by partition, indexed by global data row.

    Only that column reaches the caller: a Parquet part's column is read alone, on the
    caller's side; a CSV block is read on the cluster and only the column comes back.
    """
    offsets = np.concatenate([[0], np.cumsum(table.lengths)[:-1]]).astype(np.int64)
    by_file = len(set(table.parts)) == len(table.parts)
    for k, offset in enumerate(offsets):
        if by_file and table.parts[k].endswith(".parquet"):
            values = pd.read_parquet(table.parts[k], columns=[column])[column]
            yield values.set_axis(pd.RangeIndex(int(offset), int(offset) + len(values)))
        else:
            yield table.frame[column].partitions[k].compute()
