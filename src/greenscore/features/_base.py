"""Shared plumbing of the feature transformers: DataFrame in, same rows plus derived columns out.

Every transformer in :mod:`greenscore.features` keeps the input's index (it carries the
applicant ids that relational features need), keeps every input column and appends its
derived columns under fixed names decided at fit time, so ``get_feature_names_out`` and
``set_output(transform="pandas")`` always agree with what ``transform`` returns.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils._param_validation import InvalidParameterError
from sklearn.utils.validation import check_is_fitted

from greenscore.data.spec import DatasetSpec, SequenceGroup
from greenscore.errors import ConfigError, DataError

NOT_A_FRAME = "{name} expects a pandas DataFrame of features, got {kind}"
MISSING_COLUMNS = "{name}: input lacks columns seen at fit: {columns}"
NOT_NUMERIC = "{name}: column '{column}' must be numeric, found value {value!r}"
NAME_CLASH = "{name}: derived feature '{column}' would overwrite an input column of that name"


def snake(name: str) -> str:
    """Snake-case a label for use inside a feature name (``"Days past due"`` -> ``days_past_due``)."""
    cleaned = re.sub(r"[^0-9a-zA-Z]+", "_", str(name)).strip("_").lower()
    return cleaned or "unnamed"


def as_frame(X: object, name: str) -> pd.DataFrame:
    """Return ``X`` if it is a DataFrame, else raise :class:`DataError`."""
    if not isinstance(X, pd.DataFrame):
        raise DataError(NOT_A_FRAME.format(name=name, kind=type(X).__name__))
    return X


def numeric_block(frame: pd.DataFrame, columns: list[str], name: str) -> np.ndarray:
    """The columns as a float matrix (rows x columns); NaN stays NaN.

    Raises
    ------
    DataError
        If a column holds a value that is not a number (the column and value are named).
    """
    try:
        return frame[columns].to_numpy(dtype=float, na_value=np.nan)
    except (TypeError, ValueError):
        for column in columns:
            converted = pd.to_numeric(frame[column], errors="coerce")
            bad = converted.isna() & frame[column].notna()
            if bad.any():
                value = frame[column][bad].iloc[0]
                raise DataError(NOT_NUMERIC.format(name=name, column=column, value=value)) from None
        raise


def safe_divide(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    """Element-wise ratio that is NaN (never inf) where the denominator is zero or missing."""
    num = np.asarray(numerator, dtype=float)
    den = np.asarray(denominator, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = num / den
    out[~np.isfinite(out)] = np.nan
    return out


def usable_groups(
    spec: DatasetSpec | None, columns: Iterable[str], kinds: Iterable[str] | None = None
) -> list[SequenceGroup]:
    """Sequence groups of ``spec`` (optionally of some kinds) whose columns are all present.

    A group with a column absent from the data (dropped, protected, not collected) is
    skipped: the transformers derive only what the data can support.
    """
    if spec is None:
        return []
    present = set(columns)
    wanted = set(kinds) if kinds is not None else None
    return [
        g
        for g in spec.sequences
        if (wanted is None or g.kind in wanted) and all(c in present for c in g.columns)
    ]


def present_roles(spec: DatasetSpec | None, columns: Iterable[str]) -> dict[str, str]:
    """The spec's roles whose column is among ``columns`` (role -> column)."""
    if spec is None:
        return {}
    present = set(columns)
    return {role: column for role, column in spec.roles.items() if column in present}


class FrameTransformer(ABC, TransformerMixin, BaseEstimator):
    """Base of the feature builders: keeps the input frame and appends derived columns.

    Subclasses implement ``_fit(frame, y)`` (which must set ``derived_names_``) and
    ``_derive(frame) -> Mapping[str, ndarray]``; this class handles input checks, the
    sklearn bookkeeping (``feature_names_in_``, ``n_features_in_``) and the output frame.
    """

    _parameter_constraints: dict = {}

    def _validate_hyperparameters(self) -> None:
        # sklearn's declared-constraint check, re-raised in GreenScore's error family.
        try:
            self._validate_params()
        except InvalidParameterError as exc:
            raise ConfigError(str(exc).splitlines()[0]) from exc

    def _start_fit(self, X: object) -> pd.DataFrame:
        self._validate_hyperparameters()
        frame = as_frame(X, type(self).__name__)
        self.feature_names_in_ = np.asarray([str(c) for c in frame.columns], dtype=object)
        self.n_features_in_ = frame.shape[1]
        return frame

    def _check_names(self) -> None:
        clash = set(self.derived_names_) & set(self.feature_names_in_)
        if clash:
            raise DataError(NAME_CLASH.format(name=type(self).__name__, column=sorted(clash)[0]))

    def _input(self, X: object) -> pd.DataFrame:
        """The fitted input columns of ``X``, in fit order (extra columns are left out)."""
        check_is_fitted(self)
        frame = as_frame(X, type(self).__name__)
        missing = [c for c in self.feature_names_in_ if c not in frame.columns]
        if missing:
            raise DataError(MISSING_COLUMNS.format(name=type(self).__name__, columns=missing))
        if list(frame.columns) == list(self.feature_names_in_):
            return frame
        return frame[list(self.feature_names_in_)]

    def fit(self, X: pd.DataFrame, y: object = None) -> FrameTransformer:
        """Learn what the derived features need from the training rows.

        Parameters
        ----------
        X : DataFrame of shape (n_samples, n_features)
            Model input (``Dataset.X``); the index carries applicant ids.
        y : array-like of shape (n_samples,), optional
            Targets; only transformers that need them (relational) read them.

        Returns
        -------
        self
        """
        frame = self._start_fit(X)
        self._fit(frame, y)
        self._check_names()
        return self

    def transform(self, X: pd.DataFrame) -> pd.DataFrame:
        """Return ``X`` (fitted columns) with the derived features appended, same index.

        Parameters
        ----------
        X : DataFrame of shape (n_samples, n_features)

        Returns
        -------
        DataFrame of shape (n_samples, n_features + len(derived_names_))
        """
        frame = self._input(X)
        if not self.derived_names_:
            return frame
        derived = self._derive(frame)
        return append_columns(frame, derived, self.derived_names_)

    def get_feature_names_out(self, input_features: object = None) -> np.ndarray:
        """Input column names followed by the derived feature names."""
        check_is_fitted(self)
        return np.asarray([*self.feature_names_in_, *self.derived_names_], dtype=object)

    def __sklearn_tags__(self):  # noqa: D105 - sklearn hook
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        tags.input_tags.categorical = True
        tags.input_tags.string = True
        return tags

    @abstractmethod
    def _fit(self, frame: pd.DataFrame, y: object) -> None:
        """Learn fitted state from the training rows and set ``derived_names_``."""

    @abstractmethod
    def _derive(self, frame: pd.DataFrame) -> Mapping[str, np.ndarray]:
        """Compute each derived feature (name -> 1-D array over the rows)."""


def append_columns(
    frame: pd.DataFrame, derived: Mapping[str, np.ndarray], names: list[str]
) -> pd.DataFrame:
    """``frame`` with ``derived`` columns appended in ``names`` order, index unchanged."""
    block = pd.DataFrame(
        {name: np.asarray(derived[name], dtype=float) for name in names}, index=frame.index
    )
    return pd.concat([frame, block], axis=1)
