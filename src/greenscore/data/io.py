"""Ingestion: one :class:`DataSource` abstraction over CSV, JSON/JSONL, Parquet and SQL.

``open_source("file.csv")`` picks the reader from the location; every reader returns a
pandas DataFrame or raises :class:`~greenscore.errors.DataError` with a one-line cause.
Nothing is dropped or padded silently: a row with too many *or too few* fields is an
error naming its line (pandas alone would fill a short row with NaN), and binary,
empty, header-only and malformed files are refused before pandas guesses at them.
A Dask-backed source for data larger than memory subclasses :class:`DataSource` and
overrides :meth:`DataSource.read_dask`.

A file in GreenScore's encrypted format (``x.csv.enc``, made by ``greenscore privacy
encrypt`` or stored with encryption at rest) is read in place: its bytes are decrypted in
memory by the *decryptor* that the layer holding the keys registered
(:func:`register_decryptor`; :mod:`greenscore.privacy.at_rest` does, when a command, the
service or a job worker starts) and parsed by the reader of the format under ``.enc``,
with every check a plain file gets. The plaintext never touches the disk. This module
knows the format's magic bytes only, never a key, so the data layer imports nothing above it.
"""

from __future__ import annotations

import codecs
import csv
import io
import json
import re
import warnings
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from greenscore.data._synthetic_params import APPLICATIONS_DIR, APPLICATIONS_FILE
from greenscore.errors import DataError

#: Cell values that mean "missing" in credit files beyond pandas' own list ("NA", "null", …);
#: "?" is the UCI/ARFF convention. Loading turns them into NaN in declared numeric columns.
MISSING_TOKENS = frozenset(
    {"", "?", "-", "--", ".", "n/a", "n.a.", "#n/a", "na", "nan", "<na>", "null", "nil", "none"}
    | {"missing", "unknown"}
)

_SNIFF_BYTES = 64_000
_DELIMITERS = (",", ";", "\t", "|")
# File signatures worth naming: a workbook or archive renamed to .csv is a common mistake.
_MAGIC = (
    (b"PK\x03\x04", "a ZIP archive (an Excel .xlsx workbook?)"),
    (b"\xd0\xcf\x11\xe0", "an old Office document (an Excel .xls workbook?)"),
    (b"\x1f\x8b", "a gzip-compressed file"),
    (b"BZh", "a bzip2-compressed file"),
    (b"\xfd7zXZ", "an xz-compressed file"),
    (b"PAR1", "a Parquet file (name it .parquet)"),
    (b"SQLite format 3\x00", "an SQLite database (read it with a sqlite:/// URL and --query)"),
    (b"%PDF", "a PDF document"),
    (b"\x89PNG", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"GIF8", "a GIF image"),
)
_BOMS = (
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
# Control bytes other than tab, newline, vertical tab, form feed and carriage return.
_CONTROL = frozenset(range(0x00, 0x09)) | frozenset(range(0x0E, 0x20))
_PANDAS_LINE = re.compile(r"Expected (\d+) fields in line (\d+), saw (\d+)")
_PANDAS_EOF = re.compile(r"EOF inside string starting at row (\d+)")
_DECIMAL_COMMA = re.compile(r"^-?\d+,\d+$")
_DECIMAL_POINT = re.compile(r"^-?\d+\.\d+$")

#: First bytes of a GreenScore encrypted object (:mod:`greenscore.privacy.object_format`).
ENCRYPTED_MAGIC = b"GSENC"
ENCRYPTED_SUFFIX = ".enc"
NO_DECRYPTOR = (
    "{path} is a GreenScore encrypted file, and no key source is registered to read it "
    "(run it through the greenscore CLI, the service or a job worker, or call "
    "greenscore.privacy.at_rest.install_dataset_reader())"
)
#: Turns an encrypted file into its plaintext bytes; registered by the layer with the keys.
_decryptor: list[Callable[[Path], bytes]] = []


def register_decryptor(decrypt: Callable[[Path], bytes]) -> None:
    """Let every reader open encrypted files with ``decrypt(path) -> plaintext bytes``.

    ``decrypt`` must raise a :class:`~greenscore.errors.GreenScoreError` (wrong key,
    tampered or swapped file) rather than return garbage. The last registration wins.
    """
    _decryptor[:] = [decrypt]


def is_encrypted_file(path: Path) -> bool:
    """True when ``path`` is a file that starts with the encryption magic."""
    try:
        with path.open("rb") as fh:
            return fh.read(len(ENCRYPTED_MAGIC)) == ENCRYPTED_MAGIC
    except OSError:
        return False


def _decrypted(path: Path) -> bytes:
    if not _decryptor:
        raise DataError(NO_DECRYPTOR.format(path=path))
    return _decryptor[0](path)


class DataSource(ABC):
    """Where a table comes from. Subclasses implement :meth:`read`.

    File sources take ``content``: the file's bytes when they are already in memory (a
    decrypted file); then ``path`` only names the file in messages and picks the format.
    """

    #: A short human name for messages, e.g. the file path or the SQL URL.
    location: str

    @abstractmethod
    def read(self) -> pd.DataFrame:
        """Read the whole table into memory."""

    def read_dask(self) -> Any:
        """Read lazily as a Dask DataFrame; sources that support it override this."""
        raise DataError(f"{self.location}: this source cannot be read out of core")


# ---------------------------------------------------------------------- byte-level checks
def _check_file(path: Path, content: bytes | None = None) -> bytes:
    """Return the file's head, after refusing missing, folder and empty files."""
    if content is not None:
        if not content:
            raise DataError(f"{path} is empty (0 bytes once decrypted)")
        return content[:_SNIFF_BYTES]
    if not path.exists():
        raise DataError(f"file not found: {path}")
    if path.is_dir():
        raise DataError(f"{path} is a folder, not a data file")
    if path.stat().st_size == 0:
        raise DataError(f"{path} is empty (0 bytes)")
    try:
        with path.open("rb") as fh:
            return fh.read(_SNIFF_BYTES)
    except OSError as exc:
        raise DataError(f"{path}: cannot be read ({exc.strerror or type(exc).__name__})") from exc


def _bom_encoding(head: bytes) -> str | None:
    for bom, encoding in _BOMS:
        if head.startswith(bom):
            return encoding
    return None


def _refuse_binary(path: Path, head: bytes, kind: str) -> None:
    """Raise if the head is a known binary format or mostly control bytes."""
    for magic, what in _MAGIC:
        if head.startswith(magic):
            raise DataError(f"{path} is {what}, not {kind}")
    if _bom_encoding(head) in {"utf-16", "utf-32"}:
        return  # wide encodings are full of NUL bytes but are text
    control = sum(1 for b in head[:8192] if b in _CONTROL)
    if b"\x00" in head or control > max(1, len(head[:8192]) // 100):
        raise DataError(f"{path} looks binary (control bytes), not {kind}")


def _decodes_as_utf8(head: bytes, complete: bool) -> bool:
    # The head may end inside a multi-byte character; only the final read may not.
    try:
        codecs.getincrementaldecoder("utf-8")().decode(head, final=complete)
    except UnicodeDecodeError:
        return False
    return True


def _sniff_encoding(path: Path, head: bytes, complete: bool) -> str:
    """Tell the text encoding: BOM, then UTF-8, then charset detection (Western first)."""
    bom = _bom_encoding(head)
    if bom:
        return bom
    if _decodes_as_utf8(head, complete):
        return "utf-8"
    from charset_normalizer import from_bytes

    matches = list(from_bytes(head))
    if not matches:
        raise DataError(f"{path}: cannot tell the text encoding (binary file?)")
    best = matches[0]
    tied = [m for m in matches if m.chaos <= best.chaos and m.coherence >= best.coherence]
    # Short samples cannot separate cp1250/cp1252/cp1257; a Western file is the likelier one.
    if any("cp1252" in m.could_be_from_charset for m in tied):
        undefined_in_cp1252 = {0x81, 0x8D, 0x8F, 0x90, 0x9D}
        return "latin-1" if undefined_in_cp1252 & set(head) else "cp1252"
    return best.encoding


def _first_bad_byte_line(raw: bytes, encoding: str) -> tuple[int, int]:
    """Line and byte offset of the first byte that is not valid ``encoding``."""
    try:
        raw.decode(encoding)
    except UnicodeDecodeError as exc:
        return raw.count(b"\n", 0, exc.start) + 1, exc.start
    return 0, 0


# ---------------------------------------------------------------------- CSV
def sniff_delimiter(lines: list[str]) -> str:
    """Pick the delimiter that splits the sample into the most consistent, widest rows.

    Parameters
    ----------
    lines : list of str
        The first lines of the file (the header first), without a possibly cut last line.

    Returns
    -------
    str
        One of ``, ; TAB |``; ``,`` when no candidate splits the header.
    """
    best, best_score = ",", (0.0, 0)
    for delimiter in _DELIMITERS:
        rows = [r for r in csv.reader(lines, delimiter=delimiter, skipinitialspace=True) if r]
        if not rows or len(rows[0]) < 2:
            continue
        width = len(rows[0])
        agreement = sum(len(r) == width for r in rows) / len(rows)
        if (agreement, width) > best_score:
            best, best_score = delimiter, (agreement, width)
    return best


def _uses_decimal_comma(lines: list[str], delimiter: str) -> bool:
    if delimiter == ",":
        return False
    cells = [c.strip() for r in csv.reader(lines[1:], delimiter=delimiter) for c in r]
    commas = sum(bool(_DECIMAL_COMMA.match(c)) for c in cells)
    points = sum(bool(_DECIMAL_POINT.match(c)) for c in cells)
    return commas > 0 and points == 0


@dataclass
class CsvSource(DataSource):
    """A delimited text file; delimiter and encoding are sniffed when not given."""

    path: Path
    delimiter: str | None = None
    encoding: str | None = None
    content: bytes | None = field(default=None, repr=False)

    @property
    def location(self) -> str:  # type: ignore[override]
        return str(self.path)

    def read(self) -> pd.DataFrame:
        """Read the file, refusing anything that is not a clean rectangular table.

        Raises
        ------
        DataError
            For missing, folder, empty, binary, header-only-broken, mis-encoded or
            malformed files, and for any row with the wrong number of fields (the line
            is named).
        """
        head = _check_file(self.path, self.content)
        _refuse_binary(self.path, head, "delimited text")
        complete = len(head) < _SNIFF_BYTES
        encoding = self.encoding or _sniff_encoding(self.path, head, complete)
        sample = head.decode(encoding, errors="replace")
        lines = sample.splitlines()
        if not complete:
            lines = lines[:-1]  # the sample may end mid-row
        lines = [ln for ln in lines if ln.strip()]
        if not lines:
            raise DataError(f"{self.path} holds only whitespace")
        delimiter = self.delimiter or sniff_delimiter(lines[:200])
        header = next(csv.reader([lines[0]], delimiter=delimiter, skipinitialspace=True))
        self._check_header([h.strip() for h in header])
        options: dict[str, Any] = {}
        if _uses_decimal_comma(lines[:200], delimiter):
            options["decimal"] = ","
        frame = self._parse(encoding, delimiter, options)
        return frame

    def _check_header(self, header: list[str]) -> None:
        blank = [i + 1 for i, name in enumerate(header) if not name]
        if blank:
            raise DataError(
                f"{self.path}: header has empty column names at positions {blank} "
                "(a trailing delimiter, or no header row?)"
            )
        seen: set[str] = set()
        dupes = sorted({n for n in header if n in seen or seen.add(n)})  # type: ignore[func-returns-value]
        if dupes:
            raise DataError(f"{self.path}: header repeats column names {dupes}")

    def _parse(self, encoding: str, delimiter: str, options: dict[str, Any]) -> pd.DataFrame:
        try:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always", pd.errors.ParserWarning)
                # index_col=False: never let pandas turn an extra leading field into an index.
                frame = pd.read_csv(
                    self.path if self.content is None else io.BytesIO(self.content),
                    sep=delimiter,
                    encoding=encoding,
                    on_bad_lines="error",
                    index_col=False,
                    skipinitialspace=True,
                    low_memory=False,
                    **options,
                )
        except pd.errors.EmptyDataError as exc:
            raise DataError(f"{self.path} has no header row") from exc
        except pd.errors.ParserError as exc:
            raise DataError(f"{self.path}: {self._parser_message(exc)}") from exc
        except UnicodeDecodeError as exc:
            line, offset = _first_bad_byte_line(self._bytes(), encoding)
            raise DataError(
                f"{self.path}: not valid {encoding} text at line {line} (byte {offset}); "
                "save it as UTF-8"
            ) from exc
        shape_warned = any(issubclass(w.category, pd.errors.ParserWarning) for w in caught)
        # A short row is padded with NaN, so it always leaves the last column empty:
        # only then (or when pandas warned about row widths) is the slow check needed.
        if shape_warned or (len(frame) and frame.iloc[:, -1].isna().any()):
            self._check_row_widths(encoding, delimiter, len(frame))
        return frame

    def _bytes(self) -> bytes:
        return self.path.read_bytes() if self.content is None else self.content

    def _parser_message(self, exc: Exception) -> str:
        text = str(exc).strip().splitlines()[-1]
        if match := _PANDAS_LINE.search(text):
            expected, line, saw = match.groups()
            return f"line {line} has {saw} fields, expected {expected} (malformed CSV)"
        if match := _PANDAS_EOF.search(text):
            # pandas counts rows from 0 at the header, so row N is line N + 1.
            return f"unclosed quote in the row starting on line {int(match.group(1)) + 1} (malformed CSV)"
        return f"malformed CSV: {text.removeprefix('Error tokenizing data. C error: ')}"

    def _check_row_widths(self, encoding: str, delimiter: str, n_rows: int) -> None:
        """Find the first record whose field count differs from the header's."""
        raw = io.BytesIO(self._bytes())
        with io.TextIOWrapper(raw, newline="", encoding=encoding, errors="replace") as fh:
            reader = csv.reader(fh, delimiter=delimiter, skipinitialspace=True)
            width = len(next(reader))
            records = 0
            start = reader.line_num + 1
            for record in reader:
                # pandas skips blank and whitespace-only lines; so does this count.
                if len(record) > 1 or (record and record[0].strip()):
                    records += 1
                    if len(record) != width:
                        why = "truncated row?" if len(record) < width else "extra delimiter?"
                        raise DataError(
                            f"{self.path}: line {start} has {len(record)} fields, "
                            f"expected {width} ({why})"
                        )
                start = reader.line_num + 1
        if records != n_rows:
            raise DataError(
                f"{self.path}: found {records} records but pandas parsed {n_rows} rows "
                "(stray quotes?)"
            )


# ---------------------------------------------------------------------- JSON
@dataclass
class JsonSource(DataSource):
    """A JSON array of records (or ``{"data": [...]}``), or JSON Lines (one object per line).

    Nested objects are flattened to dotted column names (``address.city``).
    """

    path: Path
    content: bytes | None = field(default=None, repr=False)

    @property
    def location(self) -> str:  # type: ignore[override]
        return str(self.path)

    def read(self) -> pd.DataFrame:
        """Read the records.

        Raises
        ------
        DataError
            For missing, empty, binary, non-UTF-8 or malformed files (line and column
            named), and for anything other than a list of objects.
        """
        head = _check_file(self.path, self.content)
        _refuse_binary(self.path, head, "JSON text")
        raw = self.path.read_bytes() if self.content is None else self.content
        try:
            text = raw.decode(_bom_encoding(head) or "utf-8")
        except UnicodeDecodeError as exc:
            line, _ = _first_bad_byte_line(raw, "utf-8")
            raise DataError(
                f"{self.path}: not UTF-8 text at line {line} (JSON must be UTF-8)"
            ) from exc
        stripped = text.lstrip()
        if not stripped:
            raise DataError(f"{self.path} holds only whitespace")
        if stripped[0] not in "[{":
            raise DataError(
                f"{self.path}: not JSON (expected '[' or '{{' first, got {stripped[0]!r})"
            )
        records = self._lines(text) if self._is_lines(stripped) else self._records(text)
        if not records:
            raise DataError(f"{self.path} holds no records")
        nested = any(isinstance(v, dict) for r in records[:1000] for v in r.values())
        if nested:
            return pd.json_normalize(records, sep=".")
        return pd.DataFrame.from_records(records)

    @staticmethod
    def _is_lines(stripped: str) -> bool:
        # JSON Lines starts with an object and has a second value after the first line.
        first, _, rest = stripped.partition("\n")
        return (
            stripped.startswith("{")
            and first.rstrip().endswith("}")
            and rest.strip().startswith("{")
        )

    def _records(self, text: str) -> list[dict[str, Any]]:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise DataError(
                f"{self.path}: malformed JSON at line {exc.lineno} column {exc.colno}: {exc.msg}"
            ) from exc
        if isinstance(data, dict):
            lists = [v for v in data.values() if isinstance(v, list)]
            if len(lists) > 1:
                raise DataError(
                    f"{self.path}: expected a list of objects (one per applicant), or an "
                    f"object holding exactly one such list (found {len(lists)} lists)"
                )
            # {"data": [...]} wraps the records; a flat object is a single record.
            data = lists[0] if lists else [data]
        if not isinstance(data, list):
            raise DataError(f"{self.path}: expected a list of objects, got {type(data).__name__}")
        for i, record in enumerate(data):
            if not isinstance(record, dict):
                raise DataError(
                    f"{self.path}: record {i} is {type(record).__name__}, expected an object"
                )
        return data

    def _lines(self, text: str) -> list[dict[str, Any]]:
        records = []
        for number, line in enumerate(io.StringIO(text), start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                raise DataError(
                    f"{self.path}: malformed JSON at line {number} column {exc.colno}: {exc.msg}"
                ) from exc
            if not isinstance(record, dict):
                raise DataError(
                    f"{self.path}: line {number} is {type(record).__name__}, expected an object"
                )
            records.append(record)
        return records


# ---------------------------------------------------------------------- Parquet
@dataclass
class ParquetSource(DataSource):
    """A Parquet file (or folder of parts)."""

    path: Path
    content: bytes | None = field(default=None, repr=False)

    @property
    def location(self) -> str:  # type: ignore[override]
        return str(self.path)

    def read(self) -> pd.DataFrame:
        """Read the file or the folder of parts.

        Raises
        ------
        DataError
            If the path is missing or empty, or not Parquet.
        """
        if self.content is None and not self.path.exists():
            raise DataError(f"file not found: {self.path}")
        if self.content is not None or self.path.is_file():
            head = _check_file(self.path, self.content)
            if not head.startswith(b"PAR1"):
                raise DataError(f"{self.path}: not a Parquet file (no PAR1 signature)")
        try:
            return pd.read_parquet(self.path if self.content is None else io.BytesIO(self.content))
        except Exception as exc:  # pyarrow raises several unrelated types for bad files
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise DataError(f"{self.path}: not a readable Parquet file ({reason})") from exc

    def read_dask(self) -> Any:
        """Read lazily with Dask (needs the ``dask`` extra)."""
        import dask.dataframe as dd

        if self.content is not None:
            raise DataError(f"{self.location}: an encrypted file is read into memory, not by Dask")

        return dd.read_parquet(self.path)


# ---------------------------------------------------------------------- SQL
@dataclass
class SqlSource(DataSource):
    """The result of a query against a database given by SQLAlchemy URL.

    The query runs inside a transaction that is always rolled back, so a statement that
    writes cannot change the database through this reader.
    """

    url: str
    query: str

    @property
    def location(self) -> str:  # type: ignore[override]
        return self.url.split("@")[-1]  # never echo credentials

    def read(self) -> pd.DataFrame:
        """Run the query and return its rows.

        Raises
        ------
        DataError
            If the URL, driver, database file or query is unusable.
        """
        from sqlalchemy import create_engine, make_url, text
        from sqlalchemy.exc import ArgumentError, SQLAlchemyError

        try:
            url = make_url(self.url)
        except ArgumentError as exc:
            raise DataError(f"not a database URL: {self.location}") from exc
        if url.drivername.startswith("sqlite") and url.database not in (None, "", ":memory:"):
            # SQLite would silently create an empty database at a mistyped path.
            if not Path(url.database).is_file():
                raise DataError(f"database file not found: {url.database}")
        try:
            engine = create_engine(url)
            with engine.connect() as conn:
                transaction = conn.begin()
                try:
                    return pd.read_sql_query(text(self.query), conn)
                finally:
                    transaction.rollback()
        except SQLAlchemyError as exc:
            reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
            raise DataError(f"SQL source {self.location}: {reason}") from exc
        except ImportError as exc:
            raise DataError(
                f"SQL source {self.location}: database driver not installed ({exc.name})"
            ) from exc


_BY_SUFFIX: dict[str, type[DataSource]] = {
    ".csv": CsvSource,
    ".tsv": CsvSource,
    ".txt": CsvSource,
    ".json": JsonSource,
    ".jsonl": JsonSource,
    ".ndjson": JsonSource,
    ".parquet": ParquetSource,
    ".pq": ParquetSource,
}


def open_source(location: str | Path, *, query: str | None = None) -> DataSource:
    """Pick the reader for a file path, or a SQL source for a database URL plus query.

    Raises
    ------
    DataError
        If the location is missing, a folder without Parquet parts, of an unknown kind,
        or a SQL URL without a query.
    """
    text = str(location)
    path = local_path(location)
    if path is None:
        if not query:
            raise DataError(f"a database source needs --query (got URL {text.split('@')[-1]})")
        return SqlSource(url=text, query=query)
    if not path.exists():
        raise DataError(f"file not found: {path}")
    if path.is_dir():
        if any(path.glob("*.parquet")):
            return ParquetSource(path)
        raise DataError(f"{path} is a folder, not a data file")
    content = _decrypted(path) if is_encrypted_file(path) else None
    # x.csv.enc is a CSV once decrypted; an encrypted file keeping its plain name works too.
    fmt = path.with_suffix("") if content is not None and path.suffix == ENCRYPTED_SUFFIX else path
    reader = _BY_SUFFIX.get(fmt.suffix.lower())
    if reader is None:
        raise DataError(
            f"{path}: unknown file type '{fmt.suffix or '(none)'}'; "
            "use .csv, .tsv, .txt, .json, .jsonl, .parquet (each may be encrypted, "
            "name.csv.enc) or a database URL"
        )
    return reader(path, content=content)  # type: ignore[call-arg]


def local_path(location: str | Path) -> Path | None:
    """The data file or folder a location names (``file://`` and a generated folder
    resolved, see :func:`data_path`), None for a database URL."""
    text = str(location)
    if "://" in text and not text.startswith("file://"):
        return None
    return data_path(Path(text.removeprefix("file://")))


def data_path(path: Path) -> Path:
    """The data a path stands for: a folder ``greenscore generate`` wrote stands for its
    applications (``applications.parquet``, or the ``applications/`` folder of parts), not
    for every Parquet file in it (the relations have other columns); any other path is
    itself."""
    if path.is_dir():
        for name in (APPLICATIONS_FILE, APPLICATIONS_DIR):
            if (path / name).exists():
                return path / name
    return path


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
        raise DataError(f"{source.location} has column names but no data rows (header only)")
    return frame
