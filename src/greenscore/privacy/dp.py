"""Differentially private statistics: count, bounded mean and histogram (diffprivlib).

Two layers: ``noisy_*`` functions add calibrated noise and nothing else (the maths, and
what tests measure); ``release_*`` functions first charge the dataset's privacy budget
(:mod:`greenscore.privacy.budget`) and refuse with :class:`PrivacyError` once it is spent.
Only ``release_*`` should reach users.

* count: Laplace mechanism, sensitivity 1 (adding or removing one person changes a count
  by one), so the noise has scale ``1/epsilon`` and standard deviation ``sqrt(2)/epsilon``.
* mean: diffprivlib's bounded mean (values clipped to the declared bounds; the bounds must
  come from domain knowledge, not from the data, or they leak).
* histogram: diffprivlib's histogram (geometric noise per bin, sensitivity 1).

diffprivlib 0.6.6 cannot import its ``models`` subpackage with scikit-learn >= 1.8 (a
removed private symbol), and its ``__init__`` imports it. We import the mechanisms and
tools, which do not need it, with a placeholder for ``models`` that explains itself.
"""

from __future__ import annotations

import sys
import types
from functools import lru_cache
from typing import Any

import numpy as np

from greenscore.config import Settings
from greenscore.errors import ConfigError, DataError

_MODELS = "diffprivlib.models"


@lru_cache(maxsize=1)
def _diffprivlib() -> Any:
    """The diffprivlib package, importable even where its ``models`` subpackage is not."""
    try:
        import diffprivlib

        return diffprivlib
    except ImportError as exc:
        original = exc
    for name in [m for m in sys.modules if m == "diffprivlib" or m.startswith("diffprivlib.")]:
        del sys.modules[name]
    placeholder = types.ModuleType(_MODELS)
    reason = f"diffprivlib.models is unavailable here ({original})"

    def _missing(attr: str) -> Any:
        # AttributeError, not ImportError: code that scans sys.modules with hasattr() (torch,
        # inspect) must see an ordinary missing attribute.
        raise AttributeError(f"{attr}: {reason}")

    # A module-level __getattr__ (PEP 562), set on the module object.
    placeholder.__getattr__ = _missing  # type: ignore[method-assign]
    sys.modules[_MODELS] = placeholder
    try:
        import diffprivlib
    except ImportError:
        del sys.modules[_MODELS]
        raise original from None
    return diffprivlib


def _check_epsilon(epsilon: float) -> float:
    if not (np.isfinite(epsilon) and epsilon > 0):
        raise ConfigError(f"epsilon must be a positive number, got {epsilon}")
    return float(epsilon)


def _values(values: Any, what: str) -> np.ndarray:
    array = np.asarray(values, dtype=float).ravel()
    if np.isnan(array).any():
        raise DataError(
            f"{what}: {int(np.isnan(array).sum())} missing values; drop or impute them first"
        )
    return array


# ---------------------------------------------------------------------- mechanisms only
def noisy_count(true_count: float, *, epsilon: float, random_state: Any = None) -> float:
    """A count plus Laplace noise of scale ``1/epsilon`` (sensitivity 1)."""
    dpl = _diffprivlib()
    mechanism = dpl.mechanisms.Laplace(
        epsilon=_check_epsilon(epsilon), sensitivity=1.0, random_state=random_state
    )
    return float(mechanism.randomise(float(true_count)))


def noisy_mean(
    values: Any, *, epsilon: float, bounds: tuple[float, float], random_state: Any = None
) -> float:
    """Mean of values clipped to ``bounds``, with noise calibrated to those bounds."""
    lo, hi = bounds
    if not lo < hi:
        raise ConfigError(f"mean bounds must be (low, high) with low < high, got {bounds}")
    array = _values(values, "mean")
    if array.size == 0:
        raise DataError("mean of no values")
    dpl = _diffprivlib()
    return float(
        dpl.tools.mean(
            array,
            epsilon=_check_epsilon(epsilon),
            bounds=(float(lo), float(hi)),
            random_state=random_state,
            accountant=dpl.BudgetAccountant(),  # our ledger accounts; keep diffprivlib's global one clean
        )
    )


def noisy_histogram(
    values: Any,
    *,
    epsilon: float,
    bins: int | list[float] = 10,
    range: tuple[float, float] | None = None,  # noqa: A002 - numpy's name
    random_state: Any = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Histogram counts with per-bin noise; returns (counts, bin edges) like ``numpy.histogram``.

    ``range`` (or explicit bin edges) must be given: edges taken from the data would leak it.
    """
    if range is None and isinstance(bins, int):
        raise ConfigError("a private histogram needs range=(low, high) or explicit bin edges")
    array = _values(values, "histogram")
    dpl = _diffprivlib()
    counts, edges = dpl.tools.histogram(
        array,
        epsilon=_check_epsilon(epsilon),
        bins=bins,
        range=range,
        random_state=random_state,
        accountant=dpl.BudgetAccountant(),
    )
    return np.asarray(counts), np.asarray(edges)


# ---------------------------------------------------------------------- budgeted releases
def release_count(
    values: Any, *, dataset: str, epsilon: float, actor: str = "system", settings: Settings
) -> float:
    """A differentially private count of the non-missing values, charged to ``dataset``'s budget.

    Raises
    ------
    PrivacyError
        If the dataset's epsilon budget would be exceeded.
    """
    from greenscore.privacy.budget import spend

    spend(dataset, _check_epsilon(epsilon), query="count", actor=actor, settings=settings)
    array = np.asarray(values, dtype=object).ravel()
    true = int(
        sum(1 for v in array if v is not None and not (isinstance(v, float) and np.isnan(v)))
    )
    return noisy_count(true, epsilon=epsilon)


def release_mean(
    values: Any,
    *,
    dataset: str,
    epsilon: float,
    bounds: tuple[float, float],
    actor: str = "system",
    settings: Settings,
) -> float:
    """A differentially private bounded mean, charged to ``dataset``'s budget.

    Raises
    ------
    PrivacyError
        If the dataset's epsilon budget would be exceeded.
    """
    from greenscore.privacy.budget import spend

    spend(
        dataset,
        _check_epsilon(epsilon),
        query=f"mean bounds={list(bounds)}",
        actor=actor,
        settings=settings,
    )
    return noisy_mean(values, epsilon=epsilon, bounds=bounds)


def release_histogram(
    values: Any,
    *,
    dataset: str,
    epsilon: float,
    bins: int | list[float] = 10,
    range: tuple[float, float] | None = None,  # noqa: A002 - numpy's name
    actor: str = "system",
    settings: Settings,
) -> tuple[np.ndarray, np.ndarray]:
    """A differentially private histogram, charged to ``dataset``'s budget.

    Raises
    ------
    PrivacyError
        If the dataset's epsilon budget would be exceeded.
    """
    from greenscore.privacy.budget import spend

    if range is None and isinstance(bins, int):
        raise ConfigError("a private histogram needs range=(low, high) or explicit bin edges")
    spend(
        dataset,
        _check_epsilon(epsilon),
        query=f"histogram bins={bins} range={range}",
        actor=actor,
        settings=settings,
    )
    return noisy_histogram(values, epsilon=epsilon, bins=bins, range=range)
