"""The LightGBM models the runtime walks itself: a booster, calibrated or not, or a bag of them.

``greenscore train`` wraps LightGBM in a :class:`~greenscore.models.calibration.CalibratedClassifier`:
one booster refitted on all rows followed by a monotone map (bundles of earlier releases
hold a :class:`~greenscore.models.ensemble_bag.FoldBag` of inner-fold boosters there, and
still serve). :class:`CompiledTrees` computes, from the runtime's matrix, exactly what
those classes compute from a frame, step by step in the same order:

* a bare booster: PD ``1 / (1 + exp(-sigmoid * raw))`` and LightGBM's ``pred_contrib``;
* a bag (``FoldBag.decision_function``): the mean over the fold models of
  ``raw_log_odds``, which for LightGBM is the clipped logit of its PD
  (:func:`~greenscore.models.ensemble_contrib.logit`); PD ``1 / (1 + exp(-z))``;
  contributions the mean of the fold boosters' ``pred_contrib`` (``FoldBag.log_odds_contributions``);
* calibrated (one booster, or a bag): ``z`` the booster's ``raw_log_odds`` (the mean of
  one) or the bag's; PD ``expit(calibrator.transform(z))`` and its contributions restated
  by :func:`~greenscore.models.calibration.calibrated_contributions`
  (``CalibratedClassifier.log_odds_contributions``).

The runtime takes these only after they reproduced the pipeline on probe rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.special import expit
from sklearn.exceptions import NotFittedError

from greenscore.errors import ModelError
from greenscore.models.calibration import (
    CalibratedClassifier,
    LogOddsCalibrator,
    calibrated_contributions,
)
from greenscore.models.columns import lightgbm_booster
from greenscore.models.ensemble_bag import FoldBag
from greenscore.models.ensemble_contrib import logit
from greenscore.models.runtime.treeshap import (
    TreeTables,
    contributions,
    contributions_and_raw,
    raw_scores,
)


@dataclass(frozen=True)
class TreeModel:
    """Which boosters a fitted classifier scores with, and how it combines them.

    Attributes
    ----------
    boosters : tuple of lightgbm.Booster
    averaged : bool
        The classifier's log-odds are the mean of each booster's clipped logit PD (a fold
        bag, or the one model inside a calibration step); False for a bare booster.
    calibrator : LogOddsCalibrator or None
        The calibration map applied to those log-odds.
    """

    boosters: tuple[Any, ...]
    averaged: bool
    calibrator: LogOddsCalibrator | None

    @property
    def kind(self) -> str:
        """``booster``, ``calibrated booster``, ``fold bag`` or ``calibrated fold bag`` (for notes)."""
        if not self.averaged:
            return "booster"
        if self.calibrator is None:
            return "fold bag"
        return "calibrated booster" if len(self.boosters) == 1 else "calibrated fold bag"


def tree_model(estimator: Any) -> TreeModel | None:
    """The boosters behind a LightGBM classifier, a fold bag of them or its calibration step.

    None for any other model (a scorecard, an ensemble of several kinds, a net, a
    fairness wrapper), which the runtime scores through the classifier itself.
    """
    booster = lightgbm_booster(estimator)
    if booster is not None:
        return TreeModel((booster,), averaged=False, calibrator=None)
    calibrator: LogOddsCalibrator | None = None
    inner = estimator
    if isinstance(estimator, CalibratedClassifier):
        inner = getattr(estimator, "estimator_", None)
        calibrator = getattr(estimator, "calibrator_", None)
        if inner is None or calibrator is None:
            return None
    if isinstance(inner, FoldBag):
        models = list(getattr(inner, "estimators_", []))
    elif calibrator is not None:
        models = [inner]  # CalibratedClassifier.raw_log_odds of one model: a mean of one
    else:
        return None
    boosters = []
    for model in models:
        # raw_log_odds reads decision_function where a model has one; LightGBM's has none.
        if callable(getattr(model, "decision_function", None)):
            return None
        try:
            found = lightgbm_booster(model)
        except NotFittedError:
            return None
        if found is None:
            return None
        boosters.append(found)
    if not boosters:
        return None
    return TreeModel(tuple(boosters), averaged=True, calibrator=calibrator)


class CompiledTrees:
    """A :class:`TreeModel` flattened into TreeSHAP tables, one per booster.

    Raises
    ------
    ModelError
        From :meth:`TreeTables.from_booster` (a multiclass model, linear trees, ...).
    """

    def __init__(self, model: TreeModel) -> None:
        self.model = model
        self.tables = [TreeTables.from_booster(b) for b in model.boosters]
        self.n_features = self.tables[0].n_features
        if any(t.n_features != self.n_features for t in self.tables):
            raise ModelError("the fold boosters do not read the same number of columns")

    @property
    def gives_pd(self) -> bool:
        """Whether every booster's objective turns raw scores into a PD by a sigmoid."""
        return all(np.isfinite(t.sigmoid) for t in self.tables)

    def booster_pd(self, k: int, matrix: np.ndarray) -> np.ndarray:
        """Booster ``k``'s own PD (``Booster.predict``) of each row."""
        return self._booster_pd(k, raw_scores(self.tables[k], matrix))

    def _booster_pd(self, k: int, raw: np.ndarray) -> np.ndarray:
        return 1.0 / (1.0 + np.exp(-self.tables[k].sigmoid * raw))

    def log_odds(self, matrix: np.ndarray) -> np.ndarray:
        """The classifier's log-odds before calibration (``decision_function``); for a bare
        booster its raw score times the sigmoid scale."""
        return self._log_odds([raw_scores(t, matrix) for t in self.tables])

    def _log_odds(self, raws: list[np.ndarray]) -> np.ndarray:
        if not self.model.averaged:
            return self.tables[0].sigmoid * raws[0]
        # FoldBag.decision_function: np.mean of each model's raw_log_odds, the clipped
        # logit of its predict_proba.
        return np.mean([logit(self._booster_pd(k, raw)) for k, raw in enumerate(raws)], axis=0)

    def predict(self, matrix: np.ndarray) -> np.ndarray:
        """Probability of default of each row, as the classifier's ``predict_proba``."""
        return self._predict([raw_scores(t, matrix) for t in self.tables])

    def _predict(self, raws: list[np.ndarray]) -> np.ndarray:
        """The PD from each booster's raw scores."""
        if not self.model.averaged:
            return self._booster_pd(0, raws[0])
        z = self._log_odds(raws)
        if self.model.calibrator is not None:
            return np.asarray(expit(self.model.calibrator.transform(z)), dtype=float)
        return 1.0 / (1.0 + np.exp(-z))

    def booster_contributions(self, k: int, matrix: np.ndarray) -> np.ndarray:
        """Booster ``k``'s exact TreeSHAP, as its ``pred_contrib`` (bias last)."""
        return contributions(self.tables[k], matrix)

    def contributions(self, matrix: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Exact log-odds contributions per model feature and the base they add to, as the
        classifier's own (``pred_contrib``, ``FoldBag`` / ``CalibratedClassifier``
        ``.log_odds_contributions``)."""
        return self._combined(
            [self.booster_contributions(k, matrix) for k in range(len(self.tables))]
        )

    def predict_and_contributions(
        self, matrix: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """:meth:`predict` and :meth:`contributions` from one pass over each booster's
        trees (the same figures, bit for bit, as the two calls)."""
        outs, raws = zip(*(contributions_and_raw(t, matrix) for t in self.tables), strict=True)
        return self._predict(list(raws)), *self._combined(list(outs))

    def _combined(self, outs: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        """The classifier's contributions and base from each booster's ``pred_contrib``."""
        if not self.model.averaged:
            return outs[0][:, :-1], outs[0][:, -1]
        n = outs[0].shape[0]
        values = np.zeros((n, self.n_features))
        base = np.zeros(n)
        for out in outs:
            values += out[:, :-1]
            base += out[:, -1]
        # FoldBag divides the sums by its size (exact for the lone model of a calibration).
        values, base = values / len(self.tables), base / len(self.tables)
        if self.model.calibrator is not None:
            return calibrated_contributions(values, base, self.model.calibrator)
        return values, base
