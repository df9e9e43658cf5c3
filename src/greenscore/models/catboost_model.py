"""CatBoost for credit default: ordered boosting on symmetric trees, native categoricals.

A thin scikit-learn classifier over ``catboost.CatBoostClassifier``, shaped like
:class:`~greenscore.models.gbm.LightGBMCreditClassifier`: the number of trees comes from
early stopping on AUC (a stratified hold-out slice, or CatBoost's own k-fold ``cv`` below
``cv_below`` rows, where a slice is too noisy), then the model is refitted on all rows.
Categorical columns (pandas ``category`` or text) go to CatBoost's ordered target
statistics; a missing level is a level of its own. Its log-odds split exactly over the
input columns by CatBoost's TreeSHAP (:meth:`log_odds_contributions`), which an
ensemble's reason codes add up.
"""

from __future__ import annotations

from numbers import Integral, Real
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.model_selection import train_test_split
from sklearn.utils._param_validation import Interval
from sklearn.utils.validation import check_is_fitted

from greenscore.errors import ModelError
from greenscore.models.fit_start import start_fit

NOT_A_FRAME = "CatBoost needs a DataFrame with named columns"
MISSING_COLUMNS = "CatBoost's input lacks columns: {columns}"
_MISSING_LEVEL = "__missing__"


class CatBoostCreditClassifier(ClassifierMixin, BaseEstimator):
    """Gradient boosting on symmetric trees with native categorical features.

    Parameters
    ----------
    iterations : int
        Most trees; early stopping usually ends sooner.
    learning_rate, depth, l2_leaf_reg, random_strength, bagging_temperature,
    border_count : CatBoost's parameters of the same names.
    early_stopping_rounds : int
        Trees without AUC gain before stopping.
    validation_fraction : float
        Share of rows held out for early stopping (``cv_below`` rows and more).
    cv_below : int
        Below this many rows the tree count comes from CatBoost's k-fold ``cv``.
    cv_folds : int
    random_state : int
    n_jobs : int

    Attributes
    ----------
    model_ : catboost.CatBoostClassifier
    best_iteration_ : int
    categorical_ : list of str
    feature_names_in_ : ndarray of str
    """

    _parameter_constraints: dict = {
        "iterations": [Interval(Integral, 1, None, closed="left")],
        "learning_rate": [Interval(Real, 0, 1, closed="right")],
        "depth": [Interval(Integral, 1, 16, closed="both")],
        "l2_leaf_reg": [Interval(Real, 0, None, closed="left")],
        "random_strength": [Interval(Real, 0, None, closed="left")],
        "bagging_temperature": [Interval(Real, 0, None, closed="left")],
        "border_count": [Interval(Integral, 1, 65535, closed="both")],
        "early_stopping_rounds": [Interval(Integral, 1, None, closed="left")],
        "validation_fraction": [Interval(Real, 0, 0.5, closed="neither")],
        "cv_below": [Interval(Integral, 0, None, closed="left")],
        "cv_folds": [Interval(Integral, 2, None, closed="left")],
        "random_state": [Interval(Integral, 0, None, closed="left")],
        "n_jobs": [Interval(Integral, 1, None, closed="left")],
    }

    def __init__(
        self,
        *,
        iterations: int = 2000,
        learning_rate: float = 0.08,
        depth: int = 6,
        l2_leaf_reg: float = 3.0,
        random_strength: float = 1.0,
        bagging_temperature: float = 1.0,
        border_count: int = 128,
        early_stopping_rounds: int = 100,
        validation_fraction: float = 0.15,
        cv_below: int = 5_000,
        cv_folds: int = 3,
        random_state: int = 42,
        n_jobs: int = 1,
    ) -> None:
        self.iterations = iterations
        self.learning_rate = learning_rate
        self.depth = depth
        self.l2_leaf_reg = l2_leaf_reg
        self.random_strength = random_strength
        self.bagging_temperature = bagging_temperature
        self.border_count = border_count
        self.early_stopping_rounds = early_stopping_rounds
        self.validation_fraction = validation_fraction
        self.cv_below = cv_below
        self.cv_folds = cv_folds
        self.random_state = random_state
        self.n_jobs = n_jobs

    def _params(self, iterations: int) -> dict[str, Any]:
        return {
            "iterations": iterations,
            "learning_rate": self.learning_rate,
            "depth": self.depth,
            "l2_leaf_reg": self.l2_leaf_reg,
            "random_strength": self.random_strength,
            "bagging_temperature": self.bagging_temperature,
            "border_count": self.border_count,
            "loss_function": "Logloss",
            "random_seed": self.random_state,
            "thread_count": self.n_jobs,
            "logging_level": "Silent",
            "allow_writing_files": False,
        }

    def _frame(self, X: pd.DataFrame) -> pd.DataFrame:  # noqa: N803
        """Categoricals as text (missing as a level of its own), numbers as floats."""
        missing = [c for c in self.feature_names_in_ if c not in X.columns]
        if missing:
            raise ModelError(MISSING_COLUMNS.format(columns=missing))
        out = X[list(self.feature_names_in_)].copy()
        for column in out.columns:
            if column in self.categorical_:
                values = out[column].astype(object)
                out[column] = values.where(values.notna(), _MISSING_LEVEL).astype(str)
            else:
                out[column] = pd.to_numeric(out[column], errors="coerce").astype(float)
        return out

    def _pool(self, X: pd.DataFrame, y: np.ndarray | None = None, weight: Any = None) -> Any:  # noqa: N803
        from catboost import Pool

        return Pool(self._frame(X), label=y, weight=weight, cat_features=self.categorical_)

    def fit(
        self,
        X: pd.DataFrame,  # noqa: N803
        y: np.ndarray,
        sample_weight: np.ndarray | None = None,
    ) -> CatBoostCreditClassifier:
        """Find the tree count by early stopping, then refit on all rows.

        Raises
        ------
        ConfigError
            If a parameter is out of range.
        ModelError
            If ``X`` is not a DataFrame.
        """
        from catboost import CatBoostClassifier

        X = start_fit(self, X, not_a_frame=NOT_A_FRAME)  # noqa: N806
        y = np.asarray(y).astype(int)
        weights = None if sample_weight is None else np.asarray(sample_weight, dtype=float)
        self.categorical_ = [
            c
            for c in self.feature_names_in_
            if isinstance(X[c].dtype, pd.CategoricalDtype)
            or not pd.api.types.is_numeric_dtype(X[c])
        ]
        self.classes_ = np.array([0, 1])
        if len(y) < self.cv_below:
            self.best_iteration_ = self._cv_rounds(X, y, weights)
        else:
            train, valid = train_test_split(
                np.arange(len(y)),
                test_size=self.validation_fraction,
                stratify=y,
                random_state=self.random_state,
            )
            stopper = CatBoostClassifier(
                **self._params(self.iterations),
                eval_metric="AUC",
                od_type="Iter",
                od_wait=self.early_stopping_rounds,
                use_best_model=True,
            )
            stopper.fit(
                self._pool(X.iloc[train], y[train], None if weights is None else weights[train]),
                eval_set=self._pool(X.iloc[valid], y[valid]),
            )
            best = int(stopper.get_best_iteration() or 0) + 1
            # More rows support slightly more trees at the same learning rate.
            self.best_iteration_ = max(1, int(round(best * (1 + self.validation_fraction))))
        self.model_ = CatBoostClassifier(**self._params(self.best_iteration_))
        self.model_.fit(self._pool(X, y, weights))
        return self

    def _cv_rounds(self, X: pd.DataFrame, y: np.ndarray, weights: np.ndarray | None) -> int:  # noqa: N803
        from catboost import cv

        history = cv(
            self._pool(X, y, weights),
            {**self._params(self.iterations), "eval_metric": "AUC"},
            fold_count=self.cv_folds,
            stratified=True,
            seed=self.random_state,
            early_stopping_rounds=self.early_stopping_rounds,
            as_pandas=True,
        )
        return int(history["test-AUC-mean"].to_numpy().argmax()) + 1

    # ------------------------------------------------------------------ scoring
    def decision_function(self, X: pd.DataFrame) -> np.ndarray:  # noqa: N803
        """Log-odds of default ``(n,)``."""
        check_is_fitted(self, "model_")
        raw = self.model_.predict(self._pool(X), prediction_type="RawFormulaVal")
        return np.asarray(raw, dtype=float).reshape(-1)

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:  # noqa: N803
        """Probabilities of [no default, default]."""
        p = 1.0 / (1.0 + np.exp(-self.decision_function(X)))
        return np.column_stack([1.0 - p, p])

    def predict(self, X: pd.DataFrame) -> np.ndarray:  # noqa: N803
        """1 where the probability of default is above one half."""
        return (self.predict_proba(X)[:, 1] > 0.5).astype(int)

    def log_odds_contributions(self, X: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:  # noqa: N803
        """Exact TreeSHAP values of the log-odds per input column, and the expected log-odds."""
        check_is_fitted(self, "model_")
        raw = np.asarray(self.model_.get_feature_importance(self._pool(X), type="ShapValues"))
        return raw[:, :-1], raw[:, -1]

    def feature_importance(self, importance_type: str = "gain") -> pd.Series:
        """CatBoost's prediction-value change per feature (for ``gain`` and ``split`` alike)."""
        check_is_fitted(self, "model_")
        values = self.model_.get_feature_importance()
        return pd.Series(values, index=list(self.feature_names_in_), dtype=float).sort_values(
            ascending=False
        )
