"""The rules a model's raw inputs are held to when it scores: one implementation for a file
(``greenscore score``, the Python API) and for one applicant (the API, batch jobs).

After cleaning (:mod:`greenscore.data.cleaning`) three kinds of rule apply:

- **domain rules** from the spec (:meth:`DatasetSpec.domain_bounds`: ages 18 to 100,
  amounts at least 0, the spec's ``bounds``). A value outside is implausible: refused
  (the caller names the field or row), or, when the caller chooses, flagged and scored as
  the nearest end of the training range. A value inside the training range is never
  implausible: the model was fitted on it.
- **training ranges**: a number beyond the training minimum or maximum is clipped to it,
  so a typo such as an income of 1e12 cannot drive ratios to absurd values; it is flagged
  when it passes the range by more than ``margin`` (a share of ``max - min``).
- **training levels**: a category never seen in training is flagged and scored as missing
  (which is what the model's type coercion does with it); one that differs from a
  training level only in letter case or surrounding spaces, where that level is unique
  case-insensitively, is normalised to it and flagged.

Flags say what was sent (``value``) and what was done (``action``); for one applicant the
values sent for flagged fields are also kept in the row under :data:`SENT_KEY`, so that
reasons quote what the caller sent rather than the value scored.
"""

from __future__ import annotations

import math
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import numpy as np
import pandas as pd

from greenscore.data.cleaning import RowProblem, missing_tokens, read_number, unquote
from greenscore.data.io import MISSING_TOKENS
from greenscore.data.spec import DatasetSpec
from greenscore.errors import DataError

ABOVE_RANGE = "above_training_range"
BELOW_RANGE = "below_training_range"
UNKNOWN_CATEGORY = "unknown_category"
NORMALISED = "category_normalised"
IMPLAUSIBLE = "outside_plausible_range"
#: Every flag issue.
ISSUES = (IMPLAUSIBLE, ABOVE_RANGE, BELOW_RANGE, NORMALISED, UNKNOWN_CATEGORY)
#: What was done about a flagged value.
ACTIONS = ("clipped", "normalised", "flagged")
#: Key of a scored row's dict holding ``{field: value sent}`` for the fields that were
#: clipped, normalised or not recognised (reason wording quotes these).
SENT_KEY = "__sent__"

OUT_OF_RANGE = "field '{field}': {value:g} is outside the training range [{low:g}, {high:g}]"
OUT_OF_DOMAIN = "{where}: {value:g} is outside the plausible range {bounds}"
NOT_READABLE = "field '{field}': {reason}"


@dataclass(frozen=True)
class Flag:
    """One input the model did not see in training, and what was done about it."""

    field: str
    issue: str
    value: Any
    action: str

    def to_dict(self) -> dict[str, Any]:
        """Plain data for a response."""
        return {
            "field": self.field,
            "issue": self.issue,
            "value": self.value,
            "action": self.action,
        }

    def __str__(self) -> str:
        return f"{self.field}:{self.issue}"


# Control, format (bidirectional overrides, zero-width) and line/paragraph separator
# characters: a value sent back to a caller (a flag, a reason's wording) shows them as
# escapes, so it cannot reorder or hide text in what displays it.
_INVISIBLE = frozenset({"Cc", "Cf", "Zl", "Zp"})


def visible(value: Any) -> Any:
    """A text value with invisible characters as ``\\uXXXX`` escapes (others unchanged)."""
    if not isinstance(value, str):
        return value
    if value.isprintable():  # the common case: nothing to replace
        return value
    return "".join(
        f"\\u{ord(c):04x}" if unicodedata.category(c) in _INVISIBLE else c for c in value
    )


def flags_text(flags: Sequence[Flag]) -> str:
    """Flags as one cell of text: ``field:issue`` joined by ``"; "`` (the audit's wording)."""
    return "; ".join(str(f) for f in flags)


def _bounds_text(low: float | None, high: float | None) -> str:
    if low is not None and high is not None:
        return f"[{low:g}, {high:g}]"
    return f">= {low:g}" if low is not None else f"<= {high:g}"


@dataclass
class FrameCheck:
    """The outcome of :meth:`InputRules.check_frame`.

    Attributes
    ----------
    frame : the model input, clipped and normalised.
    flags : per row (frame order), the flags raised.
    problems : rows refused by a domain rule (empty when flagging instead).
    """

    frame: pd.DataFrame
    flags: list[list[Flag]]
    problems: list[RowProblem] = field(default_factory=list)


class InputRules:
    """A model's input rules from its spec and its training ranges and levels.

    Parameters
    ----------
    ranges : mapping
        ``metadata["training_ranges"]``: ``{column: {min, max, ...} | {levels: [...]}}``.
    columns : sequence of str
        The model's input columns (rules on other columns are ignored).
    spec : DatasetSpec, optional
        Domain rules, quote stripping and missing-value texts; without it only the
        training ranges and levels apply.
    margin : float
        Share of ``max - min`` a value may pass the training range by before it is flagged
        (it is clipped either way).
    """

    def __init__(
        self,
        ranges: Mapping[str, Any],
        columns: Sequence[str],
        *,
        spec: DatasetSpec | None = None,
        margin: float = 0.0,
    ) -> None:
        self.columns = list(columns)
        wanted = set(self.columns)
        self._ranges: dict[str, tuple[float, float, float, float]] = {}
        self._levels: dict[str, frozenset[str]] = {}
        self._folded: dict[str, dict[str, str]] = {}
        self._number_levels: dict[str, frozenset[float]] = {}
        for column, info in ranges.items():
            if column not in wanted or not isinstance(info, Mapping):
                continue
            if "levels" in info:
                levels = [str(v) for v in info["levels"]]
                self._levels[column] = frozenset(levels)
                self._folded[column] = _unique_folds(levels)
                self._number_levels[column] = _numbers_of(levels)
            elif "min" in info and "max" in info:
                low, high = float(info["min"]), float(info["max"])
                slack = margin * (high - low)
                self._ranges[column] = (low, high, low - slack, high + slack)
        if spec is not None:
            self._share_sequence_ranges(spec, margin)
        self._strip_quotes = bool(spec and spec.strip_quotes)
        numeric = set(self._ranges)
        self._domain: dict[str, tuple[float | None, float | None]] = {}
        # Domain rules on fields the model does not read (an age kept out as protected):
        # an implausible value there is flagged, never refused or changed.
        self._watched: dict[str, tuple[float | None, float | None]] = {}
        self._missing: dict[str, frozenset[str]] = {}
        if spec is not None:
            numeric |= wanted & {*spec.numeric, *spec.sequence_columns}
            for column, (floor, ceiling) in spec.domain_bounds().items():
                if column in self._levels:
                    continue
                if column in wanted:
                    self._domain[column] = self._widened(column, floor, ceiling)
                else:
                    self._watched[column] = (floor, ceiling)
            self._missing = {c: missing_tokens(spec, c) for c in [*numeric, *self._watched]}
        self._numeric = [c for c in self.columns if c in numeric]

    def _share_sequence_ranges(self, spec: DatasetSpec, margin: float) -> None:
        """Give the months of each monthly history one range: the widest of theirs.

        Why: each month clipped to its own training range changed the history's shape
        (an applicant's falling balance became a rising one, flipping its derived trend:
        ``balance_recent_change`` -4444 scored as +907). Clipped to one range, months keep
        their order, so a history's direction survives (it may flatten, never turn).
        """
        for group in spec.sequences:
            months = [c for c in group.columns if c in self._ranges]
            if len(months) < 2:
                continue
            low = min(self._ranges[c][0] for c in months)
            high = max(self._ranges[c][1] for c in months)
            slack = margin * (high - low)
            for column in months:
                self._ranges[column] = (low, high, low - slack, high + slack)

    def _widened(
        self, column: str, low: float | None, high: float | None
    ) -> tuple[float | None, float | None]:
        """A domain rule never refuses a value the model was trained on."""
        if column in self._ranges:
            train_low, train_high = self._ranges[column][:2]
            low = None if low is None else min(low, train_low)
            high = None if high is None else max(high, train_high)
        return low, high

    # ------------------------------------------------------------------ one applicant
    def clean_row(self, row: dict[str, Any]) -> None:
        """Clean one applicant in place: quotes stripped, numeric text read as numbers.

        Raises
        ------
        DataError
            Naming the field whose value is not a number.
        """
        for column in self._numeric:
            value = row.get(column)
            if value is not None and not isinstance(value, int | float):
                try:
                    number = read_number(
                        value, strip_quotes=self._strip_quotes, missing=self._missing_of(column)
                    )
                except ValueError as exc:
                    raise DataError(NOT_READABLE.format(field=column, reason=exc)) from None
                row[column] = None if math.isnan(number) else number
            elif isinstance(value, float) and math.isnan(value):
                row[column] = None
        if self._strip_quotes:
            for column in self._levels:
                row[column] = unquote(row.get(column), strip_quotes=True)

    def _missing_of(self, column: str) -> frozenset[str]:
        return self._missing.get(column, MISSING_TOKENS)

    def _readable(self, column: str, value: Any) -> float | None:
        """A field's number, or None when it is missing or not a number."""
        try:
            number = read_number(
                value, strip_quotes=self._strip_quotes, missing=self._missing_of(column)
            )
        except ValueError:
            return None
        return None if math.isnan(number) else number

    def check_row(
        self,
        row: dict[str, Any],
        *,
        others: Mapping[str, Any] | None = None,
        refuse_domain: bool = True,
        refuse_range: bool = False,
    ) -> list[Flag]:
        """Clean, check and repair one applicant in place; return its flags.

        Parameters
        ----------
        row : dict
            Field -> value; changed in place (clipped numbers, normalised categories) and
            given :data:`SENT_KEY` when a flagged field was changed or not recognised.
        others : mapping, optional
            The whole record sent: fields the model does not read are held to the
            domain rules too, and only flagged.
        refuse_domain : bool
            Refuse an implausible value (else flag it and clip it to the training range).
        refuse_range : bool
            Refuse a value beyond the training range and margin (else flag and clip it).

        Raises
        ------
        DataError
            Naming the field refused.
        """
        self.clean_row(row)
        flags: list[Flag] = []
        sent: dict[str, Any] = {}
        implausible: set[str] = set()
        for column, (low, high) in self._domain.items():
            value = row.get(column)
            if value is None or math.isnan(value):
                continue
            if (low is not None and value < low) or (high is not None and value > high):
                where = f"field '{column}'"
                if refuse_domain:
                    raise DataError(
                        OUT_OF_DOMAIN.format(
                            where=where, value=value, bounds=_bounds_text(low, high)
                        )
                    )
                implausible.add(column)
                action = "clipped" if column in self._ranges else "flagged"
                flags.append(Flag(column, IMPLAUSIBLE, value, action))
        for column, (low, high) in self._watched.items():
            value = self._readable(column, (others or {}).get(column))
            if value is not None and not _inside(value, low, high):
                flags.append(Flag(column, IMPLAUSIBLE, value, "flagged"))
        for column, (low, high, lo_limit, hi_limit) in self._ranges.items():
            value = row.get(column)
            if value is None or math.isnan(value) or low <= value <= high:
                continue
            beyond = not lo_limit <= value <= hi_limit
            if beyond and refuse_range and column not in implausible:
                raise DataError(OUT_OF_RANGE.format(field=column, value=value, low=low, high=high))
            if beyond and column not in implausible:
                issue = ABOVE_RANGE if value > high else BELOW_RANGE
                flags.append(Flag(column, issue, value, "clipped"))
            sent[column] = value
            row[column] = min(max(value, low), high)
        for column in self._levels:
            value = row.get(column)
            if value is None or (isinstance(value, float) and math.isnan(value)):
                continue
            new, flag = self._level(column, value)
            if flag is not None:
                flags.append(flag)
                sent[column] = flag.value  # as the flag shows it (invisible characters escaped)
                row[column] = new
        sent.update((f.field, f.value) for f in flags if f.field not in sent)
        if sent:
            row[SENT_KEY] = sent
        return flags

    def _level(self, column: str, value: Any) -> tuple[Any, Flag | None]:
        """A category value on the training levels: unchanged, normalised, or flagged."""
        text = str(value)
        if text in self._levels[column]:
            return value, None
        folded = self._folded[column].get(text.strip().casefold())
        if folded is not None:
            return folded, Flag(column, NORMALISED, visible(value), "normalised")
        number = _as_number(value)
        if number is not None and number in self._number_levels[column]:
            return value, None  # 2.0 for the level "2": the same code, compared as numbers
        return value, Flag(column, UNKNOWN_CATEGORY, visible(value), "flagged")

    # ------------------------------------------------------------------ a frame
    def check_frame(
        self,
        X: pd.DataFrame,  # noqa: N803
        *,
        others: pd.DataFrame | None = None,
        refuse_domain: bool = True,
    ) -> FrameCheck:
        """Check and repair cleaned model-input rows as :meth:`check_row` does one.

        ``others`` holds the same rows' other columns (in the same order), for the
        domain rules on fields the model does not read.

        Returns
        -------
        FrameCheck
            The repaired frame, each row's flags, and the rows a domain rule refuses
            (with ``refuse_domain``; those rows are left as they are).
        """
        out = X.copy()
        n = len(out)
        flags: list[list[Flag]] = [[] for _ in range(n)]
        problems: list[RowProblem] = []
        implausible: dict[str, np.ndarray] = {}
        for column, (low, high) in self._domain.items():
            if column not in out.columns:
                continue
            values = _floats(out[column])
            if values is None:
                continue
            with np.errstate(invalid="ignore"):
                bad = ((values < low) if low is not None else False) | (
                    (values > high) if high is not None else False
                )
            bad = np.asarray(bad, dtype=bool)
            implausible[column] = bad
            action = "clipped" if column in self._ranges else "flagged"
            for position in np.flatnonzero(bad):
                value = float(values[position])
                if refuse_domain:
                    label = out.index[position]
                    label = label.item() if isinstance(label, np.generic) else label
                    where = f"row {label}, column '{column}'"
                    message = OUT_OF_DOMAIN.format(
                        where=where, value=value, bounds=_bounds_text(low, high)
                    )
                    problems.append(RowProblem(label, int(position), column, value, message))
                else:
                    flags[position].append(Flag(column, IMPLAUSIBLE, value, action))
        for column, (low, high) in self._watched.items():
            if others is None or column not in others.columns:
                continue
            values = others[column].map(lambda v, c=column: self._readable(c, v))
            values = values.to_numpy(dtype=float, na_value=np.nan)
            with np.errstate(invalid="ignore"):
                bad = ~np.isnan(values) & ~_inside(values, low, high)
            for position in np.flatnonzero(bad):
                flags[position].append(
                    Flag(column, IMPLAUSIBLE, float(values[position]), "flagged")
                )
        for column, (low, high, lo_limit, hi_limit) in self._ranges.items():
            if column not in out.columns:
                continue
            values = _floats(out[column])
            if values is None:
                continue
            with np.errstate(invalid="ignore"):
                above, below = values > hi_limit, values < lo_limit
                outside = (values > high) | (values < low)
            skip = implausible.get(column, np.zeros(n, dtype=bool))
            for position in np.flatnonzero((above | below) & ~skip):
                issue = ABOVE_RANGE if above[position] else BELOW_RANGE
                flags[position].append(Flag(column, issue, float(values[position]), "clipped"))
            if outside.any():
                out[column] = np.clip(values, low, high)
        for column in self._levels:
            if column not in out.columns:
                continue
            series = out[column]
            if isinstance(series.dtype, pd.CategoricalDtype):
                series = series.astype(object)
            codes, uniques = pd.factorize(series, use_na_sentinel=True)
            changed = False
            replaced = np.empty(len(uniques), dtype=object)
            for k, value in enumerate(uniques):
                new, flag = self._level(column, value)
                replaced[k] = new
                if flag is None:
                    continue
                changed = changed or flag.action == "normalised"
                for position in np.flatnonzero(codes == k):
                    flags[position].append(flag)
            if changed:
                out[column] = pd.Series(
                    # numpy's stubs take no None here; it appends one object (the
                    # missing value).
                    np.append(replaced, None)[codes],  # type: ignore[call-overload]
                    index=out.index,
                    dtype=object,
                )
        return FrameCheck(out, flags, sorted(problems, key=lambda p: p.position))

    def repair(self, X: pd.DataFrame) -> pd.DataFrame:  # noqa: N803
        """Clip and normalise model-input rows without flagging or refusing anything.

        What every PD of a bundle goes through, so that a file, an explanation and the
        API score a value beyond the training range, or a category in quotes (when the
        spec strips them) or in other letter case, alike. Returns ``X`` itself when
        nothing needs changing.
        """
        out = X
        for column, (low, high, _, _) in self._ranges.items():
            if column not in X.columns:
                continue
            values = _floats(X[column])
            if values is None:
                continue
            with np.errstate(invalid="ignore"):
                outside = (values > high) | (values < low)
            if outside.any():
                out = X.copy() if out is X else out
                out[column] = np.clip(values, low, high)
        for column, levels in self._levels.items():
            if column not in X.columns:
                continue
            series = X[column]
            if pd.api.types.is_numeric_dtype(series) or isinstance(
                series.dtype, pd.CategoricalDtype
            ):
                continue
            known = series.isna() | series.astype(str).isin(levels)
            if bool(known.all()):
                continue
            out = X.copy() if out is X else out
            out[column] = series.map(partial(self._as_level, column)).astype(object)
        return out

    def _as_level(self, column: str, value: Any) -> Any:
        """A text value read as the API reads it: unquoted (when the spec says, as
        :meth:`clean_row` does), then put on the training levels (:meth:`_level`)."""
        if not isinstance(value, str):
            return value
        return self._level(column, unquote(value, strip_quotes=self._strip_quotes))[0]


def _inside(value: Any, low: float | None, high: float | None) -> Any:
    """Whether a number (or each of an array) lies within ``[low, high]`` (None: open)."""
    above_low = True if low is None else value >= low
    below_high = True if high is None else value <= high
    return above_low & below_high


def _unique_folds(levels: Sequence[str]) -> dict[str, str]:
    """Case-folded level -> level, for levels no other level folds to."""
    seen: dict[str, list[str]] = {}
    for level in levels:
        seen.setdefault(level.strip().casefold(), []).append(level)
    return {k: v[0] for k, v in seen.items() if len(v) == 1}


def _as_number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(number) else number


def _numbers_of(levels: Sequence[str]) -> frozenset[float]:
    return frozenset(n for n in (_as_number(v) for v in levels) if n is not None)


def _floats(series: pd.Series) -> np.ndarray | None:
    """A column as floats, or None when it holds something that is not a number."""
    if pd.api.types.is_bool_dtype(series):
        return None
    if pd.api.types.is_numeric_dtype(series):
        return series.to_numpy(dtype=float, na_value=np.nan)
    numbers = pd.to_numeric(series, errors="coerce")
    if bool((numbers.isna() & series.notna()).any()):
        return None
    return numbers.to_numpy(dtype=float, na_value=np.nan)
