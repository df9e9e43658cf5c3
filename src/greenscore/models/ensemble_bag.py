"""A model made of its cross-fitted fold models: their log-odds averaged, nothing refitted.

A calibration step or an ensemble learns its map and weights on out-of-fold log-odds
made by inner-fold models. What then scores new rows is the model refitted on all the
rows, for every model whose refit lands on the scale its fold models had (trees, linear
models, the scorecard): it has seen a third (or a fifth) more rows, and on the outer
folds of ``--seed 0`` that was worth 0.0015 AUC for LightGBM on credit_risk and 0.0006-
0.0034 on German's three seeds (0.0003 less on Taiwan), with the same calibration
(Taiwan's pooled ECE 0.0063 against the bag's 0.0054); and one booster costs a third
of a bag of three to serve and explain.

A net refitted on all rows trains longer and lands on another scale, so its out-of-fold
calibration and weights would not fit it; a forest gains more from the bag's extra trees
than from the extra rows (ExtraTrees on Taiwan: 0.7837 bagged, 0.7811 refitted). Both say
so (``served_as_bag``) and score as :class:`FoldBag`, the very fold models its out-of-fold log-odds came from, their mean
lowering the variance as bagging does. :class:`FoldBag` averages in log-odds space, so
exact contributions stay exact: the bag's contributions are the mean of its fold models'.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils.metaestimators import available_if
from sklearn.utils.validation import check_is_fitted

from greenscore.errors import ModelError
from greenscore.models.ensemble_contrib import (
    contributions_of,
    has_exact_contributions,
    raw_log_odds,
)

EMPTY = "a fold bag needs at least one fitted model"
#: Rows below which out-of-fold log-odds come from 5 inner folds, not 3:
#: on small files a model fitted on two thirds of the rows is a poorer stand-in for the
#: one fitted on all of them, and the weights learnt on it transfer worse.
SMALL_DATA = 5_000


def inner_folds(n_rows: int) -> int:
    """Inner folds an ensemble or a calibration step uses on ``n_rows`` rows when not told (``cv=None``)."""
    return 5 if n_rows < SMALL_DATA else 3


def served_as_bag(estimator: Any) -> bool:
    """Whether ``estimator`` is served as the bag of its inner-fold models (a net) rather
    than refitted on all rows after them (every other model)."""
    return bool(getattr(estimator, "served_as_bag", False))


def _fold_models_have(name: str) -> Any:
    """``available_if`` check: every fitted fold model has a callable ``name``."""

    def check(self: Any) -> bool:
        return all(callable(getattr(m, name, None)) for m in self.estimators_)

    return check


class FoldBag(ClassifierMixin, BaseEstimator):
    """Fitted fold models scoring as one: the mean of their log-odds.

    Build with :meth:`of`; ``fit`` is not offered (the models are fitted by whoever made
    the folds).

    Attributes
    ----------
    estimators_ : list of fitted classifiers, one per fold.
    feature_names_in_ : ndarray of str
    """

    def __init__(self) -> None:
        pass

    @classmethod
    def of(cls, models: list[Any], columns: list[str]) -> FoldBag:
        """A bag of fitted fold models that read ``columns``.

        Raises
        ------
        ModelError
            If there is no model.
        """
        if not models:
            raise ModelError(EMPTY)
        bag = cls()
        bag.estimators_ = list(models)
        bag.feature_names_in_ = np.asarray([str(c) for c in columns], dtype=object)
        bag.n_features_in_ = len(columns)
        bag.classes_ = np.array([0, 1])
        return bag

    def fit(self, X: Any, y: Any) -> FoldBag:  # noqa: N803
        """Not offered: a bag is made of models already fitted on their folds."""
        raise ModelError("a FoldBag is built from fitted fold models (FoldBag.of), not fitted")

    def decision_function(self, X: pd.DataFrame) -> np.ndarray:  # noqa: N803
        """Mean log-odds of default of the fold models ``(n,)``."""
        check_is_fitted(self, "estimators_")
        return np.mean([raw_log_odds(m, X) for m in self.estimators_], axis=0)

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:  # noqa: N803
        """Probabilities of [no default, default] from the mean log-odds."""
        p = 1.0 / (1.0 + np.exp(-self.decision_function(X)))
        return np.column_stack([1.0 - p, p])

    def predict(self, X: pd.DataFrame) -> np.ndarray:  # noqa: N803
        """1 where the probability of default is above one half."""
        return (self.predict_proba(X)[:, 1] > 0.5).astype(int)

    @property
    def exact_contributions(self) -> bool:
        """Whether every fold model has exact contributions."""
        check_is_fitted(self, "estimators_")
        return all(has_exact_contributions(m) for m in self.estimators_)

    def log_odds_contributions(self, X: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:  # noqa: N803
        """The mean of the fold models' exact contributions.

        Raises
        ------
        ModelError
            If a fold model has no exact contributions.
        """
        check_is_fitted(self, "estimators_")
        values = np.zeros((len(X), self.n_features_in_))
        base = np.zeros(len(X))
        for model in self.estimators_:
            found = contributions_of(model, X)
            if not found.exact:
                raise ModelError(f"{type(model).__name__} has no exact contributions")
            values += found.values
            base += found.base
        k = len(self.estimators_)
        return values / k, base / k

    @available_if(_fold_models_have("feature_importance"))
    def feature_importance(self, importance_type: str = "gain") -> pd.Series:
        """Mean of the fold models' importances (only when every fold model has one, so
        ``hasattr`` tells a report whether to draw them)."""
        check_is_fitted(self, "estimators_")
        parts = []
        for model in self.estimators_:
            try:
                parts.append(model.feature_importance(importance_type))
            except TypeError:  # the scorecard's takes no kind
                parts.append(model.feature_importance())
        return pd.concat(parts, axis=1).fillna(0.0).mean(axis=1).sort_values(ascending=False)

    @property
    def monotone_constraints_(self) -> dict[str, Any]:
        """The first fold model's monotone constraints (LightGBM), if it has any."""
        check_is_fitted(self, "estimators_")
        constraints = getattr(self.estimators_[0], "monotone_constraints_", None)
        if constraints is None:
            raise AttributeError("the fold models have no monotone constraints")
        return constraints

    @property
    def monotone_released_(self) -> dict[str, Any] | None:
        """The inferred directions the first fold model released (LightGBM), else None."""
        check_is_fitted(self, "estimators_")
        return getattr(self.estimators_[0], "monotone_released_", None)
