"""Exact per-feature log-odds contributions of a LightGBM bundle, one row or many.

LightGBM computes TreeSHAP itself (``Booster.predict(..., pred_contrib=True)``); the cost of
explaining one applicant is then dominated by getting the row into the booster. Passing a
pandas frame costs several times the TreeSHAP work, so rows are encoded to a float matrix
here exactly as LightGBM's own pandas conversion would (category values to the training
category codes, unseen values to NaN).

When the bundle's feature steps only pass model features through (or cast them to
``category``), a dict row is encoded straight from its raw values, skipping pandas
altogether. That shortcut is taken only after it has been verified against the real
feature pipeline on probe rows (and on a reference sample when one is given); otherwise
every row goes through the fitted feature steps.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from greenscore.errors import DataError, ModelError
from greenscore.explain.feature_map import (
    model_feature_names,
    model_frame,
    raw_input_columns,
    select_model_input,
)

_NUMERIC_PROBES = (0.0, 1.0, -1.0, 0.1, 2.5, 1234.567, np.nan)
_CHUNK = 20_000


def lightgbm_booster(estimator: Any) -> Any | None:
    """The fitted ``lightgbm.Booster`` behind an estimator, or None if it is not LightGBM."""
    try:
        import lightgbm
    except ImportError:  # pragma: no cover - lightgbm is a core dependency
        return None
    try:
        booster = getattr(estimator, "booster_", None)
    except (AttributeError, ValueError):  # LightGBM raises LGBMNotFittedError before fit
        return None
    return booster if isinstance(booster, lightgbm.Booster) else None


def _is_missing(value: Any) -> bool:
    return value is None or value is pd.NA or (isinstance(value, float) and value != value)


class TreeContributions:
    """Exact TreeSHAP contributions (log-odds of default) for a LightGBM bundle.

    Parameters
    ----------
    bundle : ScoringBundle
        A bundle whose classifier is a fitted binary LightGBM model.
    reference : DataFrame, optional
        Model-input rows used, with synthetic probes, to verify the dict fast path.

    Attributes
    ----------
    model_features : list of str
        The classifier's features, in column order.
    raw_columns : list of str
        The columns the feature pipeline reads.
    fast_path : bool
        Whether dict rows skip the feature pipeline (verified equivalent).

    Raises
    ------
    ModelError
        If the classifier is not a binary LightGBM model.
    """

    def __init__(self, bundle: Any, *, reference: pd.DataFrame | None = None) -> None:
        booster = lightgbm_booster(bundle.estimator)
        if booster is None:
            raise ModelError(f"{type(bundle.estimator).__name__} is not a fitted LightGBM model")
        if booster.num_model_per_iteration() != 1:
            raise ModelError("reason codes need a binary LightGBM model (one tree per iteration)")
        self.bundle = bundle
        self.booster = booster
        self.model_features = model_feature_names(bundle)
        self.raw_columns = raw_input_columns(bundle)
        self._categories = list(booster.pandas_categorical or [])
        self._code_maps = [{v: float(i) for i, v in enumerate(c)} for c in self._categories]
        self._row_encoders: list[tuple[str, dict[Any, float] | None]] | None = None
        self.fast_path = self._try_fast_path(reference)

    # ------------------------------------------------------------------ encoding
    def encode(self, transformed: pd.DataFrame) -> np.ndarray:
        """Model features (output of the feature steps) as the booster's float matrix.

        Raises
        ------
        ModelError
            If the frame's categorical columns do not match the model's.
        """
        cat_columns = [
            c
            for c, t in zip(transformed.columns, transformed.dtypes, strict=True)
            if isinstance(t, pd.CategoricalDtype)
        ]
        if len(cat_columns) != len(self._categories):
            raise ModelError(
                f"model expects {len(self._categories)} categorical features, "
                f"feature steps produced {len(cat_columns)}"
            )
        out = np.empty(transformed.shape, dtype=np.float64)
        cat_index = {c: k for k, c in enumerate(cat_columns)}
        for j, column in enumerate(transformed.columns):
            values = transformed[column]
            if column in cat_index:
                categories = self._categories[cat_index[column]]
                codes = pd.Categorical(values, categories=categories).codes.astype(np.float64)
                codes[codes < 0] = np.nan
                out[:, j] = codes
            else:
                out[:, j] = pd.to_numeric(values, errors="raise").to_numpy(dtype=np.float64)
        return out

    def _encode_row_fast(self, row: Mapping[str, Any]) -> np.ndarray:
        assert self._row_encoders is not None
        x = np.empty((1, len(self._row_encoders)), dtype=np.float64)
        for j, (column, codes) in enumerate(self._row_encoders):
            try:
                value = row[column]
            except KeyError:
                raise DataError(f"applicant is missing input column '{column}'") from None
            if codes is not None:
                try:
                    x[0, j] = codes.get(value, np.nan)
                except TypeError:
                    raise DataError(
                        f"column '{column}': {value!r} is not a category value"
                    ) from None
            elif _is_missing(value):
                x[0, j] = np.nan
            else:
                try:
                    x[0, j] = float(value)
                except (TypeError, ValueError):
                    raise DataError(
                        f"column '{column}': expected a number, got {value!r}"
                    ) from None
        return x

    def _try_fast_path(self, reference: pd.DataFrame | None) -> bool:
        """Verify that raw values encode exactly as the feature pipeline would."""
        raw = set(self.raw_columns)
        if not set(self.model_features) <= raw:
            return False
        probes = []
        synthetic = self._synthetic_probe()
        if synthetic is not None:
            probes.append(synthetic)
        if reference is not None:
            probes.append(select_model_input(self.bundle, reference).head(256))
        if not probes:
            return False
        encoders: list[tuple[str, dict[Any, float] | None]] = []
        for probe in probes:
            try:
                transformed = model_frame(self.bundle, probe)
                if [str(c) for c in transformed.columns] != self.model_features:
                    return False
                cats = [isinstance(t, pd.CategoricalDtype) for t in transformed.dtypes]
                if sum(cats) != len(self._categories):
                    return False
                it = iter(self._code_maps)
                encoders = [
                    (f, next(it) if is_cat else None)
                    for f, is_cat in zip(self.model_features, cats, strict=True)
                ]
                slow = self.encode(transformed)
            except Exception:  # noqa: BLE001 - any failure means "no shortcut", never an error
                return False
            self._row_encoders = encoders
            try:
                fast = np.vstack([self._encode_row_fast(r) for r in probe.to_dict("records")])
            except DataError:
                self._row_encoders = None
                return False
            same_input = np.array_equal(fast, slow, equal_nan=True)
            slow_contrib = self.booster.predict(transformed, pred_contrib=True)
            same_output = np.array_equal(
                self.booster.predict(fast, pred_contrib=True), slow_contrib
            )
            if not (same_input and same_output):
                self._row_encoders = None
                return False
        return True

    def _synthetic_probe(self) -> pd.DataFrame | None:
        """Rows built from the model's own categories and awkward numbers; None if impossible."""
        if set(self.raw_columns) != set(self.model_features):
            return None  # raw columns the model never sees have no known valid values
        categorical = self._categorical_features()
        if categorical is None:
            return None
        lengths = [len(_NUMERIC_PROBES), *(len(c) + 2 for c in self._categories)]
        n = max(lengths)
        columns: dict[str, Any] = {}
        for column in self.raw_columns:
            if column in categorical:
                values = [*self._categories[categorical[column]], "__unseen__", None]
                columns[column] = pd.Series(
                    [values[i % len(values)] for i in range(n)], dtype=object
                )
            else:
                values = list(_NUMERIC_PROBES)
                columns[column] = np.array([values[i % len(values)] for i in range(n)], dtype=float)
        return pd.DataFrame(columns, columns=self.raw_columns)

    def _categorical_features(self) -> dict[str, int] | None:
        """Model features LightGBM treats as pandas categories -> index into its categories."""
        if not self._categories:
            return {}
        infos = self.booster.dump_model(num_iteration=1).get("feature_infos", {})
        names = [
            name
            for name in self.booster.feature_name()
            if isinstance(infos.get(name), dict) and infos[name].get("values")
        ]
        if len(names) != len(self._categories):
            return None
        # LightGBM stores pandas categories in column order, which is the model's order.
        by_booster_name = dict(zip(self.booster.feature_name(), self.model_features, strict=True))
        return {by_booster_name[name]: k for k, name in enumerate(names)}

    # ------------------------------------------------------------------ contributions
    def row_matrix(self, row: Mapping[str, Any] | pd.DataFrame | pd.Series) -> np.ndarray:
        """One applicant as the booster's ``(1, n_features)`` float matrix."""
        if isinstance(row, pd.Series):
            row = row.to_dict()
        if isinstance(row, Mapping) and self._row_encoders is not None:
            return self._encode_row_fast(row)
        frame = row if isinstance(row, pd.DataFrame) else self._one_row_frame(row)
        if len(frame) != 1:
            raise DataError(f"expected one applicant, got {len(frame)} rows")
        return self.encode(model_frame(self.bundle, select_model_input(self.bundle, frame)))

    def _one_row_frame(self, row: Mapping[str, Any]) -> pd.DataFrame:
        missing = [c for c in self.raw_columns if c not in row]
        if missing:
            raise DataError(f"applicant is missing input columns: {missing}")
        return pd.DataFrame({c: [row[c]] for c in self.raw_columns})

    def row(self, row: Mapping[str, Any] | pd.DataFrame | pd.Series) -> np.ndarray:
        """Contributions of one applicant: shape ``(n_features + 1,)``, bias last."""
        return self.booster.predict(self.row_matrix(row), pred_contrib=True)[0]

    def row_with_features(
        self, row: Mapping[str, Any] | pd.DataFrame | pd.Series
    ) -> tuple[np.ndarray, pd.DataFrame | None]:
        """Contributions of one applicant and its model features.

        Returns
        -------
        contributions : ndarray of shape (n_features + 1,)
        transformed : DataFrame or None
            The one-row output of the feature steps; None on the fast path, where the
            model features are the raw values themselves.
        """
        if isinstance(row, pd.Series):
            row = row.to_dict()
        if isinstance(row, pd.DataFrame) and self._row_encoders is not None and len(row) == 1:
            row = {c: row[c].iat[0] for c in self.raw_columns if c in row.columns}
        if isinstance(row, Mapping) and self._row_encoders is not None:
            return self.booster.predict(self._encode_row_fast(row), pred_contrib=True)[0], None
        frame = row if isinstance(row, pd.DataFrame) else self._one_row_frame(row)
        if len(frame) != 1:
            raise DataError(f"expected one applicant, got {len(frame)} rows")
        transformed = model_frame(self.bundle, select_model_input(self.bundle, frame))
        return self.booster.predict(self.encode(transformed), pred_contrib=True)[0], transformed

    def batch(self, X: pd.DataFrame) -> tuple[np.ndarray, pd.DataFrame]:  # noqa: N803
        """Contributions of many applicants, with the model features they were computed on.

        Returns
        -------
        contributions : ndarray of shape (n_rows, n_features + 1)
            Log-odds contributions, bias (expected value) in the last column.
        transformed : DataFrame
            The model features, same row order.
        """
        transformed = model_frame(self.bundle, select_model_input(self.bundle, X))
        matrix = self.encode(transformed)
        parts = [
            self.booster.predict(matrix[start : start + _CHUNK], pred_contrib=True)
            for start in range(0, len(matrix), _CHUNK)
        ]
        width = len(self.model_features) + 1
        return (np.vstack(parts) if parts else np.empty((0, width))), transformed
