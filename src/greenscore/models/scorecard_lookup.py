"""A fitted scorecard's WoE coding as plain lookups: bin edges or levels to WoE, in NumPy.

optbinning codes a characteristic through pandas (a Series per characteristic, ``where``
and ``isin`` per bin): about 10 ms for one applicant of a 13-characteristic scorecard, twice
per decision (the PD, then the reason codes), which made a scorecard ~45x slower to serve
than a LightGBM model. A characteristic's WoE is a step function of its own value, so it is
a lookup: for a number, the bin its value falls in (the splits, searched); for a category,
its level's bin; a missing value (or a level unseen at fit, which the scorecard scores as
missing) the Missing bin's WoE.

Nothing is re-derived from optbinning's internals: the WoE of every bin, which side of a
split its own value falls on, and the Missing bin's WoE are all read by asking optbinning
to code values chosen for the purpose. :func:`build_lookup` then checks the lookup against
optbinning on every split value, a point inside every bin, each level, a missing and an
unseen value, and returns None when anything differs, or when the binning has features the
lookup does not model (special codes): the scorecard then keeps optbinning's path.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd

#: Largest difference from optbinning's WoE the lookup may have on its check values.
TOLERANCE = 1e-12
_UNSEEN = "__greenscore_unseen_level__"


@dataclass(frozen=True)
class NumericWoe:
    """WoE of a numeric characteristic: ``woe[searchsorted(splits, x, side)]``."""

    splits: np.ndarray
    woe: np.ndarray
    side: Literal["left", "right"]
    missing: float

    def code(self, values: pd.Series) -> np.ndarray:
        """WoE of each value (a value that is not a number counts as missing)."""
        x = pd.to_numeric(values, errors="coerce").to_numpy(dtype=float)
        out = self.woe[np.searchsorted(self.splits, x, side=self.side)]
        out[np.isnan(x)] = self.missing
        return out


@dataclass(frozen=True)
class CategoricalWoe:
    """WoE of a categorical characteristic: its level's, else the Missing bin's."""

    by_level: dict[str, float]
    missing: float

    def code(self, values: pd.Series) -> np.ndarray:
        """WoE of each value, compared as text as the scorecard codes it at fit."""
        get = self.by_level.get
        missing = self.missing
        return np.fromiter(
            (missing if _is_missing(v) else get(str(v), missing) for v in values),
            dtype=float,
            count=len(values),
        )


def _is_missing(value: Any) -> bool:
    return value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value))


Coding = NumericWoe | CategoricalWoe


@dataclass(frozen=True)
class WoeLookup:
    """Every selected characteristic's coding, in the scorecard's order."""

    codings: dict[str, Coding]

    def woe(self, X: pd.DataFrame) -> np.ndarray:  # noqa: N803
        """The WoE matrix (rows x selected characteristics) of the raw columns of ``X``."""
        return np.column_stack([coding.code(X[name]) for name, coding in self.codings.items()])


def _inside(splits: np.ndarray) -> np.ndarray:
    """One value inside each bin the splits make (below the first, between, above the last)."""
    if not len(splits):
        return np.array([0.0])
    edges = np.concatenate([[splits[0] - 1.0], splits, [splits[-1] + 1.0]])
    return (edges[:-1] + edges[1:]) / 2


def _column_frame(columns: dict[str, list[Any]]) -> pd.DataFrame:
    """One frame of per-column values, shorter columns padded with missing values (a
    characteristic's WoE depends on its own value only, so one coding call serves all)."""
    n = max(len(v) for v in columns.values())
    return pd.DataFrame(
        {k: pd.Series(v + [np.nan] * (n - len(v)), dtype=object) for k, v in columns.items()}
    )


def _numeric(splits: np.ndarray, asked: np.ndarray) -> NumericWoe:
    """From optbinning's WoE of: a value inside each bin, each split, a missing value."""
    n_bins = len(splits) + 1
    woe, at_splits = asked[:n_bins], asked[n_bins : n_bins + len(splits)]
    # A value equal to a split belongs to the bin on its right (x >= split) or its left;
    # read which from optbinning rather than assume it (the check confirms it).
    right = np.allclose(at_splits, woe[1:], rtol=0, atol=TOLERANCE)
    side: Literal["left", "right"] = "right" if right else "left"
    return NumericWoe(splits=splits, woe=woe.copy(), side=side, missing=float(asked[-1]))


def _check_frame(lookup: WoeLookup) -> pd.DataFrame:
    """Values that exercise every bin, both sides of every split, every level, missing
    values, text in a number column and an unseen level."""
    columns: dict[str, list[Any]] = {}
    for name, coding in lookup.codings.items():
        if isinstance(coding, NumericWoe):
            s = coding.splits
            below = [float(np.nextafter(v, -np.inf)) for v in s]
            columns[name] = [
                np.nan,
                None,
                "not a number",
                -1e300,
                1e300,
                *map(float, s),
                *below,
                *map(float, _inside(s)),
            ]
        else:
            columns[name] = [np.nan, None, _UNSEEN, *coding.by_level]
    return _column_frame(columns)


def build_lookup(
    selected: list[str],
    categorical: list[str],
    levels: dict[str, set[str]],
    binning_process: Any,
    reference: Callable[[pd.DataFrame], np.ndarray],
) -> WoeLookup | None:
    """The lookup of a fitted scorecard, or None when it cannot reproduce ``reference``.

    Parameters
    ----------
    selected, categorical, levels : the scorecard's characteristics, which are categories,
        and each category's training levels.
    binning_process : optbinning's fitted ``BinningProcess`` of the scorecard.
    reference : the scorecard's own coding of raw columns to the WoE matrix (its slow path):
        the lookup is read from it and must agree with it on the check values.
    """
    asked: dict[str, list[Any]] = {}
    splits: dict[str, np.ndarray] = {}
    ordered: dict[str, list[str]] = {}
    for name in selected:
        binned = binning_process.get_binned_variable(name)
        if binned.special_codes is not None:
            return None  # special codes have their own bin: not modelled here
        if name in categorical:
            ordered[name] = sorted(levels.get(name, set()))
            asked[name] = [*ordered[name], np.nan]
        else:
            splits[name] = np.asarray(binned.splits, dtype=float)
            values = [*_inside(splits[name]), *splits[name]]
            asked[name] = [*map(float, values), np.nan]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        answers = reference(_column_frame(asked))
        codings: dict[str, Coding] = {}
        for j, name in enumerate(selected):
            got = answers[: len(asked[name]), j].astype(float)
            if name in categorical:
                by_level = dict(zip(ordered[name], map(float, got[:-1]), strict=True))
                codings[name] = CategoricalWoe(by_level=by_level, missing=float(got[-1]))
            else:
                codings[name] = _numeric(splits[name], got)
        lookup = WoeLookup(codings)
        check = _check_frame(lookup)
        expected = reference(check)
    if not np.allclose(lookup.woe(check), expected, rtol=0, atol=TOLERANCE, equal_nan=False):
        return None
    return lookup
