"""Generalisation hierarchies: how a quasi-identifier is coarsened level by level.

Level 0 is the raw value; each level above is coarser; the top level (``height``) is
full suppression (``"*"``). Every hierarchy also reports the information it loses as the
normalised certainty penalty (NCP) per row: 0 for the raw value, 1 for ``"*"``, and in
between the share of the attribute's domain the generalised value could stand for.

* :class:`IntervalHierarchy` — numbers to ranges of growing width (age bands, amount ranges).
* :class:`PrefixHierarchy` — codes truncated from the right (postcodes: ``SW1A 1AA`` → ``SW1A 1**``).
* :class:`CategoricalHierarchy` — categories to named groups, then ``"*"``.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod

import numpy as np
import pandas as pd

from greenscore.errors import ConfigError, DataError

SUPPRESSED = "*"
AGE_BANDS = (5.0, 10.0, 20.0, 40.0)


class Hierarchy(ABC):
    """One attribute's ladder of generalisations."""

    @property
    @abstractmethod
    def height(self) -> int:
        """The top level, at which every value becomes ``"*"``."""

    @abstractmethod
    def _generalise(self, values: pd.Series, level: int) -> pd.Series:
        """Values at a level strictly between 0 and the height."""

    @abstractmethod
    def _loss(self, values: pd.Series, level: int) -> np.ndarray:
        """Per-row NCP at a level strictly between 0 and the height."""

    def _check(self, level: int) -> None:
        if not 0 <= level <= self.height:
            raise ConfigError(f"generalisation level {level} is outside 0..{self.height}")

    def generalise(self, values: pd.Series, level: int) -> pd.Series:
        """The values at ``level`` (0 = unchanged, ``height`` = all ``"*"``); missing stays missing."""
        self._check(level)
        if level == 0:
            return values
        if level == self.height:
            return pd.Series(SUPPRESSED, index=values.index, dtype=object).where(
                values.notna(), None
            )
        return self._generalise(values, level)

    def loss(self, values: pd.Series, level: int) -> np.ndarray:
        """Per-row normalised certainty penalty in [0, 1] at ``level``."""
        self._check(level)
        if level == 0:
            return np.zeros(len(values))
        if level == self.height:
            return np.ones(len(values))
        return self._loss(values, level)


def _nice(x: float) -> float:
    """The smallest of 1, 2, 5 × 10^k that is at least ``x``."""
    if x <= 0:
        return 1.0
    exponent = math.floor(math.log10(x))
    for step in (1, 2, 5, 10):
        if step * 10**exponent >= x:
            return float(step * 10**exponent)
    return float(10 ** (exponent + 1))


def _next_nesting(width: float) -> float:
    """The next "nice" width that is a whole multiple of ``width``, so coarser ranges nest."""
    candidate = width
    while True:
        candidate = _nice(candidate * 1.01)
        ratio = candidate / width
        if abs(ratio - round(ratio)) < 1e-9:
            return candidate


class IntervalHierarchy(Hierarchy):
    """Numbers generalised into ``[lo, hi)`` ranges, one width per level.

    Parameters
    ----------
    widths : sequence of float
        Range width at levels 1, 2, ...; increasing.
    origin : float
        Ranges start at ``origin + i * width``.
    domain : (float, float)
        The attribute's range, for NCP (width / domain span).
    """

    def __init__(
        self, widths: tuple[float, ...], *, origin: float = 0.0, domain: tuple[float, float]
    ):
        if (
            not widths
            or any(b <= a for a, b in zip(widths, widths[1:], strict=False))
            or widths[0] <= 0
        ):
            raise ConfigError(
                f"interval widths must be positive and increasing, got {list(widths)}"
            )
        self.widths = tuple(float(w) for w in widths)
        self.origin = float(origin)
        self.domain = (float(domain[0]), float(domain[1]))

    @classmethod
    def for_ages(cls, values: pd.Series) -> IntervalHierarchy:
        """Age bands of 5, 10, 20 and 40 years."""
        return cls(AGE_BANDS, origin=0.0, domain=_domain(values))

    @classmethod
    def for_amounts(cls, values: pd.Series, *, levels: int = 5) -> IntervalHierarchy:
        """Nested ranges of "nice" widths (1, 2, 5 × 10^k) from about 1/50 of the span upwards."""
        lo, hi = _domain(values)
        span = max(hi - lo, 1e-9)
        widths: list[float] = []
        width = _nice(span / 50)
        while len(widths) < levels and width < span:
            widths.append(width)
            width = _next_nesting(width)
        return cls(tuple(widths) or (_nice(span),), origin=0.0, domain=(lo, hi))

    @property
    def height(self) -> int:
        return len(self.widths) + 1

    def _generalise(self, values: pd.Series, level: int) -> pd.Series:
        width = self.widths[level - 1]
        numbers = pd.to_numeric(values, errors="coerce")
        lo = np.floor((numbers - self.origin) / width) * width + self.origin
        text = [
            None if pd.isna(a) else f"[{_fmt(a)}, {_fmt(a + width)})"
            for a in lo.to_numpy(dtype=float)
        ]
        return pd.Series(text, index=values.index, dtype=object)

    def _loss(self, values: pd.Series, level: int) -> np.ndarray:
        span = self.domain[1] - self.domain[0]
        share = 1.0 if span <= 0 else min(self.widths[level - 1] / span, 1.0)
        return np.full(len(values), share)


def _fmt(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else f"{x:g}"


def _domain(values: pd.Series) -> tuple[float, float]:
    numbers = pd.to_numeric(values, errors="coerce").dropna()
    if numbers.empty:
        raise DataError(f"column '{values.name}' has no numeric values to build ranges from")
    return float(numbers.min()), float(numbers.max())


def _distinct_loss(original: pd.Series, generalised: pd.Series) -> np.ndarray:
    """NCP for categories: (originals covered by the row's generalised value - 1) / (domain - 1)."""
    domain = original.nunique(dropna=True)
    if domain <= 1:
        return np.zeros(len(original))
    covered = original.groupby(generalised, dropna=False).transform("nunique")
    return ((covered.fillna(1).to_numpy(dtype=float) - 1) / (domain - 1)).clip(0, 1)


class PrefixHierarchy(Hierarchy):
    """Codes generalised by replacing their last characters with ``*`` (postcodes, zip codes).

    Parameters
    ----------
    length : int
        The longest code; level ``i`` masks ``i`` trailing characters, level ``length`` is ``"*"``.
    """

    def __init__(self, length: int):
        if length < 1:
            raise ConfigError("prefix hierarchy needs codes of at least one character")
        self.length = int(length)

    @classmethod
    def for_codes(cls, values: pd.Series) -> PrefixHierarchy:
        """A hierarchy as deep as the longest code in ``values``."""
        lengths = values.dropna().astype(str).str.len()
        return cls(int(lengths.max()) if len(lengths) else 1)

    @property
    def height(self) -> int:
        return self.length

    def _generalise(self, values: pd.Series, level: int) -> pd.Series:
        text = values.astype("string")
        keep = (text.str.len() - level).clip(lower=0)
        out = [
            None if pd.isna(t) else t[:k] + "*" * (len(t) - k)
            for t, k in zip(text.tolist(), keep.fillna(0).astype(int).tolist(), strict=True)
        ]
        return pd.Series(out, index=values.index, dtype=object)

    def _loss(self, values: pd.Series, level: int) -> np.ndarray:
        return _distinct_loss(values.astype("string"), self._generalise(values, level))


class CategoricalHierarchy(Hierarchy):
    """Categories mapped to coarser groups level by level, then ``"*"``.

    Parameters
    ----------
    levels : list of dict, optional
        ``levels[i]`` maps a raw value to its group at level ``i + 1``; values it does not
        list are kept as they are at that level. Empty: raw, then ``"*"``.
    """

    def __init__(self, levels: list[dict[str, str]] | None = None):
        self.levels = [dict(m) for m in (levels or [])]

    @property
    def height(self) -> int:
        return len(self.levels) + 1

    def _generalise(self, values: pd.Series, level: int) -> pd.Series:
        mapping = self.levels[level - 1]
        out = values.astype(object).map(
            lambda v: mapping.get(str(v), str(v)) if pd.notna(v) else None
        )
        return out.astype(object)

    def _loss(self, values: pd.Series, level: int) -> np.ndarray:
        return _distinct_loss(values.astype("string"), self._generalise(values, level))


def default_hierarchy(values: pd.Series, *, name: str | None = None) -> Hierarchy:
    """A sensible hierarchy for a column: age bands, amount ranges, code prefixes or categories."""
    from greenscore.privacy.pii import classify_name, normalise_name

    label = normalise_name(str(name if name is not None else values.name))
    _cls, reason = classify_name(label)
    numeric = pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values)
    if reason.endswith("postcode"):
        return PrefixHierarchy.for_codes(values)
    if numeric and reason.endswith("age or birth date"):
        return IntervalHierarchy.for_ages(values)
    if numeric and values.nunique(dropna=True) > 10:
        return IntervalHierarchy.for_amounts(values)
    return CategoricalHierarchy()
