"""Readers of greenscore.data.io: each format reads cleanly, and every broken input is a
one-line DataError naming the cause (and the line, for rows of the wrong width)."""

from __future__ import annotations

import json
import random
import sqlite3
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from greenscore.data.io import (
    CsvSource,
    JsonSource,
    ParquetSource,
    SqlSource,
    open_source,
    read_table,
    sniff_delimiter,
)
from greenscore.errors import DataError


def write(tmp_path: Path, name: str, data: bytes | str) -> Path:
    path = tmp_path / name
    path.write_bytes(data.encode("utf-8") if isinstance(data, str) else data)
    return path


# ---------------------------------------------------------------------- formats that read
def test_csv_semicolon_latin1_with_decimal_comma(tmp_path: Path) -> None:
    text = "id;nom;ville;revenu;défaut\n1;Müller;São Paulo;1234,5;non\n2;Gauß;Zürich;99,0;oui\n"
    path = write(tmp_path, "eu.csv", text.encode("latin-1"))
    source = open_source(path)
    assert isinstance(source, CsvSource)
    frame = source.read()
    assert list(frame.columns) == ["id", "nom", "ville", "revenu", "défaut"]
    assert frame["nom"].tolist() == ["Müller", "Gauß"]
    assert frame["ville"].tolist() == ["São Paulo", "Zürich"]
    assert frame["revenu"].tolist() == [1234.5, 99.0]


def test_csv_explicit_delimiter_and_encoding_win(tmp_path: Path) -> None:
    path = write(tmp_path, "t.txt", "a|b\n1|é\n".encode("cp1252"))
    frame = CsvSource(path, delimiter="|", encoding="cp1252").read()
    assert frame.to_dict("list") == {"a": [1], "b": ["é"]}


@pytest.mark.parametrize(
    ("lines", "expected"),
    [
        (["a\tb\tc", "1\t2\t3"], "\t"),
        (["a|b", "1|2,5"], "|"),
        (['"x,y";b', '"1,2";3'], ";"),
        (["a,b,c", "1,2,3"], ","),
        (["single"], ","),
    ],
)
def test_sniff_delimiter(lines: list[str], expected: str) -> None:
    assert sniff_delimiter(lines) == expected


def test_csv_utf8_character_cut_by_the_sniff_window_is_still_utf8(tmp_path: Path) -> None:
    # The first 64,000 bytes are sniffed; put the two bytes of an "é" across that boundary.
    prefix = "a,b\n" + ("1," + "x" * 97 + "\n") * 639 + "2,"
    text = prefix + "y" * (63_999 - len(prefix.encode())) + "é tail\n"
    assert text.encode().index("é".encode()) == 63_999
    frame = read_table(write(tmp_path, "wide.csv", text))
    assert frame["b"].iloc[-1].endswith("é tail")


def test_csv_trailing_empty_field_is_missing_not_an_error(tmp_path: Path) -> None:
    frame = read_table(write(tmp_path, "t.csv", "a,b,c\n1,2,\n4,5,6\n\n"))
    assert len(frame) == 2
    assert np.isnan(frame.loc[0, "c"])


def test_csv_bom_and_utf16(tmp_path: Path) -> None:
    bom = read_table(write(tmp_path, "bom.csv", "ID,b\n1,2\n".encode("utf-8-sig")))
    assert list(bom.columns) == ["ID", "b"]
    wide = read_table(write(tmp_path, "wide.csv", "a,b\n1,Müller\n".encode("utf-16")))
    assert wide["b"].tolist() == ["Müller"]


def test_json_array(tmp_path: Path) -> None:
    path = write(tmp_path, "a.json", json.dumps([{"a": 1, "b": "x"}, {"a": 2, "b": None}]))
    assert isinstance(open_source(path), JsonSource)
    frame = read_table(path)
    assert frame["a"].tolist() == [1, 2]
    assert frame["b"].isna().tolist() == [False, True]


def test_json_wrapped_records_and_nested_objects(tmp_path: Path) -> None:
    data = {
        "data": [{"id": 1, "address": {"city": "Leeds"}}, {"id": 2, "address": {"city": "York"}}]
    }
    frame = read_table(write(tmp_path, "w.json", json.dumps(data)))
    assert frame["address.city"].tolist() == ["Leeds", "York"]


def test_jsonl(tmp_path: Path) -> None:
    path = write(tmp_path, "r.jsonl", '{"a": 1, "b": "x"}\n\n{"a": 2, "b": "y"}\n')
    frame = read_table(path)
    assert frame.to_dict("list") == {"a": [1, 2], "b": ["x", "y"]}


def test_parquet(tmp_path: Path) -> None:
    path = tmp_path / "p.parquet"
    pd.DataFrame({"a": [1.5, 2.5], "b": ["x", "y"]}).to_parquet(path)
    assert isinstance(open_source(path), ParquetSource)
    assert read_table(path).to_dict("list") == {"a": [1.5, 2.5], "b": ["x", "y"]}


@pytest.fixture
def sqlite_db(tmp_path: Path) -> Path:
    path = tmp_path / "loans.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE loans (id INTEGER, amount REAL, bad INTEGER)")
        conn.executemany("INSERT INTO loans VALUES (?, ?, ?)", [(1, 100.0, 0), (2, 250.0, 1)])
    return path


def test_sql_via_sqlite_url(sqlite_db: Path) -> None:
    source = open_source(f"sqlite:///{sqlite_db}", query="SELECT id, amount, bad FROM loans")
    assert isinstance(source, SqlSource)
    assert source.read().to_dict("list") == {"id": [1, 2], "amount": [100.0, 250.0], "bad": [0, 1]}


def test_sql_statement_that_writes_is_refused_and_rolled_back(sqlite_db: Path) -> None:
    with pytest.raises(DataError, match="SQL source"):
        read_table(f"sqlite:///{sqlite_db}", query="DELETE FROM loans")
    with sqlite3.connect(sqlite_db) as conn:
        assert conn.execute("SELECT COUNT(*) FROM loans").fetchone()[0] == 2


def test_sql_errors(tmp_path: Path, sqlite_db: Path) -> None:
    with pytest.raises(DataError, match="no such table"):
        read_table(f"sqlite:///{sqlite_db}", query="SELECT * FROM nope")
    missing = tmp_path / "typo.db"
    with pytest.raises(DataError, match="database file not found"):
        read_table(f"sqlite:///{missing}", query="SELECT 1")
    assert not missing.exists()  # SQLite must not have created it
    with pytest.raises(DataError, match="needs --query"):
        open_source(f"sqlite:///{sqlite_db}")
    with pytest.raises(DataError, match="header only"):
        read_table(f"sqlite:///{sqlite_db}", query="SELECT * FROM loans WHERE id > 99")


def test_real_taiwan_file_reads_whole() -> None:
    frame = read_table("/work/shared/data/UCI_Credit_Card.csv")
    assert frame.shape == (30000, 25)


# ---------------------------------------------------------------------- broken inputs
ZIP_HEAD = b"PK\x03\x04\x14\x00\x00\x00\x08\x00" + bytes(40)
PNG_HEAD = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(64))
RANDOM = random.Random(7).randbytes(4096)

BROKEN = [
    ("short.csv", b"a,b,c\n1,2,3\n4,5\n6,7,8\n", "line 3 has 2 fields, expected 3"),
    ("cut.csv", b"a,b,c\n1,2,3\n4,5,6\n7,8", "line 4 has 2 fields, expected 3"),
    ("long.csv", b"a,b,c\n1,2,3\n4,5,6,7\n", "line 3 has 4 fields, expected 3"),
    ("every_long.csv", b"a,b,c\n1,2,3,9\n4,5,6,7\n", "line 2 has 4 fields, expected 3"),
    ("quote.csv", b'a,b,c\n1,2,3\n4,"5,6\n7,8,9\n', "unclosed quote in the row starting on line 3"),
    ("empty.csv", b"", "is empty"),
    ("blank.csv", b" \n\n  \n", "only whitespace"),
    ("header.csv", b"a,b,c\n", "header only"),
    ("random.csv", RANDOM, "looks binary"),
    ("image.csv", PNG_HEAD, "is a PNG image"),
    ("book.csv", ZIP_HEAD, "ZIP archive"),
    ("dupe.csv", b"a,b,a\n1,2,3\n", "repeats column names ['a']"),
    ("noname.csv", b"a,,c\n1,2,3\n", "empty column names at positions [2]"),
    ("bad.json", b'[{"a": 1}, {"a": 2,}]', "malformed JSON at line 1 column 20"),
    ("bad.jsonl", b'{"a": 1}\n{"a": 2}\n{"a": \n', "malformed JSON at line 3"),
    ("scalars.json", b"[1, 2, 3]", "record 0 is int, expected an object"),
    ("none.json", b"[]", "holds no records"),
    ("text.json", b"hello", "not JSON"),
    ("latin.json", '[{"a": "Müller"}]'.encode("latin-1"), "not UTF-8 text at line 1"),
    ("random.json", RANDOM, "looks binary"),
    ("bad.parquet", b"PAR1 but not really", "not a readable Parquet file"),
    ("text.parquet", b"a,b\n1,2\n", "not a Parquet file"),
    ("data.xlsx", b"a,b\n1,2\n", "unknown file type '.xlsx'"),
]


@pytest.mark.parametrize(("name", "data", "fragment"), BROKEN, ids=[b[0] for b in BROKEN])
def test_broken_input_is_a_one_line_data_error(
    tmp_path: Path, name: str, data: bytes, fragment: str
) -> None:
    path = write(tmp_path, name, data)
    with pytest.raises(DataError) as caught:
        read_table(path)
    message = str(caught.value)
    assert fragment in message
    assert "\n" not in message


def test_missing_file_and_folder(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="file not found"):
        read_table(tmp_path / "nope.csv")
    folder = tmp_path / "folder.csv"
    folder.mkdir()
    with pytest.raises(DataError, match="is a folder"):
        read_table(folder)


def test_a_generated_folder_reads_as_its_applications(tmp_path: Path) -> None:
    """``greenscore generate --out DIR`` then ``--data DIR``: the folder stands for its
    applications (it also holds the relations, other columns, and the datasheet), in the
    single-file layout and the partitioned one; the relations come with the dataset."""
    from greenscore.data.loading import load_dataset
    from greenscore.data.synthetic import write_synthetic
    from greenscore.data.synthetic_parts import write_synthetic_parts

    single, parts = tmp_path / "gen.csv", tmp_path / "parts"  # a folder named like a file
    write_synthetic(single, rows=60, seed=1)
    write_synthetic_parts(parts, rows=60, seed=1, chunk_rows=30)
    expected = pd.read_parquet(single / "applications.parquet")
    pd.testing.assert_frame_equal(read_table(single), expected)
    assert len(read_table(parts)) == 60
    dataset = load_dataset(single, preset="synthetic")
    assert dataset.location == str(single / "applications.parquet")
    assert dataset.relations is not None and len(dataset.relations) > 0
    assert len(dataset.frame) == 60
