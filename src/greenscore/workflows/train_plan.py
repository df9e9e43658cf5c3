"""From what a user asked for to a validated dataset and :class:`TrainOptions`.

The shared first half of ``greenscore train`` and :func:`greenscore.train`: every usage
mistake (cut-offs, CV strategy, a non-empty output folder) is refused before any data is
read, then the data is loaded and validated and the model list resolved.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from greenscore.config import get_settings
from greenscore.data.loading import Dataset
from greenscore.errors import ConfigError
from greenscore.models.registry import auto_tune_trials, parse_models
from greenscore.workflows.cutoffs import with_cutoffs
from greenscore.workflows.load import load_validated
from greenscore.workflows.out_folder import check_out_folder
from greenscore.workflows.train import TrainOptions

CV_STRATEGIES = ("stratified", "time")
ERR_CV_STRATEGY = "--cv-strategy must be stratified or time, not '{value}'"
ERR_CV_FOLDS = "cv must be between 2 and 20 folds, not {value}"
DEFAULT_MODELS = "scorecard,lightgbm"


def plan_training(
    data: str | Path,
    *,
    preset: str | None = None,
    spec: str | Path | None = None,
    target: str | None = None,
    query: str | None = None,
    models: str | Sequence[str] = DEFAULT_MODELS,
    cv: int = 5,
    cv_strategy: str = "stratified",
    tune_trials: int | None = None,
    sampler: str | None = None,
    register: str | None = None,
    out: str | Path = "train-out",
    force: bool = False,
    seed: int | None = None,
    approve_below: float | None = None,
    decline_above: float | None = None,
) -> tuple[Dataset, TrainOptions, list[str]]:
    """Check the request, load and validate the data, and resolve the options.

    Parameters are those of :func:`greenscore.train` (``greenscore train``'s options).

    Returns
    -------
    dataset : Dataset
        The validated data.
    options : TrainOptions
        What :func:`greenscore.workflows.train.train` is to do.
    warnings : list of str
        Validation warnings, for the caller to show.

    Raises
    ------
    ConfigError
        For a bad option (before any data is read).
    DataError
        When the data cannot be read or fails validation.
    """
    if cv_strategy not in CV_STRATEGIES:
        raise ConfigError(ERR_CV_STRATEGY.format(value=cv_strategy))
    if not 2 <= cv <= 20:
        raise ConfigError(ERR_CV_FOLDS.format(value=cv))
    settings = get_settings()
    scoring = with_cutoffs(
        settings.scoring, approve_below=approve_below, decline_above=decline_above
    )
    out = check_out_folder(out, force=force)
    dataset, warnings = load_validated(
        data, preset=preset, spec_path=spec, target=target, query=query
    )
    text = models if isinstance(models, str) else ",".join(models)
    names = parse_models(
        text,
        spec=dataset.spec,
        n_rows=len(dataset.frame),
        has_relations=dataset.relations is not None,
    )
    if tune_trials is None:
        auto = text.strip() == "auto"
        tune_trials = (
            auto_tune_trials(len(dataset.frame)) if auto else settings.training.tune_trials
        )
    options = TrainOptions(
        models=names,
        cv=cv,
        cv_strategy=cv_strategy,
        tune_trials=tune_trials,
        sampler=sampler,
        register=register,
        out=out,
        seed=settings.seed if seed is None else seed,
        scoring=scoring,
    )
    return dataset, options, warnings
