"""XGBoost for credit default: depth-wise histogram boosting with native categoricals.

Installed as the ``xgboost-cpu`` wheel (the ``xgboost`` wheel pulls a 469 MB NCCL GPU
library). Shaped like :class:`~greenscore.models.gbm.LightGBMCreditClassifier`: the
number of rounds comes from early stopping on AUC (a stratified hold-out slice, or
XGBoost's own k-fold ``cv`` below ``cv_below`` rows), then the model is refitted on all
rows. Its depth-wise trees differ from LightGBM's leaf-wise ones, which is why it earns
its place in an ensemble. The log-odds split exactly over the input columns by XGBoost's
TreeSHAP (:meth:`log_odds_contributions`).
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

NOT_A_FRAME = "XGBoost needs a DataFrame with named columns"


class XGBoostCreditClassifier(ClassifierMixin, BaseEstimator):
    """Histogram gradient boosting (XGBoost) with early stopping.

    Parameters
    ----------
    n_estimators : int
        Most rounds; early stopping usually ends sooner.
    learning_rate, max_depth, min_child_weight, subsample, colsample_bytree, reg_lambda,
    reg_alpha, gamma : XGBoost's parameters of the same names.
    early_stopping_rounds : int
    validation_fraction : float
    cv_below : int
        Below this many rows the round count comes from XGBoost's k-fold ``cv``.
    cv_folds : int
    random_state : int
    n_jobs : int

    Attributes
    ----------
    booster_ : xgboost.Booster
    best_iteration_ : int
    levels_ : dict of categorical column -> training levels.
    feature_names_in_ : ndarray of str
    """

    _parameter_constraints: dict = {
        "n_estimators": [Interval(Integral, 1, None, closed="left")],
        "learning_rate": [Interval(Real, 0, 1, closed="right")],
        "max_depth": [Interval(Integral, 1, None, closed="left")],
        "min_child_weight": [Interval(Real, 0, None, closed="left")],
        "subsample": [Interval(Real, 0, 1, closed="right")],
        "colsample_bytree": [Interval(Real, 0, 1, closed="right")],
        "reg_lambda": [Interval(Real, 0, None, closed="left")],
        "reg_alpha": [Interval(Real, 0, None, closed="left")],
        "gamma": [Interval(Real, 0, None, closed="left")],
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
        n_estimators: int = 3000,
        learning_rate: float = 0.03,
        max_depth: int = 4,
        min_child_weight: float = 2.0,
        subsample: float = 0.8,
        colsample_bytree: float = 0.6,
        reg_lambda: float = 1.0,
        reg_alpha: float = 0.0,
        gamma: float = 0.0,
        early_stopping_rounds: int = 200,
        validation_fraction: float = 0.15,
        cv_below: int = 5_000,
        cv_folds: int = 5,
        random_state: int = 42,
        n_jobs: int = 1,
    ) -> None:
        self.n_estimators = n_estimators
        self.learning_rate = learning_rate
        self.max_depth = max_depth
        self.min_child_weight = min_child_weight
        self.subsample = subsample
        self.colsample_bytree = colsample_bytree
        self.reg_lambda = reg_lambda
        self.reg_alpha = reg_alpha
        self.gamma = gamma
        self.early_stopping_rounds = early_stopping_rounds
        self.validation_fraction = validation_fraction
        self.cv_below = cv_below
        self.cv_folds = cv_folds
        self.random_state = random_state
        self.n_jobs = n_jobs

    def _params(self) -> dict[str, Any]:
        return {
            "objective": "binary:logistic",
            "eval_metric": "auc",
            "tree_method": "hist",
            "eta": self.learning_rate,
            "max_depth": self.max_depth,
            "min_child_weight": self.min_child_weight,
            "subsample": self.subsample,
            "colsample_bytree": self.colsample_bytree,
            "lambda": self.reg_lambda,
            "alpha": self.reg_alpha,
            "gamma": self.gamma,
            "seed": self.random_state,
            "nthread": self.n_jobs,
            "verbosity": 0,
        }

    def _frame(self, X: pd.DataFrame) -> pd.DataFrame:  # noqa: N803
        missing = [c for c in self.feature_names_in_ if c not in X.columns]
        if missing:
            raise ModelError(f"XGBoost's input lacks columns: {missing}")
        out = X[list(self.feature_names_in_)].copy()
        for column in out.columns:
            if column in self.levels_:
                # The training levels, fixed: an unseen level is missing, as in LightGBM.
                out[column] = pd.Categorical(
                    out[column].astype(object), categories=self.levels_[column]
                )
            else:
                out[column] = pd.to_numeric(out[column], errors="coerce").astype(float)
        return out

    def _matrix(self, X: pd.DataFrame, y: Any = None, weight: Any = None) -> Any:  # noqa: N803
        import xgboost as xgb

        return xgb.DMatrix(self._frame(X), label=y, weight=weight, enable_categorical=True)

    def fit(
        self,
        X: pd.DataFrame,  # noqa: N803
        y: np.ndarray,
        sample_weight: np.ndarray | None = None,
    ) -> XGBoostCreditClassifier:
        """Find the round count by early stopping, then refit on all rows.

        Raises
        ------
        ConfigError
            If a parameter is out of range.
        ModelError
            If ``X`` is not a DataFrame.
        """
        import xgboost as xgb

        X = start_fit(self, X, not_a_frame=NOT_A_FRAME)  # noqa: N806
        y = np.asarray(y).astype(int)
        weights = None if sample_weight is None else np.asarray(sample_weight, dtype=float)
        self.levels_: dict[str, list[Any]] = {
            c: sorted(X[c].dropna().astype(object).unique().tolist(), key=str)
            for c in self.feature_names_in_
            if isinstance(X[c].dtype, pd.CategoricalDtype)
            or not pd.api.types.is_numeric_dtype(X[c])
        }
        self.classes_ = np.array([0, 1])
        params = self._params()
        if len(y) < self.cv_below:
            history = xgb.cv(
                params,
                self._matrix(X, y, weights),
                num_boost_round=self.n_estimators,
                nfold=self.cv_folds,
                stratified=True,
                seed=self.random_state,
                early_stopping_rounds=self.early_stopping_rounds,
            )
            # A frame (as_pandas is xgboost's default); its type also allows a dict.
            history = pd.DataFrame(history)
            self.best_iteration_ = int(history["test-auc-mean"].to_numpy().argmax()) + 1
        else:
            train, valid = train_test_split(
                np.arange(len(y)),
                test_size=self.validation_fraction,
                stratify=y,
                random_state=self.random_state,
            )
            stopper = xgb.train(
                params,
                self._matrix(X.iloc[train], y[train], None if weights is None else weights[train]),
                num_boost_round=self.n_estimators,
                evals=[(self._matrix(X.iloc[valid], y[valid]), "valid")],
                early_stopping_rounds=self.early_stopping_rounds,
                verbose_eval=False,
            )
            best = int(stopper.best_iteration) + 1
            self.best_iteration_ = max(1, int(round(best * (1 + self.validation_fraction))))
        self.booster_ = xgb.train(
            params, self._matrix(X, y, weights), num_boost_round=self.best_iteration_
        )
        return self

    def decision_function(self, X: pd.DataFrame) -> np.ndarray:  # noqa: N803
        """Log-odds of default ``(n,)``."""
        check_is_fitted(self, "booster_")
        return np.asarray(self.booster_.predict(self._matrix(X), output_margin=True), dtype=float)

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:  # noqa: N803
        """Probabilities of [no default, default]."""
        p = 1.0 / (1.0 + np.exp(-self.decision_function(X)))
        return np.column_stack([1.0 - p, p])

    def predict(self, X: pd.DataFrame) -> np.ndarray:  # noqa: N803
        """1 where the probability of default is above one half."""
        return (self.predict_proba(X)[:, 1] > 0.5).astype(int)

    def log_odds_contributions(self, X: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:  # noqa: N803
        """Exact TreeSHAP values of the log-odds per input column, and the expected log-odds."""
        check_is_fitted(self, "booster_")
        raw = np.asarray(self.booster_.predict(self._matrix(X), pred_contribs=True), dtype=float)
        return raw[:, :-1], raw[:, -1]

    def feature_importance(self, importance_type: str = "gain") -> pd.Series:
        """Total gain (``gain``) or number of splits (``split``) per feature."""
        check_is_fitted(self, "booster_")
        kind = "total_gain" if importance_type == "gain" else "weight"
        # Lists only for linear boosters; a tree booster gives one number per feature.
        scores: dict[str, Any] = self.booster_.get_score(importance_type=kind)
        return pd.Series(
            {c: float(scores.get(c, 0.0)) for c in self.feature_names_in_}, dtype=float
        ).sort_values(ascending=False)
