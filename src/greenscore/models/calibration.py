"""Probability calibration as a step of a bundle: a monotone map from a model's log-odds
of default to a PD that means what it says.

:class:`LogOddsCalibrator` fits one of three strictly increasing maps on out-of-fold
log-odds and outcomes — ``platt`` (logistic on the log-odds), ``beta`` (Kull et al. 2017:
logistic on ``ln p`` and ``-ln(1 - p)`` with non-negative slopes) or ``isotonic``
(centred isotonic regression: the pool-adjacent-violators blocks joined at their centres
in log-odds, so no two scores are tied by it) — and with ``method="auto"`` chooses the one
with the lowest cross-validated log loss on those same out-of-fold scores.

:class:`CalibratedClassifier` wraps any classifier as the last step of a bundle's
``Pipeline``, so the bundle format stays the same. It fits the estimator on inner folds of
the rows it is given, fits the calibrator on their out-of-fold log-odds, and scores with
the estimator refitted on all the rows (a booster, linear model or scorecard: more rows,
the same scale) or, for a net or a forest, with the bag of its fold models
(:class:`~greenscore.models.ensemble_bag.FoldBag`), so that the map describes the very
models it is applied to (a net refitted on all rows trains longer and lands on another
scale; on a Taiwan sample its ECE after calibration was 0.023 refitted and 0.014 bagged).
An estimator that makes its own out-of-fold log-odds while fitting (``oof_log_odds_``:
the :class:`~greenscore.models.ensemble.EnsembleClassifier`, a LightGBM that chose its
round count by internal k-fold CV) is fitted once and calibrated on them. The map is
strictly increasing, so ranking (AUC, KS) and the order of an
applicant's reasons are those of the wrapped model.

Its :meth:`CalibratedClassifier.log_odds_contributions` are the wrapped model's exact
contributions scaled, per row, by the calibration's secant slope
``(c(z) - c(b)) / (z - b)`` (``z`` the row's raw log-odds, ``b`` their base, ``c`` the
calibrated log-odds): a positive factor, so signs and order are unchanged, and they add up
to the calibrated log-odds exactly.
"""

from __future__ import annotations

from numbers import Integral
from typing import Any

import numpy as np
import pandas as pd
from scipy.special import expit, log_expit
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import log_loss
from sklearn.model_selection import StratifiedKFold
from sklearn.utils._param_validation import Interval, InvalidParameterError, StrOptions
from sklearn.utils.metaestimators import available_if
from sklearn.utils.validation import check_is_fitted

from greenscore.errors import ConfigError, ModelError
from greenscore.models.ensemble_bag import FoldBag, inner_folds, served_as_bag
from greenscore.models.ensemble_contrib import (
    contributions_of,
    has_exact_contributions,
    logit,
    raw_log_odds,
    reference_row,
)

#: The monotone maps on offer; ``auto`` picks one of them on inner folds.
METHODS = ("platt", "beta", "isotonic")
ONE_CLASS = "calibration needs both outcomes among the rows it is fitted on"
OOF_LENGTH = "the estimator's out-of-fold log-odds have {got} rows, the fit had {expected}"
NO_CONTRIBUTIONS = "{name} has no exact log-odds contributions"
_EPS = 1e-6
#: Smallest slope a map may have anywhere: strictly increasing keeps every tie a tie only.
_MIN_SLOPE = 1e-6


class LogOddsCalibrator(BaseEstimator):
    """A strictly increasing map from raw log-odds to calibrated log-odds of default.

    Parameters
    ----------
    method : {"auto", "platt", "beta", "isotonic"}
        The map; ``auto`` chooses by cross-validated log loss on the given scores.
    cv : int
        Folds of that choice.
    random_state : int

    Attributes
    ----------
    method_ : str
        The map fitted.
    losses_ : dict
        Cross-validated log loss of each candidate (``auto`` only).
    """

    _parameter_constraints: dict = {
        "method": [StrOptions({"auto", *METHODS})],
        "cv": [Interval(Integral, 2, None, closed="left")],
        "random_state": [Interval(Integral, 0, None, closed="left")],
    }

    def __init__(self, *, method: str = "auto", cv: int = 5, random_state: int = 0) -> None:
        self.method = method
        self.cv = cv
        self.random_state = random_state

    def fit(self, z: np.ndarray, y: np.ndarray) -> LogOddsCalibrator:
        """Fit the map on raw log-odds ``z`` and 0/1 outcomes ``y``.

        Raises
        ------
        ConfigError
            If a parameter is out of range.
        ModelError
            If ``y`` holds a single outcome.
        """
        try:
            self._validate_params()
        except InvalidParameterError as exc:
            raise ConfigError(str(exc).splitlines()[0]) from exc
        z = np.asarray(z, dtype=float).reshape(-1)
        y = np.asarray(y).astype(int).reshape(-1)
        if len(np.unique(y)) < 2:
            raise ModelError(ONE_CLASS)
        self.losses_: dict[str, float] = {}
        method = self.method
        if method == "auto":
            self.losses_ = self._cross_validated_losses(z, y)
            method = min(self.losses_, key=lambda m: (self.losses_[m], METHODS.index(m)))
        self.method_ = method
        self.params_ = _FITTERS[method](z, y)
        return self

    def _cross_validated_losses(self, z: np.ndarray, y: np.ndarray) -> dict[str, float]:
        n_splits = int(min(self.cv, np.bincount(y).min()))
        if n_splits < 2:
            return {"platt": 0.0}  # too few of a class to compare maps: the simplest one
        folds = StratifiedKFold(n_splits=n_splits, shuffle=True, random_state=self.random_state)
        losses: dict[str, float] = {}
        for method in METHODS:
            predicted = np.empty(len(z))
            for train, valid in folds.split(z.reshape(-1, 1), y):
                params = _FITTERS[method](z[train], y[train])
                predicted[valid] = expit(_APPLY[method](params, z[valid]))
            losses[method] = float(log_loss(y, np.clip(predicted, _EPS, 1 - _EPS)))
        return losses

    def transform(self, z: np.ndarray) -> np.ndarray:
        """Calibrated log-odds of raw log-odds ``z`` (strictly increasing in ``z``)."""
        check_is_fitted(self, "params_")
        return _APPLY[self.method_](self.params_, np.asarray(z, dtype=float).reshape(-1))

    def predict_proba(self, z: np.ndarray) -> np.ndarray:
        """Calibrated probability of default of raw log-odds ``z``, shape ``(n,)``."""
        return expit(self.transform(z))


# ---------------------------------------------------------------------- the three maps
def _fit_platt(z: np.ndarray, y: np.ndarray) -> dict[str, float]:
    model = LogisticRegression(C=1e6, max_iter=1000).fit(z.reshape(-1, 1), y)
    slope = float(model.coef_[0, 0])
    # A model worse than chance on its own out-of-fold rows gets a flat-ish map, never a
    # decreasing one: ranking must stay the model's.
    return {"a": max(slope, _MIN_SLOPE), "b": float(model.intercept_[0])}


def _apply_platt(params: dict[str, float], z: np.ndarray) -> np.ndarray:
    return params["a"] * z + params["b"]


def _beta_features(z: np.ndarray) -> np.ndarray:
    # ln p and -ln(1 - p) of p = sigmoid(z), computed without overflow.
    return np.column_stack([log_expit(z), -log_expit(-z)])


def _fit_beta(z: np.ndarray, y: np.ndarray) -> dict[str, float]:
    features = _beta_features(z)
    keep = [0, 1]
    while True:
        model = LogisticRegression(C=1e6, max_iter=1000).fit(features[:, keep], y)
        coef = model.coef_[0]
        if (coef >= 0).all() or len(keep) == 1:
            break
        # Kull et al.: a negative slope would break monotonicity; drop it and refit.
        keep = [k for k, c in zip(keep, coef, strict=True) if c >= 0] or [keep[int(coef.argmax())]]
    slopes = np.zeros(2)
    slopes[keep] = np.maximum(coef, 0.0)
    if slopes.sum() <= _MIN_SLOPE:
        return {"a": 0.0, "b": 0.0, "c": 0.0, **_fit_platt(z, y), "platt": 1.0}
    return {"a": float(slopes[0]), "b": float(slopes[1]), "c": float(model.intercept_[0])}


def _apply_beta(params: dict[str, float], z: np.ndarray) -> np.ndarray:
    if params.get("platt"):
        return _apply_platt(params, z)
    features = _beta_features(z)
    # The floor slope keeps the map strictly increasing where one term has saturated.
    return (
        params["a"] * features[:, 0] + params["b"] * features[:, 1] + params["c"] + (_MIN_SLOPE * z)
    )


def _fit_isotonic(z: np.ndarray, y: np.ndarray) -> dict[str, Any]:
    """Centred isotonic regression in log-odds, extended beyond its ends by Platt's slope."""
    iso = IsotonicRegression(increasing=True, out_of_bounds="clip").fit(z, y)
    fitted = iso.predict(z)
    order = np.argsort(z, kind="mergesort")
    zs, fs = z[order], fitted[order]
    # Blocks of equal fitted value: their centre (mean score) carries the block's rate.
    starts = np.flatnonzero(np.r_[True, np.diff(fs) != 0])
    counts = np.diff(np.r_[starts, len(zs)])
    centres = np.add.reduceat(zs, starts) / counts
    rates = fs[starts]
    # A rate of 0 or 1 has no log-odds: shrink each block towards the middle by half a row.
    shrunk = (rates * counts + 0.5) / (counts + 1.0)
    knots_y = logit(shrunk)
    knots_y = np.maximum.accumulate(knots_y)
    steps = np.diff(centres)
    min_rise = _MIN_SLOPE * np.where(steps > 0, steps, 0.0)
    for i in range(1, len(knots_y)):
        knots_y[i] = max(knots_y[i], knots_y[i - 1] + min_rise[i - 1])
    slope = _fit_platt(z, y)["a"]
    return {"x": centres.tolist(), "y": knots_y.tolist(), "slope": slope}


def _apply_isotonic(params: dict[str, Any], z: np.ndarray) -> np.ndarray:
    x, y = np.asarray(params["x"]), np.asarray(params["y"])
    out = np.interp(z, x, y)
    below, above = z < x[0], z > x[-1]
    out[below] = y[0] + params["slope"] * (z[below] - x[0])
    out[above] = y[-1] + params["slope"] * (z[above] - x[-1])
    return out


_FITTERS = {"platt": _fit_platt, "beta": _fit_beta, "isotonic": _fit_isotonic}
_APPLY = {"platt": _apply_platt, "beta": _apply_beta, "isotonic": _apply_isotonic}


# ---------------------------------------------------------------------- the bundle step
def _inner_has(name: str) -> Any:
    def check(self: CalibratedClassifier) -> bool:
        inner = getattr(self, "estimator_", self.estimator)
        return hasattr(inner, name)

    return check


def calibrated_contributions(
    values: np.ndarray, base: np.ndarray, calibrator: LogOddsCalibrator
) -> tuple[np.ndarray, np.ndarray]:
    """Raw log-odds contributions restated in calibrated log-odds.

    Each row's contributions are multiplied by the calibration's secant slope between the
    base and the row's raw log-odds (the local slope where they coincide): positive, so
    signs and order stay; the results add up to the calibrated log-odds exactly.

    Parameters
    ----------
    values : array of shape (n, p)
        Raw contributions; ``base + values.sum(1)`` is each row's raw log-odds.
    base : array of shape (n,)
    calibrator : a fitted :class:`LogOddsCalibrator`.

    Returns
    -------
    values, base : the calibrated contributions and base, same shapes.
    """
    values = np.asarray(values, dtype=float)
    base = np.broadcast_to(np.asarray(base, dtype=float), (len(values),)).copy()
    z = base + values.sum(axis=1)
    slopes, calibrated = _secants(z, base, calibrator)
    out = values * slopes[:, None]
    # Rounding aside the sum is exact; put the last ulps on the base so it is exact to 1e-12.
    return out, calibrated - out.sum(axis=1)


def secant_slopes(z: np.ndarray, base: np.ndarray, calibrator: LogOddsCalibrator) -> np.ndarray:
    """Per row, the calibration's slope between the base and the raw log-odds ``z``
    (the local slope where they coincide): the factor contributions are restated by."""
    return _secants(z, base, calibrator)[0]


def _secants(
    z: np.ndarray, base: np.ndarray, calibrator: LogOddsCalibrator
) -> tuple[np.ndarray, np.ndarray]:
    """:func:`secant_slopes` and the calibrated ``z``, from one call of the map: the maps
    act value by value, so mapping the four arrays side by side gives each one's figures
    bit for bit, at a quarter of the calls (a service's micro-batch is a row or a few,
    where each call's fixed cost is the work)."""
    n = len(z)
    h = 1e-4
    mapped = calibrator.transform(np.concatenate([base, z, base + h, base - h]))
    c_base, c_z, up, down = mapped[:n], mapped[n : 2 * n], mapped[2 * n : 3 * n], mapped[3 * n :]
    delta = z - base
    close = np.abs(delta) < 1e-6
    local = (up - down) / (2 * h)
    return np.where(close, local, (c_z - c_base) / np.where(close, 1.0, delta)), c_z


class CalibratedClassifier(ClassifierMixin, BaseEstimator):
    """A classifier whose probabilities are calibrated on inner out-of-fold predictions.

    Parameters
    ----------
    estimator : classifier
        Any scikit-learn classifier of GreenScore's (``predict_proba``, 0/1 target).
    method : {"auto", "platt", "beta", "isotonic"}
        The calibration map (see :class:`LogOddsCalibrator`).
    cv : int or None
        Inner folds for the out-of-fold log-odds the map is fitted on, when the estimator
        does not provide its own; None: 5 below 5,000 rows, else 3.
    random_state : int

    Attributes
    ----------
    estimator_ : the estimator or a FoldBag
        The estimator fitted on all rows (after its inner folds, or once when it provides
        its own out-of-fold log-odds); for a net or a forest, the bag of its inner-fold
        models.
    calibrator_ : LogOddsCalibrator
    method_ : str
        The map chosen.
    feature_names_in_ : ndarray of str
    oof_log_odds_ : ndarray
        The out-of-fold raw log-odds the map was fitted on.
    scored_by_ : str
        What made them: the model itself while fitting, inner folds, or a bag's folds.
    """

    _parameter_constraints: dict = {
        "estimator": "no_validation",
        "method": [StrOptions({"auto", *METHODS})],
        "cv": [Interval(Integral, 2, None, closed="left"), None],
        "random_state": [Interval(Integral, 0, None, closed="left")],
    }

    def __init__(
        self, estimator: Any, *, method: str = "auto", cv: int | None = None, random_state: int = 0
    ) -> None:
        self.estimator = estimator
        self.method = method
        self.cv = cv
        self.random_state = random_state

    def fit(
        self,
        X: pd.DataFrame,  # noqa: N803
        y: np.ndarray,
        sample_weight: np.ndarray | None = None,
    ) -> CalibratedClassifier:
        """Fit the estimator on all rows and, unless it made its own out-of-fold log-odds
        while fitting, on inner folds (a net or a forest: only on the inner folds, kept as
        the bag of its fold models); and the calibration map on the out-of-fold log-odds.

        Sample weights (a fairness reweighing, say) reach the estimator's fits; the map is
        fitted unweighted, so PDs stay frequencies of default.
        """
        try:
            self._validate_params()
        except InvalidParameterError as exc:
            raise ConfigError(str(exc).splitlines()[0]) from exc
        y = np.asarray(y).astype(int)
        if len(np.unique(y)) < 2:
            raise ModelError(ONE_CLASS)
        if served_as_bag(self.estimator):
            models, fold_log_odds = self._inner_folds(X, y, sample_weight)
            bag = FoldBag.of(models, [str(c) for c in X.columns])
            scored_by = f"the bag of its {len(models)} inner-fold models"
            return self._calibrate(bag, fold_log_odds, X, y, scored_by)
        weights = {} if sample_weight is None else {"sample_weight": np.asarray(sample_weight)}
        fitted = clone(self.estimator).fit(X, y, **weights)
        # A model that scored its training rows out of fold while fitting (an ensemble, a
        # booster that chose its rounds by k-fold CV) needs no inner folds here.
        oof = getattr(fitted, "oof_log_odds_", None)
        if oof is not None:
            scored_by = "the model's own out-of-fold scores, made while it was fitted"
        else:
            models, oof = self._inner_folds(X, y, sample_weight)
            scored_by = f"{len(models)} inner folds of the training rows"
        return self._calibrate(fitted, np.asarray(oof, dtype=float), X, y, scored_by)

    @classmethod
    def from_fitted(
        cls,
        fitted: Any,
        log_odds: np.ndarray,
        X: pd.DataFrame,  # noqa: N803
        y: np.ndarray,
        *,
        method: str = "auto",
        random_state: int = 0,
    ) -> CalibratedClassifier:
        """A calibration step around an already fitted model, its map fitted on the given
        log-odds of ``X`` (a distilled student's own, say), as :meth:`fit` would for a model
        that brings its own out-of-fold log-odds."""
        step = cls(clone(fitted), method=method, random_state=random_state)
        try:
            step._validate_params()
        except InvalidParameterError as exc:
            raise ConfigError(str(exc).splitlines()[0]) from exc
        return step._calibrate(
            fitted,
            np.asarray(log_odds, dtype=float),
            X,
            np.asarray(y).astype(int),
            "log-odds given with the fitted model",
        )

    def _calibrate(
        self,
        fitted: Any,
        oof: np.ndarray,
        X: pd.DataFrame,  # noqa: N803
        y: np.ndarray,
        scored_by: str,
    ) -> CalibratedClassifier:
        """Keep the fitted model and fit the map on its (out-of-fold) log-odds ``oof``, which
        ``scored_by`` names (for :meth:`summary`)."""
        if len(oof) != len(y):
            raise ModelError(OOF_LENGTH.format(got=len(oof), expected=len(y)))
        self.estimator_ = fitted
        self.oof_log_odds_ = oof
        scored = np.isfinite(oof)  # blending scores only its hold-out slice
        self.calibrator_ = LogOddsCalibrator(
            method=self.method, random_state=self.random_state
        ).fit(oof[scored], y[scored])
        self.method_ = self.calibrator_.method_
        self.scored_by_ = scored_by
        self.classes_ = np.array([0, 1])
        if hasattr(X, "columns"):
            self.feature_names_in_ = np.asarray([str(c) for c in X.columns], dtype=object)
        self.n_features_in_ = X.shape[1]
        self.reference_ = reference_row(X) if hasattr(X, "columns") else None
        return self

    def _inner_folds(
        self,
        X: pd.DataFrame,  # noqa: N803
        y: np.ndarray,
        sample_weight: np.ndarray | None,
    ) -> tuple[list[Any], np.ndarray]:
        """The estimator fitted on each inner fold, and their out-of-fold log-odds."""
        n_splits = int(min(self.cv or inner_folds(len(y)), np.bincount(y).min()))
        if n_splits < 2:
            raise ModelError(ONE_CLASS)
        folds = StratifiedKFold(n_splits=n_splits, shuffle=True, random_state=self.random_state)
        oof = np.empty(len(y))
        models = []
        for train, valid in folds.split(np.zeros(len(y)), y):
            weights = {} if sample_weight is None else {"sample_weight": sample_weight[train]}
            model = clone(self.estimator).fit(_rows(X, train), y[train], **weights)
            oof[valid] = raw_log_odds(model, _rows(X, valid))
            models.append(model)
        return models, oof

    def summary(self) -> dict[str, Any]:
        """What the calibration is, for metrics.json and the model documents: the map, how
        it was chosen (each candidate's cross-validated log loss) and what scored the rows
        it was fitted on."""
        check_is_fitted(self, "calibrator_")
        losses = self.calibrator_.losses_
        return {
            "method": self.method_,
            "chosen_by": (
                "lowest cross-validated log loss" if self.method == "auto" else "asked for"
            ),
            "log_loss": {m: round(v, 6) for m, v in losses.items()},
            "fitted_on": self.scored_by_,
            "rows": int(np.isfinite(self.oof_log_odds_).sum()),
        }

    # ------------------------------------------------------------------ scoring
    def raw_log_odds(self, X: pd.DataFrame) -> np.ndarray:  # noqa: N803
        """The wrapped model's log-odds, before calibration."""
        check_is_fitted(self, "calibrator_")
        return raw_log_odds(self.estimator_, X)

    def decision_function(self, X: pd.DataFrame) -> np.ndarray:  # noqa: N803
        """Calibrated log-odds of default ``(n,)``."""
        return self.calibrator_.transform(self.raw_log_odds(X))

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:  # noqa: N803
        """Calibrated probabilities of [no default, default]."""
        p = expit(self.decision_function(X))
        return np.column_stack([1.0 - p, p])

    def predict(self, X: pd.DataFrame) -> np.ndarray:  # noqa: N803
        """1 where the calibrated probability of default is above one half."""
        return (self.predict_proba(X)[:, 1] > 0.5).astype(int)

    # ------------------------------------------------------------------ explaining
    def raw_contributions(self, X: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, bool]:  # noqa: N803
        """The wrapped model's log-odds contributions, base and whether they are exact."""
        check_is_fitted(self, "calibrator_")
        found = contributions_of(self.estimator_, X, reference=getattr(self, "reference_", None))
        return found.values, found.base, found.exact

    @property
    def exact_contributions(self) -> bool:
        """Whether the wrapped model has exact contributions (so this step has too)."""
        check_is_fitted(self, "calibrator_")
        return has_exact_contributions(self.estimator_)

    def log_odds_contributions(self, X: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:  # noqa: N803
        """Exact contributions to the calibrated log-odds (see the module's docstring).

        Raises
        ------
        ModelError
            If the wrapped model has no exact contributions (nets, forests).
        """
        values, base, exact = self.raw_contributions(X)
        if not exact:
            raise ModelError(NO_CONTRIBUTIONS.format(name=type(self.estimator_).__name__))
        return calibrated_contributions(values, base, self.calibrator_)

    @available_if(_inner_has("member_contributions"))
    def member_contributions(self, X: pd.DataFrame) -> list[Any]:  # noqa: N803
        """Each ensemble member's contributions (see ``EnsembleClassifier``), restated in
        calibrated log-odds.

        A member's values and base are multiplied by each row's secant slope (as
        :meth:`log_odds_contributions` restates the ensemble's), so
        ``sum(m.weight * m.values)`` over the members is :meth:`log_odds_contributions`'s
        values; the calibrated base also holds the map's shift, so the members' bases
        alone do not add up to it.
        """
        from dataclasses import replace

        check_is_fitted(self, "calibrator_")
        parts = self.estimator_.member_contributions(X)
        values = np.zeros((len(X), self.n_features_in_))
        base = np.full(len(X), float(self.estimator_.intercept_))
        for part in parts:
            values += part.weight * part.values
            base += part.weight * part.base
        slope = secant_slopes(base + values.sum(axis=1), base, self.calibrator_)
        return [
            replace(part, values=part.values * slope[:, None], base=part.base * slope)
            for part in parts
        ]

    @available_if(_inner_has("feature_importance"))
    def feature_importance(self, *args: Any, **kwargs: Any) -> pd.Series:
        """The wrapped model's feature importance."""
        check_is_fitted(self, "calibrator_")
        return self.estimator_.feature_importance(*args, **kwargs)

    @property
    def monotone_constraints_(self) -> dict[str, Any]:
        """The wrapped model's monotone constraints (LightGBM), if it has any."""
        check_is_fitted(self, "calibrator_")
        constraints = getattr(self.estimator_, "monotone_constraints_", None)
        if constraints is None:
            raise AttributeError("the wrapped model has no monotone constraints")
        return constraints

    @property
    def monotone_released_(self) -> dict[str, Any] | None:
        """The inferred directions the wrapped model released (LightGBM), else None."""
        check_is_fitted(self, "calibrator_")
        return getattr(self.estimator_, "monotone_released_", None)


def _rows(X: Any, index: np.ndarray) -> Any:  # noqa: N803
    return X.iloc[index] if hasattr(X, "iloc") else X[index]


def split_calibrated(estimator: Any) -> tuple[Any, LogOddsCalibrator | None]:
    """The model inside a calibrated step and its calibrator (None when not calibrated)."""
    if isinstance(estimator, CalibratedClassifier):
        check_is_fitted(estimator, "calibrator_")
        return estimator.estimator_, estimator.calibrator_
    return estimator, None
