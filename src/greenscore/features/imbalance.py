"""Class imbalance: balanced sample weights, imbalanced-learn samplers, and the model pipeline.

Samplers change the training rows, so they must act while the model is fitted and never
when it predicts: :func:`build_model_pipeline` returns an :class:`imblearn.pipeline.Pipeline`
whenever a sampler (or the outlier filter) is used, and a plain scikit-learn ``Pipeline``
otherwise. SMOTE-type samplers interpolate numbers and cannot take NaN, so a
:class:`SamplingPreparer` step imputes (and, except for SMOTE-NC, encodes categories)
before them; that step stays in the pipeline at predict time so the model always sees
the same kind of input.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
from imblearn.over_sampling import ADASYN, SMOTE, SMOTENC, BorderlineSMOTE
from imblearn.pipeline import Pipeline as ImbPipeline
from imblearn.under_sampling import RandomUnderSampler
from imblearn.under_sampling.base import BaseUnderSampler
from sklearn.pipeline import Pipeline
from sklearn.utils.class_weight import compute_sample_weight
from sklearn.utils.validation import check_is_fitted

from greenscore.errors import ConfigError
from greenscore.features._base import FrameTransformer
from greenscore.features.outliers import METHODS as OUTLIER_METHODS
from greenscore.features.outliers import OutlierFlagger

SAMPLERS = ("smote", "borderline_smote", "adasyn", "smotenc", "random_under")
UNKNOWN_SAMPLER = "unknown sampler '{name}'; choose one of: {choices} (or none)"
UNKNOWN_OUTLIER_METHOD = "unknown outlier method '{name}'; choose one of: {choices} (or none)"


def balanced_sample_weight(y: object) -> np.ndarray:
    """Per-row weights that make each class weigh the same in total.

    Parameters
    ----------
    y : array-like of shape (n_samples,)
        Class labels.

    Returns
    -------
    ndarray of shape (n_samples,)
        ``n_samples / (n_classes * count(class of the row))``.

    Examples
    --------
    >>> balanced_sample_weight([0, 0, 0, 1]).tolist()
    [0.6666666666666666, 0.6666666666666666, 0.6666666666666666, 2.0]
    """
    return compute_sample_weight("balanced", np.asarray(y).ravel())


def make_sampler(name: str | None, *, random_state: int | None = 42) -> Any:
    """An imbalanced-learn sampler by name, or None for no resampling.

    Parameters
    ----------
    name : {"smote", "borderline_smote", "adasyn", "smotenc", "random_under"} or None
        ``smotenc`` treats the ``category`` columns as categorical (``"auto"``).
    random_state : int or None, default=42

    Raises
    ------
    ConfigError
        If the name is not one of the above.
    """
    if name is None or name == "none":
        return None
    factories = {
        "smote": lambda: SMOTE(random_state=random_state),
        "borderline_smote": lambda: BorderlineSMOTE(random_state=random_state),
        "adasyn": lambda: ADASYN(random_state=random_state),
        "smotenc": lambda: SMOTENC(categorical_features="auto", random_state=random_state),
        "random_under": lambda: RandomUnderSampler(random_state=random_state),
    }
    if name not in factories:
        raise ConfigError(UNKNOWN_SAMPLER.format(name=name, choices=", ".join(SAMPLERS)))
    return factories[name]()


class SamplingPreparer(FrameTransformer):
    """Impute (and optionally encode) features so SMOTE-type samplers can use them.

    Parameters
    ----------
    encode_categories : bool, default=True
        Replace ``category`` columns by their integer codes (as float). False keeps them
        as categories (for SMOTE-NC) and fills their missing values with the training mode.

    Attributes
    ----------
    fill_values_ : dict of str to object
        Training median of each numeric column, training mode of each categorical one.
    categorical_columns_ : list of str
        ``category`` and text columns.
    levels_ : dict of str to list
        Training levels of each categorical column (codes follow this order).
    derived_names_ : list of str
        Always empty: columns are replaced in place.
    """

    _parameter_constraints: dict = {"encode_categories": ["boolean"]}

    def __init__(self, *, encode_categories: bool = True) -> None:
        self.encode_categories = encode_categories

    def _fit(self, frame: pd.DataFrame, y: object) -> None:
        self.categorical_columns_ = [
            c
            for c in frame.columns
            if isinstance(frame[c].dtype, pd.CategoricalDtype)
            or not pd.api.types.is_numeric_dtype(frame[c])
        ]
        self.levels_: dict[str, list] = {}
        fills: dict[str, object] = {}
        for column in frame.columns:
            series = frame[column]
            if column in self.categorical_columns_:
                levels = (
                    list(series.cat.categories)
                    if isinstance(series.dtype, pd.CategoricalDtype)
                    else sorted(pd.unique(series.dropna()).tolist(), key=str)
                )
                counts = series.value_counts()
                self.levels_[column] = levels
                # The mode of an all-missing column falls back to the first level (or none).
                fills[column] = counts.index[0] if counts.sum() else (levels[0] if levels else None)
            else:
                median = pd.to_numeric(series, errors="coerce").median()
                fills[column] = 0.0 if pd.isna(median) else float(median)
        self.fill_values_ = fills
        self.derived_names_: list[str] = []

    def _derive(self, frame: pd.DataFrame) -> Mapping[str, np.ndarray]:
        return {}

    def transform(self, X: pd.DataFrame) -> pd.DataFrame:
        """Return ``X`` with no missing values (and category codes when encoding).

        Parameters
        ----------
        X : DataFrame of shape (n_samples, n_features)

        Returns
        -------
        DataFrame of the same shape and index.
        """
        check_is_fitted(self)
        frame = self._input(X)
        out: dict[str, object] = {}
        for column in frame.columns:
            series = frame[column]
            fill = self.fill_values_[column]
            if column not in self.levels_:
                out[column] = series.astype(float).fillna(fill).to_numpy()
                continue
            values = (
                series.astype(object) if isinstance(series.dtype, pd.CategoricalDtype) else series
            )
            coded = pd.Categorical(values, categories=self.levels_[column])
            if fill is not None:
                coded = coded.fillna(fill)
            out[column] = (
                np.where(coded.codes < 0, 0, coded.codes).astype(float)
                if self.encode_categories
                else coded
            )
        return pd.DataFrame(out, index=frame.index)


def _needs_preparation(sampler: Any) -> tuple[bool, bool]:
    """(needs a preparer, should it encode categories) for a sampler object."""
    if isinstance(sampler, BaseUnderSampler):
        return False, False
    return True, not isinstance(sampler, SMOTENC)


def build_model_pipeline(
    features: Any,
    model: Any,
    sampler: str | Any | None = None,
    *,
    outlier_filter: str | None = None,
    random_state: int | None = 42,
) -> Pipeline | ImbPipeline:
    """Chain features, optional training-only steps and the model into one estimator.

    Parameters
    ----------
    features : transformer
        The feature pipeline (e.g. from :func:`greenscore.features.build_feature_pipeline`).
    model : classifier
    sampler : str, imbalanced-learn sampler or None
        A name for :func:`make_sampler`, a sampler object, or None.
    outlier_filter : {"isolation_forest", "lof"} or None
        Leave outlying training rows out of the model's fit (never out of scoring).
    random_state : int or None, default=42
        Seed for samplers made from a name.

    Returns
    -------
    sklearn.pipeline.Pipeline
        ``[("features", ...), ("model", ...)]`` when nothing resamples.
    imblearn.pipeline.Pipeline
        The feature steps (spliced in, since imbalanced-learn refuses a nested
        ``Pipeline``), then ``outlier_filter``, ``prepare`` and ``sampler`` as needed,
        then a ``features_out`` passthrough (so ``pipeline[:-1].transform`` gives the model
        input) and ``model``; samplers act only in ``fit``.

    Raises
    ------
    ConfigError
        If the sampler or outlier method is unknown.
    """
    if outlier_filter is not None and outlier_filter not in OUTLIER_METHODS:
        raise ConfigError(
            UNKNOWN_OUTLIER_METHOD.format(name=outlier_filter, choices=", ".join(OUTLIER_METHODS))
        )
    resampler = (
        make_sampler(sampler, random_state=random_state) if isinstance(sampler, str) else sampler
    )
    if resampler is None and outlier_filter is None:
        return Pipeline([("features", features), ("model", model)])
    # imbalanced-learn refuses a nested Pipeline as a step, so the feature steps are
    # spliced in; ``pipeline[:-1]`` is still "everything before the model".
    steps: list[tuple[str, Any]] = (
        list(features.steps) if isinstance(features, Pipeline) else [("features", features)]
    )
    if outlier_filter is not None:
        steps.append(
            (
                "outlier_filter",
                OutlierFlagger(method=outlier_filter, action="filter", random_state=random_state),
            )
        )
    if resampler is not None:
        prepare, encode = _needs_preparation(resampler)
        if prepare:
            steps.append(("prepare", SamplingPreparer(encode_categories=encode)))
        steps.append(("sampler", resampler))
    # A trailing no-op keeps ``pipeline[:-1].transform`` available: imbalanced-learn only
    # offers transform when the last step can transform, and a sampler cannot.
    steps += [("features_out", "passthrough"), ("model", model)]
    return ImbPipeline(steps)
