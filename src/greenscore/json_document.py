"""The JSON documents GreenScore writes (metrics.json, explanation.json, the reports' data).

One encoder for all of them, so every file is strict JSON (RFC 8259). Python's ``json``
writes ``NaN`` and ``Infinity`` for a figure that could not be computed, which jq,
JavaScript's ``JSON.parse`` and the Java and Go decoders refuse; here such a figure is
``null``. NumPy scalars and arrays become numbers and lists, pandas' missing markers
``null``, and anything else without a JSON form (a path, a timestamp) is written as its
text. :func:`plain` is the same conversion for one value or a whole structure, for code
that builds a document (or a YAML file, an API answer) before writing it.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd


def plain(value: Any) -> Any:
    """JSON-native data: containers walked, NumPy values as Python ones, missing as None.

    Dictionary keys that are not strings become their text (a NumPy integer key would
    stop ``json`` otherwise); tuples, sets and arrays become lists.
    """
    if isinstance(value, dict):
        return {k if isinstance(k, str) else str(plain(k)): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [plain(v) for v in value]
    if isinstance(value, np.ndarray):
        return [plain(v) for v in value.tolist()]
    if isinstance(value, np.generic):
        value = value.item()
    if value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def dumps(document: Any, *, indent: int | None = 2) -> str:
    """``document`` as strict JSON text (non-ASCII characters kept as they are)."""
    return json.dumps(
        plain(document), indent=indent, ensure_ascii=False, allow_nan=False, default=str
    )


def write_json(path: Path, document: Any, *, indent: int | None = 2) -> Path:
    """Write ``document`` to ``path`` as strict UTF-8 JSON ending in a newline; returns ``path``."""
    path.write_text(dumps(document, indent=indent) + "\n", encoding="utf-8")
    return path
