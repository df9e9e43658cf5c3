"""An ensemble of credit models combined in log-odds space, with the scikit-learn API.

:class:`EnsembleClassifier` takes named member classifiers (the scorecard, LightGBM,
CatBoost, nets, ...) and, in ``fit``:

1. gets every member's out-of-fold log-odds from inner folds of the rows it is given —
   inside an outer cross-validation fold these are inner folds of that fold's training
   rows, so the outer figure stays honest (ADR 0003). A member then scores refitted on
   all the rows, or, a net or a forest, as the bag of its fold models, the models the
   weights are learnt on (:mod:`greenscore.models.ensemble_bag` says why); a member that
   fails is dropped with its reason (``dropped_``), not a crash;
2. puts each member's log-odds on a common scale (a Platt slope and intercept on its
   out-of-fold rows: affine, so its contributions stay additive);
3. learns non-negative member weights (:mod:`greenscore.models.ensemble_weights`):
   ``weighted`` (simplex weights minimising log loss), ``stacking`` (a regularised
   logistic meta-learner), ``selection`` (Caruana's greedy selection with replacement,
   bagged), ``blending`` (the meta-learner on a hold-out slice instead of out-of-fold
   rows), or ``auto`` (the best of the first three and the best single member, judged on
   held-out slices of the out-of-fold rows). Everything is learnt on the inner out-of-fold
   log-odds only; a combination that ranks them worse than its best member alone is
   replaced by that member (``fallback_`` says why), any other is pulled toward equal
   weights over the members it uses, the more the fewer defaults it was learnt from.

The ensemble's log-odds are ``sum_m w_m (a_m z_m + b_m) + c``. Each member's exact
contributions (scorecard terms, TreeSHAP, linear terms) therefore add up to the
ensemble's: :meth:`EnsembleClassifier.log_odds_contributions` is the weighted sum of
:meth:`EnsembleClassifier.member_contributions`. A member without exact contributions (a
forest, a net) is explained by an occlusion approximation and listed in
``inexact_members_``. The out-of-fold ensemble log-odds (``oof_log_odds_``) are what
:class:`~greenscore.models.calibration.CalibratedClassifier` calibrates on, at no extra fit.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from numbers import Integral, Real
from typing import Any

import numpy as np
import pandas as pd
from scipy.special import expit
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedKFold, train_test_split
from sklearn.utils._param_validation import Interval, InvalidParameterError, StrOptions
from sklearn.utils.validation import check_is_fitted

from greenscore.errors import ConfigError, ModelError
from greenscore.logging import get_logger
from greenscore.models.ensemble_bag import FoldBag, inner_folds, served_as_bag
from greenscore.models.ensemble_contrib import (
    contributions_of,
    has_exact_contributions,
    raw_log_odds,
    reference_row,
)
from greenscore.models.ensemble_weights import COMBINERS, choose, platt, served_weights

log = get_logger(__name__)

METHODS = ("auto", "weighted", "stacking", "selection", "blending")


NO_MEMBERS = "an ensemble needs at least one member"
DUPLICATE_MEMBERS = "ensemble member names must be unique, got {names}"
ALL_FAILED = "every ensemble member failed: {reasons}"
ONE_CLASS = "the ensemble needs both outcomes among the rows it is fitted on"


@dataclass(frozen=True)
class MemberContribution:
    """One member's share of an ensemble's explanation, for a batch of rows.

    ``weight * values`` summed over members (plus the intercept in the base) is the
    ensemble's contributions; ``weight * (base + values.sum(1))`` is the member's part of
    each row's ensemble log-odds.

    Attributes
    ----------
    name : str
    weight : float
        The member's coefficient in the ensemble (its share times the temperature).
    values : ndarray (n, p)
        The member's contributions per input column, on the ensemble's common scale.
    base : ndarray (n,)
    exact : bool
        False for an approximation (occlusion) of a member without exact contributions.
    method : str
        How they were computed (``lightgbm_pred_contrib``, ``model``, ``occlusion``).
    """

    name: str
    weight: float
    values: np.ndarray
    base: np.ndarray
    exact: bool
    method: str

    @property
    def log_odds(self) -> np.ndarray:
        """The member's weighted part of each row's ensemble log-odds."""
        return self.weight * (self.base + self.values.sum(axis=1))


def _rows(X: pd.DataFrame, index: np.ndarray) -> pd.DataFrame:  # noqa: N803
    return X.iloc[index]


class EnsembleClassifier(ClassifierMixin, BaseEstimator):
    """Named member classifiers combined by learnt weights in log-odds space.

    Parameters
    ----------
    members : list of (str, classifier)
        Unfitted members, each taking the same input frame.
    method : {"auto", "weighted", "stacking", "selection", "blending"}
        How the weights are learnt (see the module docstring).
    cv : int or None
        Inner folds for the members' out-of-fold log-odds; None: :func:`inner_folds`.
    holdout : float
        Share of rows held out by ``blending``.
    C : float
        Inverse L2 strength of the stacking meta-learner.
    n_bags, bag_fraction, max_steps :
        Bags of ensemble selection, the share of members in each, and the most greedy
        steps per bag.
    random_state : int

    Attributes
    ----------
    members_ : dict of str -> fitted classifier
        Every member that fitted (zero-weight ones included, for their figures).
    dropped_ : dict of str -> str
        Members that failed, with the reason.
    scale_ : dict of str -> (slope, intercept)
        Each member's Platt scaling onto the common log-odds scale.
    weights_ : dict of str -> float
        Each member's share of the combination: non-negative, summing to one.
    temperature_ : float
        The combination's scale: a member's coefficient on the common log-odds scale is
        ``temperature_ * weights_[name]``.
    intercept_ : float
    method_ : str
        The combiner used (``single`` when one member takes all the weight).
    fallback_ : str or None
        Why the chosen combination was replaced by its best member alone (it ranked the
        inner out-of-fold rows worse than that member), or None.
    combiner_scores_ : dict
        Held-out AUC of each combiner ``auto`` compared.
    oof_log_odds_ : ndarray
        The ensemble's out-of-fold log-odds of the training rows (NaN where a row had
        none: blending scores only its hold-out slice).
    member_oof_auc_ : dict of str -> float
        Each member's inner out-of-fold AUC.
    fit_seconds_ : dict of str -> float
        Seconds spent fitting each member (inner folds and final fit).
    energy_kwh_ : dict of str -> float
        Energy of those fits, measured per member.
    energy_method_ : str
    inexact_members_ : list of str
        Weighted members whose contributions are approximated.
    feature_names_in_ : ndarray of str
    """

    _parameter_constraints: dict = {
        "members": [list],
        "method": [StrOptions(set(METHODS))],
        "cv": [Interval(Integral, 2, None, closed="left"), None],
        "holdout": [Interval(Real, 0, 0.5, closed="neither")],
        "C": [Interval(Real, 0, None, closed="neither")],
        "n_bags": [Interval(Integral, 1, None, closed="left")],
        "bag_fraction": [Interval(Real, 0, 1, closed="right")],
        "max_steps": [Interval(Integral, 1, None, closed="left")],
        "random_state": [Interval(Integral, 0, None, closed="left")],
    }

    def __init__(
        self,
        members: list[tuple[str, Any]],
        *,
        method: str = "auto",
        cv: int | None = None,
        holdout: float = 0.25,
        C: float = 1.0,  # noqa: N803
        n_bags: int = 10,
        bag_fraction: float = 0.5,
        max_steps: int = 20,
        random_state: int = 0,
    ) -> None:
        self.members = members
        self.method = method
        self.cv = cv
        self.holdout = holdout
        self.C = C
        self.n_bags = n_bags
        self.bag_fraction = bag_fraction
        self.max_steps = max_steps
        self.random_state = random_state

    # ------------------------------------------------------------------ fitting
    def _check(self, y: np.ndarray) -> None:
        try:
            self._validate_params()
        except InvalidParameterError as exc:
            raise ConfigError(str(exc).splitlines()[0]) from exc
        if not self.members:
            raise ConfigError(NO_MEMBERS)
        names = [name for name, _ in self.members]
        if len(set(names)) != len(names):
            raise ConfigError(DUPLICATE_MEMBERS.format(names=names))
        if len(np.unique(y)) < 2:
            raise ModelError(ONE_CLASS)

    def fit(
        self,
        X: pd.DataFrame,  # noqa: N803
        y: np.ndarray,
        sample_weight: np.ndarray | None = None,
    ) -> EnsembleClassifier:
        """Fit every member, learn the weights on out-of-fold log-odds.

        Raises
        ------
        ConfigError
            For bad parameters or duplicate member names.
        ModelError
            If every member fails, or ``y`` holds one outcome.
        """
        y = np.asarray(y).astype(int)
        self._check(y)
        self.feature_names_in_ = np.asarray([str(c) for c in X.columns], dtype=object)
        self.n_features_in_ = X.shape[1]
        self.classes_ = np.array([0, 1])
        self.reference_ = reference_row(X)
        if self.method == "blending":
            scored, oof = self._fit_blending(X, y, sample_weight)
        else:
            scored, oof = np.arange(len(y)), self._fit_out_of_fold(X, y, sample_weight)
        if not self.members_:
            raise ModelError(ALL_FAILED.format(reasons=self.dropped_))
        self._learn_weights(oof, y[scored], scored, len(y))
        return self

    def _measured_fit(
        self,
        name: str,
        estimator: Any,
        X: pd.DataFrame,
        y: np.ndarray,
        weight: Any,  # noqa: N803
    ) -> Any:
        from greenscore.sustainability.energy import measure_energy

        started = time.perf_counter()
        with measure_energy(f"fit:ensemble:{name}") as reading:
            fitted = clone(estimator).fit(
                X, y, **({} if weight is None else {"sample_weight": weight})
            )
        self.fit_seconds_[name] = self.fit_seconds_.get(name, 0.0) + time.perf_counter() - started
        if np.isfinite(reading.kwh):
            self.energy_kwh_[name] = self.energy_kwh_.get(name, 0.0) + reading.kwh
        self.energy_method_ = reading.method
        return fitted

    def _start(self) -> None:
        self.members_: dict[str, Any] = {}
        self.dropped_: dict[str, str] = {}
        self.fit_seconds_: dict[str, float] = {}
        self.energy_kwh_: dict[str, float] = {}
        self.energy_method_ = "unavailable: nothing fitted"

    def _drop(self, name: str, exc: Exception) -> None:
        reason = f"{type(exc).__name__}: {exc}"
        self.dropped_[name] = reason
        self.members_.pop(name, None)
        log.warning("ensemble member dropped", extra={"member": name, "reason": reason})

    def _fit_out_of_fold(
        self,
        X: pd.DataFrame,
        y: np.ndarray,
        sample_weight: np.ndarray | None,  # noqa: N803
    ) -> dict[str, np.ndarray]:
        self._start()
        n_splits = int(min(self.cv or inner_folds(len(y)), np.bincount(y).min()))
        folds = list(
            StratifiedKFold(n_splits=n_splits, shuffle=True, random_state=self.random_state).split(
                np.zeros(len(y)), y
            )
        )
        weights = None if sample_weight is None else np.asarray(sample_weight, dtype=float)
        oof: dict[str, np.ndarray] = {}
        for name, estimator in self.members:
            try:
                z = np.empty(len(y))
                fold_models = []
                for train, valid in folds:
                    w = None if weights is None else weights[train]
                    model = self._measured_fit(name, estimator, _rows(X, train), y[train], w)
                    z[valid] = raw_log_odds(model, _rows(X, valid))
                    fold_models.append(model)
                if not np.isfinite(z).all():
                    raise ModelError("out-of-fold log-odds are not all finite")
                if served_as_bag(estimator):
                    self.members_[name] = FoldBag.of(fold_models, list(X.columns))
                else:
                    self.members_[name] = self._measured_fit(name, estimator, X, y, weights)
                oof[name] = z
            except Exception as exc:  # noqa: BLE001 - a failing member is dropped, not fatal
                self._drop(name, exc)
        return oof

    def _fit_blending(
        self,
        X: pd.DataFrame,
        y: np.ndarray,
        sample_weight: np.ndarray | None,  # noqa: N803
    ) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        self._start()
        fit_rows, hold_rows = train_test_split(
            np.arange(len(y)), test_size=self.holdout, stratify=y, random_state=self.random_state
        )
        weights = None if sample_weight is None else np.asarray(sample_weight, dtype=float)
        held: dict[str, np.ndarray] = {}
        for name, estimator in self.members:
            try:
                w = None if weights is None else weights[fit_rows]
                model = self._measured_fit(name, estimator, _rows(X, fit_rows), y[fit_rows], w)
                held[name] = raw_log_odds(model, _rows(X, hold_rows))
                self.members_[name] = self._measured_fit(name, estimator, X, y, weights)
            except Exception as exc:  # noqa: BLE001 - a failing member is dropped, not fatal
                self._drop(name, exc)
        return hold_rows, held

    def _learn_weights(
        self, oof: dict[str, np.ndarray], y: np.ndarray, scored: np.ndarray, n_rows: int
    ) -> None:
        names = [name for name, _ in self.members if name in self.members_]
        self.scale_ = {name: platt(oof[name], y) for name in names}
        Z = np.column_stack([self.scale_[n][0] * oof[n] + self.scale_[n][1] for n in names])  # noqa: N806
        self.member_oof_auc_ = {n: float(roc_auc_score(y, oof[n])) for n in names}
        options: dict[str, Any] = {
            "n_bags": self.n_bags,
            "bag_fraction": self.bag_fraction,
            "max_steps": self.max_steps,
        }
        self.combiner_scores_: dict[str, float] = {}
        self.fallback_ = None
        if len(names) == 1:
            method, weights, intercept = "single", np.ones(1), 0.0
        else:
            method = self.method
            if method == "auto":
                method, self.combiner_scores_ = choose(
                    Z, y, candidates=COMBINERS, seed=self.random_state, C=self.C, **options
                )
            # Blending is the stacking meta-learner on hold-out rows instead of out-of-fold ones.
            served = served_weights(
                "stacking" if method == "blending" else method,
                Z,
                y,
                C=self.C,
                seed=self.random_state,
                **options,
            )
            weights, intercept = served.weights, served.intercept
            if served.fell_back:
                # Never serve a combination that ranks the rows it was learnt on worse than
                # its best member alone does: that member is served, and the ensemble says so.
                best = max(self.member_oof_auc_, key=lambda n: self.member_oof_auc_[n])
                self.fallback_ = (
                    f"{method} scored {served.learnt_auc:.4f} on the rows it was learnt on, "
                    f"below {best} alone ({self.member_oof_auc_[best]:.4f}): {best} is used alone"
                )
                log.warning(
                    "ensemble falls back to its best member", extra={"reason": self.fallback_}
                )
                method = "single"
        self.method_ = method
        # Coefficients as shares summing to one, times one temperature (their sum).
        self.temperature_ = float(np.sum(weights))
        self.weights_ = {
            n: float(w) / self.temperature_ for n, w in zip(names, weights, strict=True)
        }
        self.intercept_ = float(intercept)
        oof_log_odds = np.full(n_rows, np.nan)
        oof_log_odds[scored] = Z @ weights + intercept
        self.oof_log_odds_ = oof_log_odds
        self.inexact_members_ = [
            n for n in self._weighted() if not has_exact_contributions(self.members_[n])
        ]

    def _weighted(self) -> list[str]:
        return [n for n, w in self.weights_.items() if w > 0]

    def _coefficient(self, name: str) -> float:
        return self.temperature_ * self.weights_[name]

    # ------------------------------------------------------------------ scoring
    def member_log_odds(self, X: pd.DataFrame) -> pd.DataFrame:  # noqa: N803
        """Every fitted member's own log-odds (before scaling), one column per member."""
        check_is_fitted(self, "weights_")
        return pd.DataFrame(
            {name: raw_log_odds(model, X) for name, model in self.members_.items()},
            index=X.index,
        )

    def scaled_log_odds(self, log_odds: pd.DataFrame) -> pd.DataFrame:
        """Members' own log-odds (:meth:`member_log_odds`) on the ensemble's common scale:
        each through its Platt map ``a z + b`` (fitted on its inner out-of-fold log-odds);
        columns of members without a map (dropped ones) are left out."""
        check_is_fitted(self, "weights_")
        return pd.DataFrame(
            {
                name: self.scale_[name][0] * log_odds[name] + self.scale_[name][1]
                for name in log_odds.columns
                if name in self.scale_
            },
            index=log_odds.index,
        )

    def decision_function(self, X: pd.DataFrame) -> np.ndarray:  # noqa: N803
        """The ensemble's log-odds of default ``(n,)``."""
        check_is_fitted(self, "weights_")
        out = np.full(len(X), self.intercept_)
        for name in self._weighted():
            a, b = self.scale_[name]
            out += self._coefficient(name) * (a * raw_log_odds(self.members_[name], X) + b)
        return out

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:  # noqa: N803
        """Probabilities of [no default, default]."""
        p = expit(self.decision_function(X))
        return np.column_stack([1.0 - p, p])

    def predict(self, X: pd.DataFrame) -> np.ndarray:  # noqa: N803
        """1 where the probability of default is above one half."""
        return (self.predict_proba(X)[:, 1] > 0.5).astype(int)

    # ------------------------------------------------------------------ explaining
    def member_contributions(self, X: pd.DataFrame) -> list[MemberContribution]:  # noqa: N803
        """Each weighted member's contributions per input column, on the common scale.

        ``sum(m.weight * m.values)`` over the list is :meth:`log_odds_contributions`'s
        values; ``sum(m.weight * m.base) + intercept_`` its base.
        """
        check_is_fitted(self, "weights_")
        out = []
        for name in self._weighted():
            a, b = self.scale_[name]
            found = contributions_of(self.members_[name], X, reference=self.reference_)
            out.append(
                MemberContribution(
                    name=name,
                    weight=self._coefficient(name),
                    values=a * found.values,
                    base=a * found.base + b,
                    exact=found.exact,
                    method=found.method,
                )
            )
        return out

    def log_odds_contributions(self, X: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:  # noqa: N803
        """The ensemble's contributions per input column: the weighted sum of its members'.

        Exact when every weighted member's are (``inexact_members_`` is empty); they add
        up to :meth:`decision_function` either way.
        """
        parts = self.member_contributions(X)
        values = np.zeros((len(X), self.n_features_in_))
        base = np.full(len(X), self.intercept_)
        for part in parts:
            values += part.weight * part.values
            base += part.weight * part.base
        return values, base

    def member_shares(self, X: pd.DataFrame) -> pd.DataFrame:  # noqa: N803
        """Each weighted member's part of every row's ensemble log-odds (intercept aside)."""
        check_is_fitted(self, "weights_")
        return pd.DataFrame(
            {
                name: self._coefficient(name)
                * (
                    self.scale_[name][0] * raw_log_odds(self.members_[name], X)
                    + self.scale_[name][1]
                )
                for name in self._weighted()
            },
            index=X.index,
        )

    def feature_importance(self, importance_type: str = "gain") -> pd.Series:
        """Weighted mean of the members' normalised importances (where they have one)."""
        check_is_fitted(self, "weights_")
        total = pd.Series(0.0, index=list(self.feature_names_in_))
        for name in self._weighted():
            model = self.members_[name]
            if not callable(getattr(model, "feature_importance", None)):
                continue
            try:
                imp = model.feature_importance(importance_type).astype(float)
            except TypeError:  # the scorecard's takes no kind
                imp = model.feature_importance().astype(float)
            imp = imp.reindex(total.index).fillna(0.0)
            if imp.sum() > 0:
                total += self.weights_[name] * imp / imp.sum()
        return total.sort_values(ascending=False)
