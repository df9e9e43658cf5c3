"""The one JSON encoder: every document GreenScore writes parses as strict JSON."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from greenscore.json_document import dumps, plain, write_json


def _strict(text: str) -> object:
    """Parse as RFC 8259 JSON: NaN, Infinity and -Infinity are refused."""

    def refuse(token: str) -> None:
        raise ValueError(f"not JSON: {token}")

    return json.loads(text, parse_constant=refuse)


def test_figures_that_could_not_be_computed_are_null_not_nan() -> None:
    document = {
        "nan": float("nan"),
        "numpy_nan": np.float64("nan"),
        "float32_inf": np.float32("inf"),
        "minus_inf": -float("inf"),
        "na": pd.NA,
        "nat": pd.NaT,
        "nested": [{"co2_kg": np.nan}, (1.5, np.nan)],
        "array": np.array([0.25, np.nan, np.inf]),
    }
    parsed = _strict(dumps(document))
    assert parsed == {
        "nan": None,
        "numpy_nan": None,
        "float32_inf": None,
        "minus_inf": None,
        "na": None,
        "nat": None,
        "nested": [{"co2_kg": None}, [1.5, None]],
        "array": [0.25, None, None],
    }


def test_numpy_values_keep_their_type_and_keys_become_text() -> None:
    document = {np.int64(3): np.int32(7), "flag": np.bool_(True), "share": np.float32(0.5)}
    parsed = _strict(dumps(document))
    assert parsed == {"3": 7, "flag": True, "share": 0.5}
    assert isinstance(parsed["3"], int) and parsed["flag"] is True


def test_values_without_a_json_form_are_written_as_their_text() -> None:
    moment = datetime(2026, 12, 5, 18, 0, tzinfo=UTC)
    parsed = _strict(dumps({"path": Path("runs/a"), "at": moment, "stamp": pd.Timestamp(moment)}))
    assert parsed == {"path": "runs/a", "at": str(moment), "stamp": str(pd.Timestamp(moment))}


def test_plain_leaves_json_native_values_alone() -> None:
    value = {"a": [1, 2.5, "x", None, True], "b": {"c": "d"}}
    assert plain(value) == value
    assert plain(np.float64(0.125)) == 0.125 and type(plain(np.float64(0.125))) is float


def test_write_json_writes_utf8_with_a_final_newline(tmp_path: Path) -> None:
    path = write_json(tmp_path / "doc.json", {"name": "Zoë", "pd": np.float64("nan")})
    text = path.read_text("utf-8")
    assert text.endswith("\n") and "Zoë" in text
    assert _strict(text) == {"name": "Zoë", "pd": None}


def test_unknown_objects_become_text_and_the_strict_reader_refuses_nan() -> None:
    class Odd:
        def __str__(self) -> str:
            return "odd"

    assert _strict(dumps([Odd()])) == ["odd"]
    # What Python's json would have written: the reader these tests use refuses it.
    with pytest.raises(ValueError, match="not JSON"):
        _strict(json.dumps({"x": float("nan")}))
