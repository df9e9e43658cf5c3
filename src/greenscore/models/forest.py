"""Randomised tree forests (ExtraTrees, RandomForest) as diverse ensemble members.

Bagged deep trees make errors unlike boosted shallow ones, which is what an ensemble
needs from a member. scikit-learn's forests read missing numbers natively; categorical
columns are coded by their training levels (an unseen or missing level is missing).
A forest averages probabilities, so its log-odds do not split exactly over the features:
an ensemble explains it by the occlusion approximation and names it in its report.
"""

from __future__ import annotations

from numbers import Integral, Real
from typing import Any, ClassVar

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.ensemble import ExtraTreesClassifier, RandomForestClassifier
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted

from greenscore.models.fit_start import start_fit

KINDS = ("extra", "random")
NOT_A_FRAME = "a forest needs a DataFrame with named columns"
_EPS = 1e-4


class ForestCreditClassifier(ClassifierMixin, BaseEstimator):
    """ExtraTrees or RandomForest on numbers and coded categories.

    Parameters
    ----------
    kind : {"extra", "random"}
    n_estimators : int
    max_features : float
        Share of features tried at each split.
    min_samples_leaf : int
    max_depth : int or None
    random_state : int
    n_jobs : int

    Attributes
    ----------
    model_ : the fitted scikit-learn forest.
    levels_ : dict of categorical column -> its training levels.
    feature_names_in_ : ndarray of str
    """

    #: A forest already averages its trees, and the bag of its inner-fold forests holds
    #: three (or five) times as many: on Taiwan's outer folds (seed 0) ExtraTrees scored
    #: 0.7837 as that bag and 0.7811 refitted on all rows (lower on every fold), and the
    #: refit is one more fit. So it is served as the bag
    #: (:func:`greenscore.models.ensemble_bag.served_as_bag`).
    served_as_bag: ClassVar[bool] = True

    _parameter_constraints: dict = {
        "kind": [StrOptions(set(KINDS))],
        "n_estimators": [Interval(Integral, 1, None, closed="left")],
        "max_features": [Interval(Real, 0, 1, closed="right")],
        "min_samples_leaf": [Interval(Integral, 1, None, closed="left")],
        "max_depth": [Interval(Integral, 1, None, closed="left"), None],
        "random_state": [Interval(Integral, 0, None, closed="left")],
        "n_jobs": [Interval(Integral, 1, None, closed="left")],
    }

    def __init__(
        self,
        *,
        kind: str = "extra",
        n_estimators: int = 400,
        max_features: float = 0.5,
        min_samples_leaf: int = 10,
        max_depth: int | None = None,
        random_state: int = 42,
        n_jobs: int = 1,
    ) -> None:
        self.kind = kind
        self.n_estimators = n_estimators
        self.max_features = max_features
        self.min_samples_leaf = min_samples_leaf
        self.max_depth = max_depth
        self.random_state = random_state
        self.n_jobs = n_jobs

    def _matrix(self, X: pd.DataFrame) -> np.ndarray:  # noqa: N803
        out = np.empty((len(X), len(self.feature_names_in_)))
        for j, column in enumerate(self.feature_names_in_):
            values = X[column]
            if column in self.levels_:
                codes = pd.Categorical(values.astype(object), categories=self.levels_[column]).codes
                out[:, j] = np.where(codes < 0, np.nan, codes)
            else:
                out[:, j] = pd.to_numeric(values, errors="coerce").to_numpy(dtype=float)
        return out

    def fit(
        self,
        X: pd.DataFrame,  # noqa: N803
        y: np.ndarray,
        sample_weight: np.ndarray | None = None,
    ) -> ForestCreditClassifier:
        """Fit the forest.

        Raises
        ------
        ConfigError
            If a parameter is out of range.
        ModelError
            If ``X`` is not a DataFrame.
        """
        X = start_fit(self, X, not_a_frame=NOT_A_FRAME)  # noqa: N806
        self.levels_: dict[str, list[Any]] = {
            c: sorted(X[c].dropna().astype(object).unique().tolist(), key=str)
            for c in self.feature_names_in_
            if isinstance(X[c].dtype, pd.CategoricalDtype)
            or not pd.api.types.is_numeric_dtype(X[c])
        }
        forest = ExtraTreesClassifier if self.kind == "extra" else RandomForestClassifier
        self.model_ = forest(
            n_estimators=self.n_estimators,
            max_features=self.max_features,
            min_samples_leaf=self.min_samples_leaf,
            max_depth=self.max_depth,
            random_state=self.random_state,
            n_jobs=self.n_jobs,
        ).fit(self._matrix(X), np.asarray(y).astype(int), sample_weight=sample_weight)
        self.classes_ = np.array([0, 1])
        return self

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:  # noqa: N803
        """Probabilities of [no default, default], kept off 0 and 1 so log-odds stay finite."""
        check_is_fitted(self, "model_")
        p = np.clip(self.model_.predict_proba(self._matrix(X))[:, 1], _EPS, 1 - _EPS)
        return np.column_stack([1.0 - p, p])

    def predict(self, X: pd.DataFrame) -> np.ndarray:  # noqa: N803
        """1 where the probability of default is above one half."""
        return (self.predict_proba(X)[:, 1] > 0.5).astype(int)

    def feature_importance(self, importance_type: str = "gain") -> pd.Series:
        """Mean decrease in impurity per feature (for ``gain`` and ``split`` alike)."""
        check_is_fitted(self, "model_")
        return pd.Series(
            self.model_.feature_importances_, index=list(self.feature_names_in_), dtype=float
        ).sort_values(ascending=False)
