"""Optuna tuning of every tunable model: one search space per model, seeded TPE.

Tuning runs *inside* each outer cross-validation training fold (nested CV): the outer
validation rows never influence the chosen parameters. LightGBM's trials train with early
stopping on an inner validation slice and report AUC every few rounds so the pruner can
stop hopeless trials early (:func:`tune_lightgbm`). Every other model
(:func:`tune_member`) scores a trial by its AUC on an inner hold-out (3 inner folds below
5,000 rows, where one slice is too noisy), starting from its defaults so tuning never
starts below them; the nets' spaces are those the architecture search samples
(:func:`greenscore.models.search.space.net_space`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from greenscore.logging import get_logger
from greenscore.models.gbm import LightGBMCreditClassifier

log = get_logger(__name__)
_REPORT_EVERY = 25


def lightgbm_search_space(trial: Any) -> dict[str, Any]:
    """The LightGBM hyper-parameters Optuna searches, with their ranges."""
    return {
        "learning_rate": trial.suggest_float("learning_rate", 0.01, 0.15, log=True),
        "num_leaves": trial.suggest_int("num_leaves", 4, 96, log=True),
        "min_child_samples": trial.suggest_int("min_child_samples", 5, 300, log=True),
        "subsample": trial.suggest_float("subsample", 0.5, 1.0),
        "colsample_bytree": trial.suggest_float("colsample_bytree", 0.2, 1.0),
        "reg_lambda": trial.suggest_float("reg_lambda", 1e-3, 30.0, log=True),
        "reg_alpha": trial.suggest_float("reg_alpha", 1e-3, 10.0, log=True),
        "min_split_gain": trial.suggest_float("min_split_gain", 0.0, 1.0),
    }


def _starting_points() -> list[dict[str, Any]]:
    defaults = LightGBMCreditClassifier().get_params()
    tuned_keys = (
        "learning_rate",
        "num_leaves",
        "min_child_samples",
        "subsample",
        "colsample_bytree",
        "reg_lambda",
        "reg_alpha",
        "min_split_gain",
    )
    base = {k: defaults[k] for k in tuned_keys}
    base["reg_alpha"] = max(base["reg_alpha"], 1e-3)  # the search space is log-scaled
    smooth = {
        **base,
        "learning_rate": 0.01,
        "num_leaves": 6,
        "min_child_samples": 10,
        "colsample_bytree": 0.3,
        "reg_lambda": 1.0,
    }
    deep = {
        **base,
        "learning_rate": 0.05,
        "num_leaves": 63,
        "min_child_samples": 20,
        "colsample_bytree": 0.8,
        "reg_lambda": 1.0,
    }
    return [base, smooth, deep]


def _pruning_callback(trial: Any) -> Any:
    import optuna

    def callback(env: Any) -> None:
        if env.iteration % _REPORT_EVERY:
            return
        # lightgbm.train gives 4-tuples, lightgbm.cv 5-tuples: (data, metric, value, ...).
        for entry in env.evaluation_result_list:
            metric, value = entry[1], entry[2]
            if metric == "auc":
                trial.report(value, step=env.iteration)
                if trial.should_prune():
                    raise optuna.TrialPruned()

    return callback


def lightgbm_sampler(seed: int, n_trials: int) -> Any:
    """The LightGBM study's sampler: TPE after a few random trials (3 to 10 by budget)."""
    import optuna

    return optuna.samplers.TPESampler(seed=seed, n_startup_trials=min(10, max(3, n_trials // 3)))


def lightgbm_pruner() -> Any:
    """The LightGBM study's pruner: the median rule once 5 trials and 2 reports are in."""
    import optuna

    return optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=_REPORT_EVERY * 2)


def lightgbm_objective(
    X: pd.DataFrame,  # noqa: N803
    y: np.ndarray,
    *,
    base: dict[str, Any],
    seed: int,
    attrs: dict[str, Any] | None = None,
) -> Callable[[Any], float]:
    """One LightGBM trial: the sampled parameters over ``base`` fitted with early stopping
    on an inner split of ``X``; the trial's value is that split's AUC. Serial
    (:func:`tune_lightgbm`) and parallel (:mod:`greenscore.scale.tuning`) studies share it;
    ``attrs`` are set on every trial (e.g. the worker that ran it)."""
    inner_folds = 5 if len(y) < 5_000 else 3

    def objective(trial: Any) -> float:
        # Trials only rank candidates: few inner folds and a shorter patience keep a study
        # affordable on 2 cores; the chosen parameters are then fitted with the full settings.
        params = {
            **base,
            **lightgbm_search_space(trial),
            "refit": False,
            "random_state": seed,
            "cv_folds": inner_folds,
            "early_stopping_rounds": 50,
        }
        model = LightGBMCreditClassifier(**params)
        model.fit(X, y, callbacks=[_pruning_callback(trial)])
        trial.set_user_attr("best_iteration", model.best_iteration_)
        for key, value in (attrs or {}).items():
            trial.set_user_attr(key, value)
        return float(model.validation_auc_)

    return objective


def tune_lightgbm(
    X: pd.DataFrame,  # noqa: N803
    y: np.ndarray,
    *,
    n_trials: int,
    seed: int = 42,
    base_params: dict[str, Any] | None = None,
    timeout: float | None = None,
) -> tuple[dict[str, Any], Any]:
    """Search LightGBM parameters on an inner split of ``X`` (one hold-out slice, or an inner
    k-fold ``lightgbm.cv`` below the classifier's ``cv_below`` rows).

    Parameters
    ----------
    X, y : training rows of one outer fold (already through the feature pipeline).
    n_trials : number of Optuna trials.
    seed : seeds the sampler and every model, so the search is reproducible.
    base_params : fixed LightGBM parameters the search starts from.
    timeout : stop the study after this many seconds.

    Returns
    -------
    best_params : dict of the winning parameters (merged over ``base_params``).
    study : the Optuna study (for importances and trial history).
    """
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    base = dict(base_params or {})
    study = optuna.create_study(
        direction="maximize",
        sampler=lightgbm_sampler(seed, n_trials),
        pruner=lightgbm_pruner(),
    )
    # Seed the search with the defaults and two known-good corners (smooth and shallow for
    # small files; deeper for large ones), so a noisy inner estimate starts from sound ground.
    for start in _starting_points():
        study.enqueue_trial(start)
    study.optimize(
        lightgbm_objective(X, y, base=base, seed=seed),
        n_trials=n_trials,
        timeout=timeout,
        gc_after_trial=False,
    )
    best = {**base, **study.best_params}
    log.info("tuned lightgbm", extra={"best_auc": study.best_value, "trials": len(study.trials)})
    return best, study


# ---------------------------------------------------------------------- other models
def catboost_search_space(trial: Any) -> dict[str, Any]:
    """CatBoost's searched parameters."""
    return {
        "depth": trial.suggest_int("depth", 3, 8),
        "learning_rate": trial.suggest_float("learning_rate", 0.02, 0.2, log=True),
        "l2_leaf_reg": trial.suggest_float("l2_leaf_reg", 1.0, 30.0, log=True),
        "random_strength": trial.suggest_float("random_strength", 0.1, 10.0, log=True),
        "bagging_temperature": trial.suggest_float("bagging_temperature", 0.0, 2.0),
    }


def xgboost_search_space(trial: Any) -> dict[str, Any]:
    """XGBoost's searched parameters."""
    return {
        "max_depth": trial.suggest_int("max_depth", 2, 8),
        "learning_rate": trial.suggest_float("learning_rate", 0.01, 0.15, log=True),
        "min_child_weight": trial.suggest_float("min_child_weight", 0.5, 50.0, log=True),
        "subsample": trial.suggest_float("subsample", 0.5, 1.0),
        "colsample_bytree": trial.suggest_float("colsample_bytree", 0.3, 1.0),
        "reg_lambda": trial.suggest_float("reg_lambda", 1e-3, 30.0, log=True),
        "reg_alpha": trial.suggest_float("reg_alpha", 1e-3, 10.0, log=True),
        "gamma": trial.suggest_float("gamma", 0.0, 2.0),
    }


def forest_search_space(trial: Any) -> dict[str, Any]:
    """ExtraTrees' and RandomForest's searched parameters."""
    return {
        "max_features": trial.suggest_float("max_features", 0.1, 1.0),
        "min_samples_leaf": trial.suggest_int("min_samples_leaf", 1, 100, log=True),
    }


def logistic_search_space(trial: Any) -> dict[str, Any]:
    """The spline logistic model's searched parameters."""
    return {
        "C": trial.suggest_float("C", 1e-4, 1.0, log=True),
        "n_knots": trial.suggest_int("n_knots", 3, 8),
        "degree": trial.suggest_int("degree", 1, 2),
    }


def scorecard_search_space(trial: Any) -> dict[str, Any]:
    """The WoE scorecard's (and plain WoE logistic's) searched parameters."""
    return {
        "C": trial.suggest_float("C", 0.01, 10.0, log=True),
        "max_n_bins": trial.suggest_int("max_n_bins", 3, 10),
        "min_bin_size": trial.suggest_float("min_bin_size", 0.01, 0.1, log=True),
    }


#: The search space of each tunable model (the nets' live in ``models.search.space``).
SEARCH_SPACES = {
    "lightgbm": lightgbm_search_space,
    "catboost": catboost_search_space,
    "xgboost": xgboost_search_space,
    "extratrees": forest_search_space,
    "randomforest": forest_search_space,
    "logistic": logistic_search_space,
    "logistic_woe": scorecard_search_space,
    "scorecard": scorecard_search_space,
}
NETS = ("dnn", "lstm", "tcn", "gnn")
#: Fixed settings of every trial: boosters stop on their own hold-out slice (their small-data
#: k-fold would nest a CV inside each trial's).
_TRIAL_FIXED = {"catboost": {"cv_below": 0}, "xgboost": {"cv_below": 0}}
NOT_TUNABLE = "'{name}' has no search space; tunable models: {choices}"


def _inner_splits(y: np.ndarray, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    from sklearn.model_selection import StratifiedKFold, train_test_split

    if len(y) < 5_000:
        folds = StratifiedKFold(n_splits=3, shuffle=True, random_state=seed)
        return list(folds.split(np.zeros(len(y)), y))
    train, valid = train_test_split(np.arange(len(y)), test_size=0.2, stratify=y, random_state=seed)
    return [(train, valid)]


def tune_member(
    name: str,
    X: pd.DataFrame,  # noqa: N803
    y: np.ndarray,
    *,
    spec: Any,
    relations: pd.DataFrame | None = None,
    n_trials: int,
    seed: int = 42,
    timeout: float | None = None,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Search one model's parameters on rows already through the feature pipeline.

    Parameters
    ----------
    name : a tunable model name (:data:`greenscore.models.registry.TUNABLE`).
    X, y : training rows of one outer fold (or all rows for the final model).
    spec, relations : passed to the model's factory.
    n_trials : Optuna trials.
    seed : seeds the sampler, the inner split and every model.
    timeout : stop the study after this many seconds.

    Returns
    -------
    best_params : the winning constructor parameters (empty: keep the defaults).
    info : ``trials`` run, ``best_auc`` and the ``method``.

    Raises
    ------
    ConfigError
        If the model has no search space.
    """
    import optuna
    from sklearn.metrics import roc_auc_score

    from greenscore.errors import ConfigError
    from greenscore.models.registry import make_estimator

    y = np.asarray(y).astype(int)
    if name == "lightgbm":
        best, study = tune_lightgbm(X, y, n_trials=n_trials, seed=seed, timeout=timeout)
        return best, {
            # Run trials only: enqueued starting points the study never reached stay listed.
            "trials": sum(t.state.is_finished() for t in study.trials),
            "best_auc": float(study.best_value),
            "method": "optuna TPE, inner early stopping",
        }
    if name in NETS:
        from greenscore.models.search.space import net_space

        def space(trial: Any) -> dict[str, Any]:
            return net_space(trial, name)
    elif name in SEARCH_SPACES:
        space = SEARCH_SPACES[name]
    else:
        choices = ", ".join(sorted({*SEARCH_SPACES, *NETS}))
        raise ConfigError(NOT_TUNABLE.format(name=name, choices=choices))
    splits = _inner_splits(y, seed)

    def score(params: dict[str, Any]) -> float:
        aucs = []
        for train, valid in splits:
            model = make_estimator(
                name,
                spec=spec,
                relations=relations,
                seed=seed,
                params={**_TRIAL_FIXED.get(name, {}), **params},
            )
            model.fit(X.iloc[train], y[train])
            aucs.append(roc_auc_score(y[valid], model.predict_proba(X.iloc[valid])[:, 1]))
        return float(np.mean(aucs))

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(
        direction="maximize",
        sampler=optuna.samplers.TPESampler(
            seed=seed, n_startup_trials=min(8, max(2, n_trials // 3))
        ),
    )
    # The first trial is the defaults, so tuning never ends below them.
    study.enqueue_trial(_defaults_of(name, space, spec=spec, seed=seed))
    study.optimize(
        lambda trial: score(space(trial)), n_trials=n_trials, timeout=timeout, gc_after_trial=False
    )
    log.info(f"tuned {name}", extra={"best_auc": study.best_value, "trials": len(study.trials)})
    return space(optuna.trial.FixedTrial(study.best_params)), {
        "trials": len(study.trials),
        "best_auc": float(study.best_value),
        "method": "optuna TPE, inner hold-out AUC",
    }


def _defaults_of(name: str, space: Any, *, spec: Any, seed: int) -> dict[str, Any]:
    """The model's default value of every searched parameter, clipped into the space."""
    import optuna

    from greenscore.models.registry import make_estimator

    defaults = make_estimator(name, spec=spec, seed=seed).get_params()
    probe = optuna.create_study()
    trial = probe.ask()
    space(trial)
    out: dict[str, Any] = {}
    for key, distribution in trial.distributions.items():
        value = defaults.get(key)
        if value is None:
            continue
        if hasattr(distribution, "low") and hasattr(distribution, "high"):
            value = min(max(value, distribution.low), distribution.high)
        elif hasattr(distribution, "choices") and value not in distribution.choices:
            continue
        out[key] = value
    return out
