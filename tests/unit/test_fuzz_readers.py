"""Property-based fuzzing (hypothesis) of the readers and validators: whatever the input,
the product answers with its own clear error or a result, never with a crash.

Covered: ``data.io.read_table`` on random bytes under every file suffix and on generated
CSV/JSON text (quotes, delimiters, BOMs, unicode, ragged rows); ``data.loading.load_dataset``
with an inferred spec on generated tables; ``data.validation.validate`` on generated
frames against the synthetic preset's spec; the serving ``InputGuard`` on applicant rows
of arbitrary JSON values; and the JSON guard of the API on arbitrary bodies. "Clear
error" means a :class:`~greenscore.errors.GreenScoreError` (DataError, ConfigError, ...)
with a non-empty message; any other exception fails the test and hypothesis shrinks the
input that raised it. A fixed seed (``derandomize``) makes each run the same cases, so a
failure reproduces; the example counts keep the module to seconds.
"""

from __future__ import annotations

import json
import math
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from greenscore.data.io import read_table
from greenscore.data.loading import load_dataset
from greenscore.data.presets import load_preset
from greenscore.data.validation import ValidationReport, validate
from greenscore.errors import GreenScoreError
from greenscore.serving.json_guard import unsafe_json_errors
from greenscore.serving.validation import InputGuard

FUZZ = settings(
    max_examples=40,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
SUFFIXES = [".csv", ".tsv", ".txt", ".json", ".jsonl", ".parquet"]

cells = st.one_of(
    st.text(max_size=12),
    st.integers(-(10**12), 10**12).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.sampled_from(
        ["", "NA", "null", "N/A", "?", '"', '""', ",", ";", "\t", "1,5", "1e309", "-0"]
    ),
)


def _clear(exc: BaseException) -> None:
    """Only the product's own errors, each saying something, may come out."""
    if not isinstance(exc, GreenScoreError):
        raise exc
    assert str(exc).strip(), f"{type(exc).__name__} without a message"


def _read(data: bytes, suffix: str) -> pd.DataFrame | None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"input{suffix}"
        path.write_bytes(data)
        try:
            frame = read_table(path)
        except Exception as exc:  # noqa: BLE001 - the property is which errors come out
            _clear(exc)
            return None
    assert len(frame) > 0 and frame.shape[1] > 0  # read_table refuses empty tables
    return frame


@FUZZ
@given(data=st.binary(max_size=2048), suffix=st.sampled_from(SUFFIXES))
def test_random_bytes_never_crash_a_reader(data: bytes, suffix: str) -> None:
    _read(data, suffix)


@FUZZ
@given(
    rows=st.lists(st.lists(cells, min_size=1, max_size=6), min_size=1, max_size=12),
    delimiter=st.sampled_from([",", ";", "\t", "|"]),
    bom=st.sampled_from([b"", b"\xef\xbb\xbf", b"\xff\xfe"]),
    encoding=st.sampled_from(["utf-8", "latin-1", "utf-16"]),
)
def test_generated_csv_text_never_crashes_the_reader(rows, delimiter, bom, encoding) -> None:
    text = "\n".join(delimiter.join(r) for r in rows)
    try:
        data = bom + text.encode(encoding)
    except UnicodeEncodeError:
        data = bom + text.encode("utf-8")
    _read(data, ".csv")


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(10**20), 10**20)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=10),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=6), children, max_size=4)
    ),
    max_leaves=20,
)


@FUZZ
@given(document=json_values, lines=st.booleans())
def test_generated_json_never_crashes_the_reader(document: Any, lines: bool) -> None:
    if lines and isinstance(document, list):
        data = "\n".join(json.dumps(x) for x in document).encode()
        _read(data, ".jsonl")
    else:
        _read(json.dumps(document).encode(), ".json")


@FUZZ
@given(
    columns=st.lists(
        st.text(
            alphabet=st.characters(codec="utf-8", exclude_characters=',\n\r"'),
            min_size=1,
            max_size=8,
        ),
        min_size=1,
        max_size=5,
        unique=True,
    ),
    rows=st.lists(st.lists(cells, min_size=6, max_size=6), min_size=1, max_size=15),
    target=st.lists(
        st.sampled_from(["0", "1", "yes", "no", "", "2", "x"]), min_size=15, max_size=15
    ),
)
def test_loading_with_an_inferred_spec_never_crashes(columns, rows, target) -> None:
    header = [*columns, "target"]
    lines = [",".join(f'"{c}"' for c in header)]
    for k, row in enumerate(rows):
        values = [v.replace('"', "'").replace("\n", " ") for v in row[: len(columns)]]
        lines.append(",".join(f'"{v}"' for v in [*values, target[k]]))
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "table.csv"
        path.write_text("\n".join(lines), encoding="utf-8")
        try:
            ds = load_dataset(path, target="target")
        except Exception as exc:  # noqa: BLE001
            _clear(exc)
            return
        try:
            report = validate(ds.frame, ds.spec)
        except Exception as exc:  # noqa: BLE001
            _clear(exc)
            return
    assert isinstance(report, ValidationReport)


SPEC = load_preset("synthetic")


def _column_values(n: int) -> st.SearchStrategy[list[Any]]:
    return st.one_of(
        st.lists(st.floats(allow_nan=True, allow_infinity=True), min_size=n, max_size=n),
        st.lists(st.integers(-(10**9), 10**9), min_size=n, max_size=n),
        st.lists(st.text(max_size=6), min_size=n, max_size=n),
        st.lists(
            st.one_of(st.none(), st.integers(0, 3), st.text(max_size=3)), min_size=n, max_size=n
        ),
    )


@st.composite
def frames(draw: st.DrawFn) -> pd.DataFrame:
    n = draw(st.integers(1, 20))
    names = [SPEC.target, SPEC.id_column, *sorted(SPEC.numeric)[:6], *sorted(SPEC.categorical)[:3]]
    chosen = draw(
        st.lists(st.sampled_from([c for c in names if c]), unique=True, max_size=len(names))
    )
    data = {c: draw(_column_values(n)) for c in chosen}
    if not data:
        data = {"x": list(range(n))}
    return pd.DataFrame(data)


@FUZZ
@given(frame=frames())
def test_validate_reports_on_any_frame_and_never_crashes(frame: pd.DataFrame) -> None:
    try:
        report = validate(frame, SPEC)
    except Exception as exc:  # noqa: BLE001
        _clear(exc)
        return
    assert isinstance(report, ValidationReport)


GUARD_COLUMNS = sorted(SPEC.numeric)[:5] + sorted(SPEC.categorical)[:2]
RANGES: dict[str, Any] = {
    c: {"min": 0.0, "max": 100.0, "p01": 1.0, "p99": 99.0} for c in sorted(SPEC.numeric)[:5]
}
RANGES.update({c: {"levels": ["a", "b"]} for c in sorted(SPEC.categorical)[:2]})
any_value = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**30), 10**30),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=8),
    st.lists(st.integers(), max_size=2),
    st.dictionaries(st.text(max_size=2), st.integers(), max_size=2),
)


@FUZZ
@given(
    row=st.fixed_dictionaries({}, optional={c: any_value for c in GUARD_COLUMNS}),
    refuse=st.booleans(),
)
def test_the_input_guard_flags_or_refuses_any_row(row: dict[str, Any], refuse: bool) -> None:
    guard = InputGuard(RANGES, GUARD_COLUMNS, spec=SPEC, refuse=refuse)
    try:
        flags = guard.check(dict(row), payload=row)
    except Exception as exc:  # noqa: BLE001
        _clear(exc)
        return
    assert isinstance(flags, list)


@FUZZ
@given(body=st.one_of(st.binary(max_size=512), json_values.map(lambda v: json.dumps(v).encode())))
def test_the_json_guard_answers_any_body(body: bytes) -> None:
    errors = unsafe_json_errors(body)
    assert isinstance(errors, list)
    for error in errors:
        assert error["loc"] and error["msg"]


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity"])
def test_the_json_guard_names_non_finite_numbers(literal: str) -> None:
    """The guard is not vacuous: each non-finite literal is reported at its place."""
    errors = unsafe_json_errors(f'{{"a": [1, {{"b": {literal}}}]}}'.encode())
    assert [tuple(e["loc"]) for e in errors] == [("body", "a", 1, "b")]
    assert not math.isfinite(float(literal))
    assert np.isfinite(1.0)
