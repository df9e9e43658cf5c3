"""Protection against inputs the model never saw: values far outside training ranges, new categories.

Schema validation (types, required fields, finite numbers) happens in the request model;
this is the second line. A number beyond the training minimum or maximum (plus an
optional margin, ``serving.range_margin``) is flagged and clipped to the range, so a
typo such as an income of 1e12 cannot drive ratios to absurd values; with
``serving.refuse_out_of_range`` the request is refused instead (422 naming the field).
A category never seen in training is flagged and scored as missing, which is how the
model's type coercion treats it.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from greenscore.errors import DataError

OUT_OF_RANGE = "field '{field}': {value:g} is outside the training range [{low:g}, {high:g}]"


@dataclass(frozen=True)
class Flag:
    """One input outside the training data."""

    field: str
    issue: str
    value: Any
    action: str

    def to_dict(self) -> dict[str, Any]:
        """Plain data for the response."""
        return {
            "field": self.field,
            "issue": self.issue,
            "value": self.value,
            "action": self.action,
        }


class InputGuard:
    """Checks one model's inputs against its training ranges and levels.

    Parameters
    ----------
    ranges : mapping
        ``metadata["training_ranges"]``: ``{column: {min, max, ...} | {levels: [...]}}``.
    columns : list of str
        The model's input columns (others in ``ranges`` are ignored).
    margin : float
        Share of ``max - min`` a value may exceed the range by before it is flagged.
    refuse : bool
        Refuse out-of-range values instead of clipping them.
    """

    def __init__(
        self,
        ranges: Mapping[str, Any],
        columns: list[str],
        *,
        margin: float = 0.0,
        refuse: bool = False,
    ) -> None:
        self.refuse = refuse
        self._bounds: dict[str, tuple[float, float, float, float]] = {}
        self._levels: dict[str, frozenset[str]] = {}
        wanted = set(columns)
        for column, spec in ranges.items():
            if column not in wanted or not isinstance(spec, Mapping):
                continue
            if "levels" in spec:
                self._levels[column] = frozenset(str(v) for v in spec["levels"])
            elif "min" in spec and "max" in spec:
                low, high = float(spec["min"]), float(spec["max"])
                slack = margin * (high - low)
                self._bounds[column] = (low, high, low - slack, high + slack)

    def check(self, row: dict[str, Any]) -> list[Flag]:
        """Flag (and clip, in place) the row's unusual values.

        Raises
        ------
        DataError
            If a value is out of range and the guard refuses them.
        """
        flags: list[Flag] = []
        for column, (low, high, lo_limit, hi_limit) in self._bounds.items():
            value = row.get(column)
            if value is None or not isinstance(value, int | float) or math.isnan(value):
                continue
            if lo_limit <= value <= hi_limit:
                continue
            if self.refuse:
                raise DataError(OUT_OF_RANGE.format(field=column, value=value, low=low, high=high))
            issue = "above_training_range" if value > hi_limit else "below_training_range"
            flags.append(Flag(column, issue, value, "clipped"))
            row[column] = min(max(value, low), high)
        for column, levels in self._levels.items():
            value = row.get(column)
            if value is not None and str(value) not in levels:
                flags.append(Flag(column, "unknown_category", value, "flagged"))
        return flags


def input_hash(row: Mapping[str, Any], columns: list[str], applicant_id: Any) -> str:
    """SHA-256 of what the model saw: the input fields (and the id, which relational features read)."""
    payload = {"id": applicant_id, "fields": {c: row.get(c) for c in columns}}
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()
