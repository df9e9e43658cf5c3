"""Ingestion: one :class:`DataSource` abstraction over CSV, JSON/JSONL, Parquet and SQL.

``open_source("file.csv")`` picks the reader from the location; every reader returns a
pandas DataFrame or raises :class:`~greenscore.errors.DataError` with a one-line cause.
Nothing is dropped silently: a row that a parser cannot read is an error, not a skip.
A Dask-backed source for data larger than memory subclasses :class:`DataSource` and
overrides :meth:`DataSource.read_dask`.
"""

from __future__ import annotations

import csv
import io
import json
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
from charset_normalizer import from_bytes

from greenscore.errors import DataError

_SNIFF_BYTES = 64_000
_BINARY_MARKERS = (b"\x00",)


class DataSource(ABC):
    """Where a table comes from. Subclasses implement :meth:`read`."""

    #: A short human name for messages, e.g. the file path or the SQL URL.
    location: str

    @abstractmethod
    def read(self) -> pd.DataFrame:
        """Read the whole table into memory."""

    def read_dask(self) -> Any:
        """Read lazily as a Dask DataFrame; sources that support it override this."""
        raise DataError(f"{self.location}: this source cannot be read out of core")


def _check_file(path: Path) -> bytes:
    """Return the file's head, after refusing missing, empty and binary files."""
    if not path.exists():
        raise DataError(f"file not found: {path}")
    if path.is_dir():
        raise DataError(f"{path} is a folder, not a data file")
    if path.stat().st_size == 0:
        raise DataError(f"{path} is empty")
    with path.open("rb") as fh:
        return fh.read(_SNIFF_BYTES)


@dataclass
class CsvSource(DataSource):
    """A delimited text file; delimiter and encoding are sniffed when not given."""

    path: Path
    delimiter: str | None = None
    encoding: str | None = None

    @property
    def location(self) -> str:  # type: ignore[override]
        return str(self.path)

    def _encoding(self, head: bytes) -> str:
        if self.encoding:
            return self.encoding
        try:
            head.decode("utf-8")
            return "utf-8"
        except UnicodeDecodeError:
            match = from_bytes(head).best()
            if match is None:
                raise DataError(f"{self.path}: cannot tell the text encoding (binary file?)") from None
            return match.encoding

    def _delimiter(self, text: str) -> str:
        if self.delimiter:
            return self.delimiter
        lines = [ln for ln in text.splitlines()[:50] if ln.strip()]
        try:
            return csv.Sniffer().sniff("\n".join(lines), delimiters=",;\t|").delimiter
        except csv.Error:
            return ","

    def read(self) -> pd.DataFrame:
        head = _check_file(self.path)
        if any(marker in head for marker in _BINARY_MARKERS):
            raise DataError(f"{self.path} looks binary, not delimited text")
        encoding = self._encoding(head)
        sample = head.decode(encoding, errors="replace")
        if not sample.strip():
            raise DataError(f"{self.path} holds only whitespace")
        delimiter = self._delimiter(sample)
        try:
            # on_bad_lines="error": a row with the wrong number of fields is reported, not skipped.
            frame = pd.read_csv(
                self.path, sep=delimiter, encoding=encoding, on_bad_lines="error",
                skipinitialspace=True, low_memory=False,
            )
        except pd.errors.EmptyDataError as exc:
            raise DataError(f"{self.path} has no header row") from exc
        except pd.errors.ParserError as exc:
            raise DataError(f"{self.path}: malformed CSV: {str(exc).strip().splitlines()[-1]}") from exc
        except UnicodeDecodeError as exc:
            raise DataError(f"{self.path}: not valid {encoding} text at byte {exc.start}") from exc
        if frame.columns.duplicated().any() or any(str(c).startswith("Unnamed:") for c in frame.columns):
            bad = [str(c) for c in frame.columns if str(c).startswith("Unnamed:")]
            raise DataError(f"{self.path}: header has empty or duplicated column names {bad}")
        return frame


@dataclass
class JsonSource(DataSource):
    """A JSON array of records, or JSON Lines (one object per line)."""

    path: Path

    @property
    def location(self) -> str:  # type: ignore[override]
        return str(self.path)

    def read(self) -> pd.DataFrame:
        head = _check_file(self.path)
        text = self.path.read_text(encoding="utf-8", errors="strict") if head else ""
        stripped = text.lstrip()
        try:
            if stripped.startswith("["):
                records = json.loads(text)
            else:
                records = [
                    json.loads(line) for line in io.StringIO(text) if line.strip()
                ]
        except json.JSONDecodeError as exc:
            raise DataError(
                f"{self.path}: malformed JSON at line {exc.lineno} column {exc.colno}: {exc.msg}"
            ) from exc
        except UnicodeDecodeError as exc:
            raise DataError(f"{self.path}: not UTF-8 text (binary file?)") from exc
        if not isinstance(records, list) or not all(isinstance(r, dict) for r in records):
            raise DataError(f"{self.path}: expected a list of objects (one per applicant)")
        return pd.DataFrame.from_records(records)


@dataclass
class ParquetSource(DataSource):
    """A Parquet file (or folder of parts)."""

    path: Path

    @property
    def location(self) -> str:  # type: ignore[override]
        return str(self.path)

    def read(self) -> pd.DataFrame:
        if not self.path.exists():
            raise DataError(f"file not found: {self.path}")
        if self.path.is_file():
            _check_file(self.path)
        try:
            return pd.read_parquet(self.path)
        except Exception as exc:  # pyarrow raises several unrelated types for bad files
            raise DataError(f"{self.path}: not a readable Parquet file ({type(exc).__name__})") from exc

    def read_dask(self) -> Any:
        import dask.dataframe as dd

        return dd.read_parquet(self.path)


@dataclass
class SqlSource(DataSource):
    """The result of a query against a database given by SQLAlchemy URL."""

    url: str
    query: str

    @property
    def location(self) -> str:  # type: ignore[override]
        return self.url.split("@")[-1]  # never echo credentials

    def read(self) -> pd.DataFrame:
        from sqlalchemy import create_engine, text
        from sqlalchemy.exc import SQLAlchemyError

        try:
            engine = create_engine(self.url)
            with engine.connect() as conn:
                return pd.read_sql_query(text(self.query), conn)
        except SQLAlchemyError as exc:
            reason = str(getattr(exc, "orig", exc)).strip().splitlines()[0]
            raise DataError(f"SQL source {self.location}: {reason}") from exc


_BY_SUFFIX = {
    ".csv": CsvSource, ".tsv": CsvSource, ".txt": CsvSource,
    ".json": JsonSource, ".jsonl": JsonSource, ".ndjson": JsonSource,
    ".parquet": ParquetSource, ".pq": ParquetSource,
}


def open_source(location: str | Path, *, query: str | None = None) -> DataSource:
    """Pick the reader for a file path, or a SQL source for a database URL plus query.

    Raises
    ------
    DataError
        If the location's kind cannot be told or a SQL URL comes without a query.
    """
    text = str(location)
    if "://" in text and not text.startswith("file://"):
        if not query:
            raise DataError(f"a database source needs --query (got URL {text.split('@')[-1]})")
        return SqlSource(url=text, query=query)
    path = Path(text.removeprefix("file://"))
    reader = _BY_SUFFIX.get(path.suffix.lower())
    if reader is None:
        if path.is_dir() and any(path.glob("*.parquet")):
            return ParquetSource(path)
        raise DataError(
            f"{path}: unknown file type '{path.suffix or '(none)'}'; "
            "use .csv, .tsv, .json, .jsonl, .parquet or a database URL"
        )
    return reader(path)


def read_table(location: str | Path, *, query: str | None = None) -> pd.DataFrame:
    """Read a table from a file or a database; refuse an empty one.

    Raises
    ------
    DataError
        If the source cannot be read or holds no rows.
    """
    source = open_source(location, query=query)
    frame = source.read()
    if frame.shape[1] == 0:
        raise DataError(f"{source.location} has no columns")
    if len(frame) == 0:
        raise DataError(f"{source.location} has a header but no data rows")
    return frame
