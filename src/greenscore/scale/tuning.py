"""Parallel tuning: one Optuna study on a shared database, trials run by N Dask workers.

The serial search (:func:`greenscore.models.tuning.tune_lightgbm`) runs its trials one
after another in one process. Here the same study — same search space, same starting
points, same objective (early stopping on an inner slice, pruned by the median rule) —
lives in an Optuna RDB storage (PostgreSQL for several machines; SQLite works for one),
and each worker process loads it and runs its share of the trials, every trial's sampler
seeing the trials the others have finished. The result is of the same kind as the
serial search's: the best parameters and the study.

The workers' samplers are seeded ``seed + worker`` so two workers do not propose the same
point; the order trials finish in depends on timing, so a parallel study is reproducible
in what it may try, not trial for trial.
"""

from __future__ import annotations

import os
import socket
import uuid
from typing import Any

import numpy as np
import pandas as pd

from greenscore.errors import ConfigError
from greenscore.logging import get_logger

# The serial search's own sampler, pruner, objective and starting points: the same study.
from greenscore.models.tuning import (
    _starting_points,
    lightgbm_objective,
    lightgbm_pruner,
    lightgbm_sampler,
)

log = get_logger(__name__)
ERR_STORAGE = "--storage must be a database URL such as postgresql+psycopg://host/db, not '{value}'"
#: The trial's user attribute naming the process that ran it.
WORKER_ATTR = "greenscore_worker"
ERR_TRIALS = "trials must be at least 1, got {value}"


def run_trials(
    storage: str,
    study_name: str,
    X: pd.DataFrame,  # noqa: N803
    y: np.ndarray,
    *,
    n_trials: int,
    seed: int,
    total_trials: int,
    base_params: dict[str, Any] | None = None,
) -> int:
    """One worker's share: load the shared study and run ``n_trials`` of it (the count run)."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.load_study(
        study_name=study_name,
        storage=storage,
        sampler=lightgbm_sampler(seed, total_trials),
        pruner=lightgbm_pruner(),
    )
    worker = f"{socket.gethostname()}:{os.getpid()}"
    study.optimize(
        lightgbm_objective(
            X, y, base=dict(base_params or {}), seed=seed, attrs={WORKER_ATTR: worker}
        ),
        n_trials=n_trials,
        gc_after_trial=False,
    )
    return n_trials


def create_study(storage: str, *, study_name: str | None = None, seed: int = 42) -> Any:
    """A new maximising study in ``storage``, seeded with the serial search's starting points.

    Raises
    ------
    ConfigError
        If ``storage`` is not a database URL.
    """
    import optuna

    if "://" not in storage:
        raise ConfigError(ERR_STORAGE.format(value=storage))
    study = optuna.create_study(
        study_name=study_name or f"greenscore-lightgbm-{uuid.uuid4().hex[:12]}",
        storage=storage,
        direction="maximize",
        sampler=lightgbm_sampler(seed, 10),
        pruner=lightgbm_pruner(),
    )
    for start in _starting_points():
        study.enqueue_trial(start)
    return study


def tune_lightgbm_parallel(
    client: Any,
    X: pd.DataFrame,  # noqa: N803
    y: np.ndarray,
    *,
    n_trials: int,
    storage: str,
    study_name: str | None = None,
    seed: int = 42,
    base_params: dict[str, Any] | None = None,
) -> tuple[dict[str, Any], Any]:
    """Search LightGBM parameters with every worker of ``client`` running trials of one study.

    Parameters
    ----------
    client : distributed.Client
        Its workers run the trials (``n_trials`` split between them).
    X, y : training rows (already through the feature pipeline), sent once to each worker.
    n_trials : trials in all.
    storage : Optuna storage URL the workers can reach, e.g.
        ``postgresql+psycopg://127.0.0.1:5432/test``.
    study_name : name of the new study (a fresh unique one by default).
    seed : worker ``k`` seeds its sampler and models with ``seed + k``.
    base_params : fixed LightGBM parameters the search starts from.

    Returns
    -------
    best_params : dict
        The winning parameters merged over ``base_params``, as the serial search returns.
    study : optuna.Study
        The shared study, loaded from ``storage``.

    Raises
    ------
    ConfigError
        For a bad storage URL or trial count.
    """
    import optuna

    if n_trials < 1:
        raise ConfigError(ERR_TRIALS.format(value=n_trials))
    study = create_study(storage, study_name=study_name, seed=seed)
    workers = list(client.scheduler_info(n_workers=-1)["workers"])
    shares = [len(part) for part in np.array_split(np.arange(n_trials), len(workers))]
    [data_x, data_y] = client.scatter([X, np.asarray(y)], broadcast=True)
    futures = [
        client.submit(
            run_trials,
            storage,
            study.study_name,
            data_x,
            data_y,
            n_trials=share,
            seed=seed + k,
            total_trials=n_trials,
            base_params=base_params,
            workers=[worker],
            pure=False,
        )
        for k, (worker, share) in enumerate(zip(workers, shares, strict=True))
        if share
    ]
    client.gather(futures)
    study = optuna.load_study(study_name=study.study_name, storage=storage)
    best = {**dict(base_params or {}), **study.best_params}
    log.info("tuned lightgbm in parallel", extra={"best_auc": study.best_value, "trials": n_trials})
    return best, study
