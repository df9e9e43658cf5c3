"""Outlier handling: flag unusual applications, or leave them out of training only.

``OutlierFlagger(action="flag")`` is a transformer that appends an outlier flag and score.
``OutlierFlagger(action="filter")`` is a sampler in imbalanced-learn's sense (it has
``fit_resample`` and no ``transform``), so inside an :class:`imblearn.pipeline.Pipeline`
it removes outlying rows while the model is fitted and is skipped at predict time: a
row is never dropped from scoring. A plain scikit-learn ``Pipeline`` refuses it (it has
no ``transform``) instead of silently not filtering.
"""

from __future__ import annotations

from collections.abc import Mapping
from numbers import Integral, Real

import numpy as np
import pandas as pd
from sklearn.ensemble import IsolationForest
from sklearn.neighbors import LocalOutlierFactor
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.metaestimators import available_if
from sklearn.utils.validation import check_is_fitted

from greenscore.features._base import FrameTransformer
from greenscore.logging import get_logger

log = get_logger(__name__)

METHODS = ("isolation_forest", "lof")
ACTIONS = ("flag", "filter")


def _flagging(self: OutlierFlagger) -> bool:
    return self.action == "flag"


def _filtering(self: OutlierFlagger) -> bool:
    return self.action == "filter"


class OutlierFlagger(FrameTransformer):
    """Isolation-forest or local-outlier-factor detection of unusual rows.

    Parameters
    ----------
    method : {"isolation_forest", "lof"}, default="isolation_forest"
    action : {"flag", "filter"}, default="flag"
        ``flag`` appends ``outlier_<method>_flag`` (1.0 = outlier) and
        ``outlier_<method>_score`` (higher = more unusual). ``filter`` removes
        training rows through ``fit_resample`` only.
    contamination : "auto" or float in (0, 0.5], default="auto"
        Expected share of outliers (sklearn's meaning).
    n_neighbors : int, default=20
        Neighbourhood size of LOF.
    random_state : int, default=42

    Attributes
    ----------
    detector_ : IsolationForest or LocalOutlierFactor
        Fitted on the training rows (numbers as float, categories as codes, missing
        values at the training median, scaled by the inter-quartile range).
    n_seen_, n_filtered_ : int
        Training rows seen and, for ``filter``, rows left out of training.
    derived_names_ : list of str
    """

    _parameter_constraints: dict = {
        "method": [StrOptions(set(METHODS))],
        "action": [StrOptions(set(ACTIONS))],
        "contamination": [StrOptions({"auto"}), Interval(Real, 0, 0.5, closed="right")],
        "n_neighbors": [Interval(Integral, 1, None, closed="left")],
        "random_state": ["random_state"],
    }

    def __init__(
        self,
        *,
        method: str = "isolation_forest",
        action: str = "flag",
        contamination: str | float = "auto",
        n_neighbors: int = 20,
        random_state: int | None = 42,
    ) -> None:
        self.method = method
        self.action = action
        self.contamination = contamination
        self.n_neighbors = n_neighbors
        self.random_state = random_state

    def _raw_matrix(self, frame: pd.DataFrame) -> np.ndarray:
        """Every column as float: categories as codes of the training levels, missing as NaN."""
        columns = []
        for column in frame.columns:
            series = frame[column]
            if column in self.levels_:
                values = (
                    series.astype(object)
                    if isinstance(series.dtype, pd.CategoricalDtype)
                    else series
                )
                codes = pd.Categorical(values, categories=self.levels_[column]).codes.astype(float)
                columns.append(np.where(codes < 0, np.nan, codes))
            else:
                columns.append(series.to_numpy(dtype=float, na_value=np.nan))
        return np.column_stack(columns) if columns else np.zeros((len(frame), 0))

    def _matrix(self, frame: pd.DataFrame) -> np.ndarray:
        """The detector's input: NaN at the training median, centred and IQR-scaled."""
        matrix = self._raw_matrix(frame)
        matrix = np.where(np.isnan(matrix), self.medians_, matrix)
        return (matrix - self.medians_) / self.scales_

    def _fit(self, frame: pd.DataFrame, y: object) -> None:
        self.levels_ = {}
        for column in frame.columns:
            series = frame[column]
            if isinstance(series.dtype, pd.CategoricalDtype):
                self.levels_[column] = list(series.cat.categories)
            elif not (pd.api.types.is_numeric_dtype(series) or pd.api.types.is_bool_dtype(series)):
                self.levels_[column] = sorted(pd.unique(series.dropna()).tolist(), key=str)
        raw = self._raw_matrix(frame)
        with np.errstate(all="ignore"):
            medians = np.nanmedian(raw, axis=0) if len(raw) else np.zeros(raw.shape[1])
            q75, q25 = np.nanpercentile(raw, [75, 25], axis=0) if len(raw) else (medians, medians)
        self.medians_ = np.nan_to_num(medians)
        spread = np.nan_to_num(q75 - q25)
        self.scales_ = np.where(spread > 0, spread, 1.0)
        matrix = self._matrix(frame)
        if self.method == "isolation_forest":
            detector = IsolationForest(
                contamination=self.contamination, random_state=self.random_state, n_jobs=1
            )
        else:
            detector = LocalOutlierFactor(
                n_neighbors=min(self.n_neighbors, max(len(frame) - 1, 1)),
                contamination=self.contamination,
                novelty=True,
            )
        self.detector_ = detector.fit(matrix)
        self.n_seen_ = len(frame)
        self.n_filtered_ = 0
        prefix = f"outlier_{self.method}"
        self.derived_names_ = [f"{prefix}_flag", f"{prefix}_score"] if self.action == "flag" else []

    def _derive(self, frame: pd.DataFrame) -> Mapping[str, np.ndarray]:
        # One scoring pass: both detectors define predict() as score_samples < offset_.
        scores = self.detector_.score_samples(self._matrix(frame))
        prefix = f"outlier_{self.method}"
        return {
            f"{prefix}_flag": (scores < self.detector_.offset_).astype(float),
            f"{prefix}_score": -scores,
        }

    def transform(self, X: pd.DataFrame) -> pd.DataFrame:
        """Append the outlier flag and score (``action="flag"`` only); rows are never dropped.

        Parameters
        ----------
        X : DataFrame of shape (n_samples, n_features)

        Returns
        -------
        DataFrame of shape (n_samples, n_features + 2), same index.
        """
        return super().transform(X)

    @available_if(_filtering)
    def fit_resample(self, X: pd.DataFrame, y: object) -> tuple[pd.DataFrame, object]:
        """Fit the detector and return the training rows that are not outliers.

        Only called while a model is fitted (imbalanced-learn pipelines skip samplers
        when predicting), so scoring never loses a row.

        Parameters
        ----------
        X : DataFrame of shape (n_samples, n_features)
        y : array-like of shape (n_samples,)

        Returns
        -------
        X_kept, y_kept : the inlying rows, in their original order and containers.
        """
        self.fit(X, y)
        check_is_fitted(self)
        keep = self.detector_.predict(self._matrix(self._input(X))) != -1
        self.n_filtered_ = int((~keep).sum())
        log.info(
            "outlier filter left rows out of training",
            extra={"method": self.method, "filtered": self.n_filtered_, "rows": self.n_seen_},
        )
        y_kept = y.iloc[keep] if isinstance(y, (pd.Series, pd.DataFrame)) else np.asarray(y)[keep]
        return X.iloc[keep], y_kept


# Bound after class creation so scikit-learn's set_output wrapper (applied when the class
# is built) stays inside the availability check: a "filter" step must not look like a
# transformer, or imbalanced-learn would run it at predict time.
OutlierFlagger.transform = available_if(_flagging)(OutlierFlagger.transform)  # type: ignore[method-assign]
OutlierFlagger.fit_transform = available_if(_flagging)(OutlierFlagger.fit_transform)
