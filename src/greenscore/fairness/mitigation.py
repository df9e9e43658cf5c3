"""Bias mitigation, each method reported before/after on AUC and the fairness gaps.

Four methods, one per stage of the model's life:

- ``reweighing`` (pre-processing, Kamiran & Calders): training rows weighted by
  ``P(group) P(label) / P(group, label)`` so group and outcome look independent; the same
  pipeline refitted with those weights.
- ``exponentiated_gradient`` (in-processing, Fairlearn): a randomised mixture of the
  same classifier under a demographic-parity constraint, with a cost-sensitive error
  whose break-even point is the bundle's decline cut-off.
- ``adversarial`` (in-processing): :class:`AdversarialDebiasingClassifier` trained
  against an adversary predicting the group.
- ``threshold_optimizer`` (post-processing, Fairlearn): group-specific thresholds on the
  unchanged model's PD under a demographic-parity constraint, fitted to agree with the
  bundle's own decisions (so the operating point stays at the bank's cut-off), then
  applied as one deterministic threshold per group at the optimizer's decline rates. Its decisions read the protected attribute at decision time, which US law
  treats as disparate treatment: it is reported for evidence, not recommended for
  production.

All are fitted on one seeded split, stratified by group and outcome, and compared on the
held-out test part against the unmitigated pipeline refitted on the same training rows;
the threshold optimizer learns its thresholds from out-of-fold scores of the training
rows (thresholds learnt on in-sample scores would follow the model's overfitting). AUC is that of the score each
method ranks by: the PD for the refitted models, the weighted mixture of the
constituent models' PDs for exponentiated gradient, and for the threshold optimizer the
group-adjusted score (the PD's logit shifted per group so that one cut-off reproduces
the post-processed decline rates).
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.model_selection import StratifiedKFold, cross_val_predict, train_test_split

from greenscore.errors import ConfigError, DataError, ModelError
from greenscore.fairness.groups import resolve_attribute, sensitive_features
from greenscore.fairness.metrics import attribute_report, safe_auc

METHODS = ("reweighing", "exponentiated_gradient", "adversarial", "threshold_optimizer")
APPROVES_NONE = "approves no applicants"
APPROVES_ALL = "approves every applicant"
TARGET_REDUCTION = 0.5
MAX_AUC_COST = 0.02
_EPS = 1e-6


def kamiran_calders_weights(groups: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Reweighing weights ``P(g) P(y) / P(g, y)`` per row (1 where a cell is empty)."""
    groups = np.asarray(groups).astype(str)
    y = np.asarray(y)
    weights = np.ones(len(y), dtype=float)
    for g in np.unique(groups):
        in_group = groups == g
        for label in np.unique(y):
            cell = in_group & (y == label)
            if cell.any():
                weights[cell] = in_group.mean() * (y == label).mean() / cell.mean()
    return weights


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(np.asarray(p, dtype=float), _EPS, 1 - _EPS)
    return np.log(p / (1 - p))


def degenerate(approval_rate: float) -> str | None:
    """Why a set of decisions is no credit policy at all, or None when it is one.

    A model that approves nobody (or everybody) has no parity gap to speak of; its
    "reduction" of the gap is not an improvement and is never reported as one.
    """
    if approval_rate <= 0:
        return APPROVES_NONE
    if approval_rate >= 1:
        return APPROVES_ALL
    return None


def _gaps(
    y: np.ndarray, declined: np.ndarray, groups: pd.Series, score: np.ndarray
) -> dict[str, Any]:
    report = attribute_report(y, 1 - declined.astype(int), groups, n_boot=0)
    return {
        "auc": round(safe_auc(y, score), 6),
        "approval_rate": round(float(1 - declined.mean()), 6),
        "demographic_parity_difference": report["demographic_parity_difference"],
        "demographic_parity_ratio": report["demographic_parity_ratio"],
        "equalized_odds_difference": report["equalized_odds_difference"],
        "four_fifths_rule": report["four_fifths_rule"],
        "selection_rate_by_group": {g: v["selection_rate"] for g, v in report["groups"].items()},
    }


class _Split:
    """The seeded train/test split and everything the methods share."""

    def __init__(
        self, bundle: Any, frame: pd.DataFrame, attribute: str, test_size: float, seed: int
    ) -> None:
        from greenscore.data.loading import encode_target
        from greenscore.explain.feature_map import select_model_input

        spec = bundle.spec
        if spec.target not in frame.columns:
            raise DataError(f"mitigation needs the outcome column '{spec.target}' in the data")
        groups = sensitive_features(frame, spec, [attribute]).iloc[:, 0]
        y = encode_target(frame[spec.target], spec)
        X = select_model_input(bundle, frame)  # noqa: N806
        strata = pd.Series(y.astype(str)) + "|" + groups.to_numpy()
        # Stratify by group and outcome where every cell can be split, else by outcome.
        stratify = strata.to_numpy() if strata.value_counts().min() >= 3 else y
        index = np.arange(len(y))
        train, test = train_test_split(
            index, test_size=test_size, random_state=seed, stratify=stratify
        )
        self.bundle, self.seed = bundle, seed
        self.attribute = groups.name
        self.X_train, self.X_test = X.iloc[train], X.iloc[test]
        self.y_train, self.y_test = y[train], y[test]
        self.g_train = groups.iloc[train].reset_index(drop=True)
        self.g_test = groups.iloc[test].reset_index(drop=True)
        self.cut = bundle.scoring.decline_above
        self.baseline = clone(bundle.pipeline).fit(self.X_train, self.y_train)

    def out_of_fold_pd(self, folds: int = 3) -> np.ndarray:
        """PD of every training row from a pipeline that did not see it (k-fold)."""
        cv = StratifiedKFold(n_splits=folds, shuffle=True, random_state=self.seed)
        return cross_val_predict(
            clone(self.bundle.pipeline), self.X_train, self.y_train, cv=cv, method="predict_proba"
        )[:, 1]

    def fit_weighted(self, weights: np.ndarray) -> Any:
        step = self.bundle.pipeline.steps[-1][0]
        try:
            return clone(self.bundle.pipeline).fit(
                self.X_train, self.y_train, **{f"{step}__sample_weight": weights}
            )
        except TypeError as exc:
            raise ModelError(
                f"{type(self.bundle.estimator).__name__} does not accept sample weights"
            ) from exc


def _reweighing(split: _Split) -> tuple[np.ndarray, np.ndarray, list[str]]:
    weights = kamiran_calders_weights(split.g_train.to_numpy(), split.y_train)
    model = split.fit_weighted(weights)
    pd_ = model.predict_proba(split.X_test)[:, 1]
    return pd_, pd_ > split.cut, []


def _exponentiated_gradient(split: _Split) -> tuple[np.ndarray, np.ndarray, list[str]]:
    from fairlearn.reductions import DemographicParity, ErrorRate, ExponentiatedGradient

    features = clone(split.bundle.pipeline[:-1]) if len(split.bundle.pipeline) > 1 else None
    train = features.fit_transform(split.X_train, split.y_train) if features else split.X_train
    test = features.transform(split.X_test) if features else split.X_test
    # Misclassifying a default costs (1 - cut), a wrongly declined repayer costs cut: the
    # cost-weighted error is then minimised by declining above the bundle's cut-off.
    mitigator = ExponentiatedGradient(
        clone(split.bundle.estimator),
        DemographicParity(difference_bound=0.01),
        objective=ErrorRate(costs={"fp": split.cut, "fn": 1 - split.cut}),
        max_iter=15,
    )
    try:
        mitigator.fit(train, split.y_train, sensitive_features=split.g_train.to_numpy())
    except TypeError as exc:
        raise ModelError(f"exponentiated gradient could not refit the classifier: {exc}") from exc
    declined = mitigator.predict(test, random_state=split.seed).astype(bool)
    weights = mitigator.weights_.to_numpy()
    score = sum(
        w * p.predict_proba(test)[:, 1]
        for w, p in zip(weights, mitigator.predictors_, strict=True)
        if w > 0
    )
    return (
        np.asarray(score, dtype=float),
        declined,
        [f"{int((weights > 0).sum())} of {len(weights)} constituent models carry weight"],
    )


def _adversarial(split: _Split) -> tuple[np.ndarray, np.ndarray, list[str]]:
    from greenscore.fairness.adversarial import AdversarialDebiasingClassifier

    features = clone(split.bundle.pipeline[:-1]) if len(split.bundle.pipeline) > 1 else None
    train = features.fit_transform(split.X_train, split.y_train) if features else split.X_train
    test = features.transform(split.X_test) if features else split.X_test
    model = AdversarialDebiasingClassifier(random_state=split.seed)
    model.fit(train, split.y_train, sensitive_features=split.g_train.to_numpy())
    pd_ = model.predict_proba(test)[:, 1]
    return pd_, pd_ > split.cut, ["a small neural network replaces the bundle's classifier"]


class _ScoreAsProba(ClassifierMixin, BaseEstimator):
    """A prefit 'classifier' whose only input column is already the PD."""

    def __init__(self) -> None:
        self.classes_ = np.array([0, 1])

    def fit(self, X: Any, y: Any) -> _ScoreAsProba:  # noqa: N803
        return self

    def predict_proba(self, X: Any) -> np.ndarray:  # noqa: N803
        p = np.asarray(X, dtype=float)[:, 0]
        return np.column_stack([1 - p, p])

    def __sklearn_is_fitted__(self) -> bool:
        return True


def _threshold_optimizer(split: _Split) -> tuple[np.ndarray, np.ndarray, list[str]]:
    from fairlearn.postprocessing import ThresholdOptimizer

    optimizer = ThresholdOptimizer(
        estimator=_ScoreAsProba(),
        constraints="demographic_parity",
        objective="accuracy_score",
        prefit=True,
        predict_method="predict_proba",
    )
    groups = split.g_train.to_numpy()
    oof = split.out_of_fold_pd()
    # Fitted to agree as much as possible with the bundle's own decisions under the parity
    # constraint: the operating point stays at the bank's cut-off and only the groups'
    # thresholds move (fitting to outcomes would move it wherever accuracy peaks).
    optimizer.fit(oof.reshape(-1, 1), (oof > split.cut).astype(int), sensitive_features=groups)
    # The optimizer mixes two thresholds per group at random. The same per-group decline
    # rates are applied as one deterministic threshold per group: a shift of each group's
    # log-odds so that the bundle's single cut-off gives the optimizer's rates. That
    # shifted log-odds is also the score whose AUC is reported.
    declined = optimizer.predict(
        oof.reshape(-1, 1), sensitive_features=groups, random_state=split.seed
    ).astype(bool)
    score = _logit(split.baseline.predict_proba(split.X_test)[:, 1])
    cut = float(_logit(np.array([split.cut]))[0])
    groups_test = split.g_test.to_numpy()
    rates = {}
    for group in np.unique(groups):
        member = groups == group
        rate = float(declined[member].mean())
        rates[str(group)] = round(rate, 6)
        if 0 < rate < 1:
            threshold = np.quantile(_logit(oof[member]), 1 - rate)
            score[groups_test == group] += cut - threshold
    return (
        score,
        score > cut,
        [
            f"decline rate per group set by the optimizer: {rates}",
            "decisions use the protected attribute at decision time (disparate treatment in US law)",
        ],
    )


_RUNNERS = {
    "reweighing": _reweighing,
    "exponentiated_gradient": _exponentiated_gradient,
    "adversarial": _adversarial,
    "threshold_optimizer": _threshold_optimizer,
}


def mitigation_report(
    bundle: Any,
    frame: pd.DataFrame,
    *,
    attribute: str,
    methods: tuple[str, ...] | list[str] = METHODS,
    test_size: float = 0.5,
    seed: int = 0,
) -> dict[str, Any]:
    """Fit each mitigation on a training split and compare it with the unmitigated model.

    Parameters
    ----------
    bundle : ScoringBundle
        The model whose pipeline is refitted (its cut-offs make the decisions).
    frame : DataFrame
        Labelled raw applications with the protected column.
    attribute : str
        The protected column to mitigate for, or its name in the reports (``age_band``
        for ``age``; age is banded).
    methods : sequence of str
        Any of :data:`METHODS`.
    test_size : float
        Share of rows held out for the comparison.
    seed : int
        Seed of the split and of every method.

    Returns
    -------
    dict
        ``attribute``, ``split``, ``before`` (the refitted unmitigated model), ``methods``
        (per method: figures, ``degenerate`` (``"approves no applicants"`` /
        ``"approves every applicant"`` or None; such a method has no ``dp_reduction``
        and never meets the target), ``dp_reduction``, ``auc_cost``, ``meets_target``,
        notes, seconds) and ``best`` (the method meeting the target with the lowest AUC
        cost).

    Raises
    ------
    ConfigError
        If a method is unknown.
    """
    unknown = [m for m in methods if m not in _RUNNERS]
    if unknown:
        raise ConfigError(
            f"unknown mitigation method(s) {unknown}: expected some of {list(METHODS)}"
        )
    split = _Split(bundle, frame, resolve_attribute(attribute, frame, bundle.spec), test_size, seed)
    base_pd = split.baseline.predict_proba(split.X_test)[:, 1]
    before = _gaps(split.y_test, base_pd > split.cut, split.g_test, base_pd)
    results: dict[str, Any] = {}
    for method in methods:
        started = time.perf_counter()
        score, declined, notes = _RUNNERS[method](split)
        after = _gaps(split.y_test, np.asarray(declined), split.g_test, score)
        dp_before, dp_after = (
            before["demographic_parity_difference"],
            after["demographic_parity_difference"],
        )
        broken = degenerate(after["approval_rate"])
        reduction = (
            round(1 - dp_after / dp_before, 6)
            if dp_before and dp_after is not None and broken is None
            else None
        )
        auc_cost = round(before["auc"] - after["auc"], 6)
        results[method] = {
            **after,
            "degenerate": broken,
            "dp_reduction": reduction,
            "auc_cost": auc_cost,
            "meets_target": bool(
                reduction is not None and reduction >= TARGET_REDUCTION and auc_cost <= MAX_AUC_COST
            ),
            "notes": ([f"the mitigated model {broken}"] if broken else []) + notes,
            "seconds": round(time.perf_counter() - started, 2),
        }
    meeting = [m for m, r in results.items() if r["meets_target"]]
    return {
        "attribute": split.attribute,
        "target": {"dp_reduction_at_least": TARGET_REDUCTION, "auc_cost_at_most": MAX_AUC_COST},
        "split": {"train": len(split.y_train), "test": len(split.y_test), "seed": seed},
        "before": before,
        "methods": results,
        "best": min(meeting, key=lambda m: (results[m]["auc_cost"], m)) if meeting else None,
    }
