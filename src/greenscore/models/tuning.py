"""Optuna tuning of LightGBM: seeded TPE search with median pruning on one inner split.

Tuning runs *inside* each outer cross-validation training fold (nested CV): the outer
validation rows never influence the chosen parameters. Each trial trains with early
stopping on the inner validation slice and reports AUC every few rounds so the pruner can
stop hopeless trials early.
"""

from __future__ import annotations

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
        sampler=optuna.samplers.TPESampler(
            seed=seed, n_startup_trials=min(10, max(3, n_trials // 3))
        ),
        pruner=optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=_REPORT_EVERY * 2),
    )
    # Seed the search with the defaults and two known-good corners (smooth and shallow for
    # small files; deeper for large ones), so a noisy inner estimate starts from sound ground.
    for start in _starting_points():
        study.enqueue_trial(start)
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
        return model.validation_auc_

    study.optimize(objective, n_trials=n_trials, timeout=timeout, gc_after_trial=False)
    best = {**base, **study.best_params}
    log.info("tuned lightgbm", extra={"best_auc": study.best_value, "trials": len(study.trials)})
    return best, study
