"""Which columns a synthesiser learns, and how a table is turned into what it can learn.

The spec decides, column by column:

* **learnt** (the joint distribution is modelled): features, the target, protected
  attributes (kept, so fairness can be studied on the synthetic data), monthly histories
  and the application date (as a number of days);
* **PII** (names, e-mails, phones, national ids, addresses): never learnt from the real
  values; :mod:`greenscore.data.synthesize.pii` fills them with Faker values;
* **the id column**: new sequential ids;
* **left out**: the spec's ``drop`` columns (identifiers such as an employer id, leaks,
  free text) and derived columns (re-derived from their source when the file is read).

Learners see a plain table: numbers with their missing values filled and a ``missing``
flag column beside each such column; categories as text with missing as a level of its
own; integer columns with few values as categories (a GAN learns a count of months in
arrears better as levels than as a continuous mode mixture). :meth:`Layout.decode` undoes
all of it and holds every number to what the real data allows: integers stay integers,
values stay inside the real range (and the spec's domain bounds), categories are only the
real levels. That is how immutable attributes such as age keep their domain.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from greenscore.data.spec import DatasetSpec
from greenscore.errors import DataError

MISSING_LEVEL = "(missing)"
FLAG_SUFFIX = "__missing"
#: Integer columns with at most this many distinct values are learnt as categories.
MAX_DISCRETE_LEVELS = 20
BAD_TIME = "time column '{column}' holds values that are not dates"
NOTHING_TO_LEARN = "no column is left to synthesise after removing ids, PII and dropped columns"


@dataclass
class Layout:
    """How one real table maps to a learnable one and back.

    Attributes
    ----------
    learnt : columns modelled, in the real table's order.
    numeric : learnt numeric columns (continuous for the learner).
    categorical : learnt columns given to the learner as categories (text levels).
    discrete : numeric columns among ``categorical`` (integers with few values).
    integer : numeric columns whose real values are all whole numbers.
    bounds : real minimum and maximum of each numeric column (narrowed by the spec's domain).
    fill : value put in place of a missing number before learning.
    flags : numeric column -> its missing-flag column.
    pii, id_column, left_out : what is not learnt.
    time_column : the learnt date column (days since ``time_origin``), if any.
    dtypes : the real dtype of each learnt column, restored on decode.
    """

    learnt: list[str]
    numeric: list[str]
    categorical: list[str]
    discrete: list[str] = field(default_factory=list)
    integer: list[str] = field(default_factory=list)
    bounds: dict[str, tuple[float, float]] = field(default_factory=dict)
    fill: dict[str, float] = field(default_factory=dict)
    flags: dict[str, str] = field(default_factory=dict)
    pii: list[str] = field(default_factory=list)
    id_column: str | None = None
    left_out: list[str] = field(default_factory=list)
    time_column: str | None = None
    time_origin: Any = None
    dtypes: dict[str, Any] = field(default_factory=dict)

    @property
    def learner_categorical(self) -> list[str]:
        """Columns the learner sees as categories: categorical ones and the missing flags."""
        return [*self.categorical, *self.flags.values()]

    # ------------------------------------------------------------------ encode
    def encode(self, frame: pd.DataFrame) -> pd.DataFrame:
        """The learnable table of real rows (see the module docstring)."""
        out: dict[str, Any] = {}
        for column in self.learnt:
            values = self._numbers(frame, column) if column in self.numeric else None
            if column in self.categorical:
                source = values if values is not None else frame[column]
                text = pd.Series(source).astype(object).map(_level)
                out[column] = text.to_numpy(dtype=object)
            else:
                assert values is not None
                missing = np.isnan(values)
                if column in self.flags:
                    out[self.flags[column]] = np.where(missing, "1", "0").astype(object)
                out[column] = np.where(missing, self.fill.get(column, 0.0), values)
        return pd.DataFrame(out, index=range(len(frame)))

    def _numbers(self, frame: pd.DataFrame, column: str) -> np.ndarray:
        if column == self.time_column:
            moments = pd.to_datetime(frame[column], errors="coerce")
            days = (moments - self.time_origin) / pd.Timedelta(days=1)
            return days.to_numpy(dtype=float)
        return pd.to_numeric(frame[column], errors="coerce").to_numpy(dtype=float)

    # ------------------------------------------------------------------ decode
    def decode(self, learnt: pd.DataFrame) -> pd.DataFrame:
        """Real-looking columns from a learner's output, held to the real domain."""
        out: dict[str, Any] = {}
        for column in self.learnt:
            if column in self.categorical and column not in self.discrete:
                text = learnt[column].astype(str)
                values = text.where(text != MISSING_LEVEL, None).to_numpy(dtype=object)
                out[column] = self._restore_levels(column, values)
                continue
            if column in self.discrete:
                raw = learnt[column].astype(str)
                numbers = pd.to_numeric(raw.where(raw != MISSING_LEVEL), errors="coerce")
                numbers = numbers.to_numpy(dtype=float)
            else:
                numbers = pd.to_numeric(learnt[column], errors="coerce").to_numpy(dtype=float)
                low, high = self.bounds[column]
                numbers = np.clip(numbers, low, high)
                if column in self.integer:
                    numbers = np.round(numbers)
                flag = self.flags.get(column)
                if flag is not None:
                    numbers[learnt[flag].astype(str).to_numpy() == "1"] = np.nan
            out[column] = self._restore_numbers(column, numbers)
        return pd.DataFrame(out)

    def _restore_levels(self, column: str, values: np.ndarray) -> Any:
        dtype = self.dtypes.get(column)
        if dtype is not None and pd.api.types.is_numeric_dtype(dtype):
            numbers = pd.to_numeric(pd.Series(values), errors="coerce")
            if pd.api.types.is_integer_dtype(dtype) and not numbers.isna().any():
                return numbers.astype(dtype).to_numpy()
            return numbers.to_numpy()
        return values

    def _restore_numbers(self, column: str, numbers: np.ndarray) -> Any:
        if column == self.time_column:
            days = pd.to_timedelta(np.round(numbers), unit="D")
            return (self.time_origin + days).to_numpy()
        dtype = self.dtypes.get(column)
        if (
            dtype is not None
            and pd.api.types.is_integer_dtype(dtype)
            and not np.isnan(numbers).any()
        ):
            return numbers.astype(dtype)
        return numbers


def _level(value: Any) -> str:
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return MISSING_LEVEL
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _is_numeric(column: str, values: pd.Series, spec: DatasetSpec) -> bool:
    if column in spec.categorical or column == spec.target:
        return False
    if column in spec.numeric or column in spec.sequence_columns:
        return True
    return pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values)


def plan_layout(frame: pd.DataFrame, spec: DatasetSpec) -> Layout:
    """Decide, from the spec and the real rows, what is learnt and how.

    Raises
    ------
    DataError
        If the time column is not dates, or nothing is left to learn.
    """
    derived = set(spec.derived_names)
    pii = [c for c in frame.columns if c in spec.pii]
    id_column = spec.id_column if spec.id_column in frame.columns else None
    left_out = [c for c in frame.columns if c in set(spec.drop) | derived]
    skip = {*pii, *left_out, *([id_column] if id_column else [])}
    learnt = [c for c in frame.columns if c not in skip]
    if not learnt:
        raise DataError(NOTHING_TO_LEARN)
    layout = Layout(learnt=learnt, numeric=[], categorical=[], pii=pii, id_column=id_column,
                    left_out=left_out)  # fmt: skip
    domain = spec.domain_bounds()
    for column in learnt:
        values = frame[column]
        layout.dtypes[column] = values.dtype
        if column == spec.time_column:
            moments = pd.to_datetime(values, errors="coerce")
            if moments.notna().sum() < values.notna().sum() or moments.isna().all():
                raise DataError(BAD_TIME.format(column=column))
            layout.time_column, layout.time_origin = column, moments.min()
        elif not _is_numeric(column, values, spec):
            layout.categorical.append(column)
            continue
        layout.numeric.append(column)
        numbers = layout._numbers(frame, column)
        known = numbers[~np.isnan(numbers)]
        if not len(known):
            layout.numeric.remove(column)
            layout.categorical.append(column)  # an all-missing column: one level
            continue
        whole = bool(np.all(np.equal(np.mod(known, 1), 0)))
        if whole:
            layout.integer.append(column)
        if whole and column != layout.time_column and len(np.unique(known)) <= MAX_DISCRETE_LEVELS:
            layout.discrete.append(column)
            layout.categorical.append(column)
            continue
        low, high = float(known.min()), float(known.max())
        spec_low, spec_high = domain.get(column, (None, None))
        layout.bounds[column] = (
            max(low, spec_low) if spec_low is not None else low,
            min(high, spec_high) if spec_high is not None else high,
        )
        layout.fill[column] = float(np.median(known))
        if np.isnan(numbers).any():
            layout.flags[column] = f"{column}{FLAG_SUFFIX}"
    layout.numeric = [c for c in layout.numeric if c not in layout.discrete]
    return layout
