"""A lender's rows, checked against the federation's data contract before any training.

A federation agrees one :class:`~greenscore.data.spec.DatasetSpec`; every lender must
send exactly its feature columns, of the declared kinds, and the target. A lender whose
file lacks a column, carries an undeclared one (it would silently become a feature for
that lender only) or holds text where the spec says number is refused with a message
naming the columns: training a shared model on mismatched columns would be garbage that
no one could trace back.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from greenscore.data.loading import load_dataset
from greenscore.data.spec import DatasetSpec
from greenscore.errors import DataError

ERR_MISSING = (
    "lender '{lender}' lacks the federation's column(s) {columns} (spec '{spec}'); every "
    "lender must send the same feature columns"
)
ERR_EXTRA = (
    "lender '{lender}' has column(s) {columns} that the federation's spec '{spec}' does "
    "not declare; drop them, or agree a new spec with the federation"
)
ERR_KIND = (
    "lender '{lender}': column '{column}' must be numeric as in spec '{spec}', but holds "
    "{dtype} values"
)
ERR_TARGET = "lender '{lender}' lacks the target column '{target}' (spec '{spec}')"
ERR_SPEC = (
    "lender '{lender}' was configured with spec fingerprint {local}, the federation uses "
    "{federation}; both sides must agree the same spec"
)
ERR_ONE_CLASS = (
    "lender '{lender}' has {rows} rows of one class only ({label}); a lender needs both "
    "defaulters and non-defaulters to train"
)


def spec_fingerprint(spec: DatasetSpec) -> str:
    """Short SHA-256 of the spec's content: lenders compare it with the federation's."""
    text = json.dumps(spec.model_dump(mode="json"), sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def check_columns(frame: pd.DataFrame, spec: DatasetSpec, *, lender: str) -> None:
    """Refuse a lender frame whose columns do not match the federation's spec.

    Parameters
    ----------
    frame : DataFrame
        The lender's rows as read (target included), after the spec's cleaning.
    spec : DatasetSpec
        The federation's spec.
    lender : str
        Name used in the messages.

    Raises
    ------
    DataError
        Naming the missing, undeclared or wrongly typed columns, or a missing target.
    """
    name = spec.name or "unnamed"
    if spec.target not in frame.columns:
        raise DataError(ERR_TARGET.format(lender=lender, target=spec.target, spec=name))
    declared = spec.feature_columns()
    missing = [c for c in declared if c not in frame.columns]
    if missing:
        raise DataError(ERR_MISSING.format(lender=lender, columns=missing, spec=name))
    extra = [c for c in spec.feature_columns(list(frame.columns)) if c not in set(declared)]
    if extra:
        raise DataError(ERR_EXTRA.format(lender=lender, columns=extra, spec=name))
    for column in spec.numeric:
        if column in frame.columns and column in declared:
            dtype = frame[column].dtype
            if not (pd.api.types.is_numeric_dtype(dtype) or pd.api.types.is_bool_dtype(dtype)):
                raise DataError(
                    ERR_KIND.format(lender=lender, column=column, spec=name, dtype=dtype)
                )


@dataclass
class LenderData:
    """One lender's checked rows.

    Attributes
    ----------
    name : the lender's name in the federation.
    X : model input (the spec's feature columns, indexed by id when the spec has one).
    y : 0/1 default flags.
    """

    name: str
    X: pd.DataFrame
    y: np.ndarray

    def __len__(self) -> int:
        return len(self.y)


def load_lender(path: Path | str, spec: DatasetSpec, *, lender: str) -> LenderData:
    """Read a lender's file with the federation's spec and check it.

    Raises
    ------
    DataError
        If the file cannot be read, its columns do not match the spec, or it holds one
        class only.
    """
    dataset = load_dataset(path, spec=spec)
    check_columns(dataset.frame, spec, lender=lender)
    y = dataset.y
    if np.unique(y).size < 2:
        raise DataError(ERR_ONE_CLASS.format(lender=lender, rows=len(y), label=int(y[0])))
    return LenderData(name=lender, X=dataset.X, y=y)
