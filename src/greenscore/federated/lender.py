"""A lender inside the federation: its settings (home), its rows and their splits.

Each lender keeps its own GreenScore home: audit log, privacy ledger, energy readings
and its personalised model live there, never at the server. In a deployment each lender
is its own process with its own ``GREENSCORE_HOME``; in a simulation the lenders share
one process, so :func:`lender_settings` switches the process's settings to the lender's
home for the duration of a task (the simulation runs tasks one at a time).

A lender's rows are split once (seeded, stratified): training rows, validation rows the
federation's convergence is measured on, and, when asked, test rows that only the lender
ever scores (the per-lender "what joining is worth" table).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.model_selection import train_test_split

from greenscore.config import get_settings, use_settings
from greenscore.data.loading import sha256_file
from greenscore.data.spec import DatasetSpec
from greenscore.federated.lender_data import load_lender


@contextmanager
def lender_settings(home: str | None) -> Iterator[None]:
    """Run a block with the settings' home set to ``home`` (no change when None)."""
    if not home:
        yield
        return
    previous = get_settings()
    use_settings(previous.model_copy(update={"home": Path(home)}))
    try:
        yield
    finally:
        use_settings(previous)


@dataclass
class LenderRows:
    """A lender's checked rows, split (see the module docstring)."""

    name: str
    fingerprint: str
    X_train: pd.DataFrame
    y_train: np.ndarray
    X_val: pd.DataFrame
    y_val: np.ndarray
    X_test: pd.DataFrame
    y_test: np.ndarray
    #: The splits after the federation's feature steps, by (schema, split).
    frames: dict[tuple[str, str], pd.DataFrame] = field(default_factory=dict, repr=False)


def _split(
    X: pd.DataFrame,
    y: np.ndarray,
    share: float,
    seed: int,  # noqa: N803
) -> tuple[pd.DataFrame, np.ndarray, pd.DataFrame, np.ndarray]:
    if share <= 0 or len(y) < 10:
        return X, y, X.iloc[:0], y[:0]
    counts = np.bincount(y, minlength=2)
    stratify = y if counts.min() >= 2 else None
    a, b = train_test_split(
        np.arange(len(y)), test_size=share, random_state=seed, stratify=stratify
    )
    a, b = np.sort(a), np.sort(b)
    return X.iloc[a], y[a], X.iloc[b], y[b]


@lru_cache(maxsize=32)
def _rows(
    path: str, spec_yaml: str, lender: str, test_fraction: float, val_fraction: float, seed: int
) -> LenderRows:
    import yaml

    spec = DatasetSpec.from_dict(yaml.safe_load(spec_yaml))
    data = load_lender(path, spec, lender=lender)
    X_rest, y_rest, X_test, y_test = _split(data.X, data.y, test_fraction, seed)  # noqa: N806
    X_train, y_train, X_val, y_val = _split(X_rest, y_rest, val_fraction, seed + 1)  # noqa: N806
    return LenderRows(
        lender, sha256_file(Path(path)), X_train, y_train, X_val, y_val, X_test, y_test
    )


def lender_rows(
    path: str | Path,
    spec: DatasetSpec,
    *,
    lender: str,
    test_fraction: float,
    val_fraction: float,
    seed: int,
) -> LenderRows:
    """Load, check and split a lender's file (cached per process).

    Raises
    ------
    DataError
        If the file does not match the federation's spec (see
        :func:`greenscore.federated.lender_data.check_columns`).
    """
    return _rows(
        str(path), spec.to_yaml(), lender, float(test_fraction), float(val_fraction), int(seed)
    )
