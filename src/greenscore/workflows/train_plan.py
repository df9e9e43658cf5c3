"""From what a user asked for to a validated dataset and :class:`TrainOptions`.

The shared first half of ``greenscore train`` and :func:`greenscore.train`: every usage
mistake (cut-offs, CV strategy, a non-empty output folder) is refused before any data is
read, then the data is loaded and validated and the model list resolved.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from greenscore.config import get_settings
from greenscore.data.loading import Dataset
from greenscore.errors import ConfigError
from greenscore.fairness.mitigation import BAD_GAP, parse_constraint
from greenscore.models.ensemble_plan import parse_duration
from greenscore.models.registry import auto_tune_trials, ensemble_members, parse_models
from greenscore.workflows.cutoffs import with_cutoffs
from greenscore.workflows.load import load_validated
from greenscore.workflows.out_folder import check_out_folder
from greenscore.workflows.train import TrainOptions

CV_STRATEGIES = ("stratified", "time")
ERR_CV_STRATEGY = "--cv-strategy must be stratified or time, not '{value}'"
ERR_CV_FOLDS = "cv must be between 2 and 20 folds, not {value}"
ERR_BUDGET_NEEDS_AUTO = "--time-budget plans an ensemble: use it with --models auto or ensemble"
DEFAULT_MODELS = "scorecard,lightgbm"
#: ``--models auto``'s budget when none is given.
DEFAULT_TIME_BUDGET = "20m"


def plan_training(
    data: str | Path,
    *,
    preset: str | None = None,
    spec: str | Path | None = None,
    target: str | None = None,
    query: str | None = None,
    models: str | Sequence[str] = DEFAULT_MODELS,
    cv: int | None = None,
    cv_strategy: str = "stratified",
    tune_trials: int | None = None,
    sampler: str | None = None,
    register: str | None = None,
    out: str | Path = "train-out",
    force: bool = False,
    seed: int | None = None,
    approve_below: float | None = None,
    decline_above: float | None = None,
    time_budget: str | float | None = None,
    fairness_constraint: str | None = None,
    max_gap: float = 0.05,
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
    settings = get_settings()
    if cv is None:
        cv = settings.training.cv_folds
    if not 2 <= cv <= 20:
        raise ConfigError(ERR_CV_FOLDS.format(value=cv))
    text = models if isinstance(models, str) else ",".join(models)
    auto = text.strip() == "auto"
    ensemble = auto or any(n.strip().partition(":")[0] == "ensemble" for n in text.split(","))
    if time_budget is not None and not ensemble:
        raise ConfigError(ERR_BUDGET_NEEDS_AUTO)
    budget = parse_duration(time_budget if time_budget is not None else DEFAULT_TIME_BUDGET)
    if fairness_constraint is not None and not 0 < max_gap < 1:
        raise ConfigError(BAD_GAP.format(value=max_gap))
    scoring = with_cutoffs(
        settings.scoring, approve_below=approve_below, decline_above=decline_above
    )
    out = check_out_folder(out, force=force)
    dataset, warnings = load_validated(
        data, preset=preset, spec_path=spec, target=target, query=query
    )
    if fairness_constraint is not None:
        dataset = _with_decision_attribute(dataset, fairness_constraint)
    names = parse_models(
        text,
        spec=dataset.spec,
        n_rows=len(dataset.frame),
        has_relations=dataset.relations is not None,
    )
    if tune_trials is None:
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
        time_budget=budget if ensemble and (auto or time_budget is not None) else None,
        fairness_constraint=fairness_constraint,
        max_gap=max_gap,
        auto=auto,
        members=ensemble_members(text),
    )
    return dataset, options, warnings


def _with_decision_attribute(dataset: Dataset, constraint: str) -> Dataset:
    """The dataset with its constraint's protected column among the model's inputs.

    A constrained model may read the group when deciding (group thresholds); the wrapped
    classifier itself never sees it (:class:`FairnessConstrainedClassifier`). Checks the
    constraint, naming what is wrong.
    """
    _, attribute = parse_constraint(constraint, dataset.spec, list(dataset.frame.columns))
    spec = dataset.spec.model_copy(update={"use_protected_as_features": True})
    # Only the constrained attribute joins the inputs: the other protected columns stay out.
    others = [c for c in spec.protected if c != attribute]
    spec = spec.model_copy(update={"drop": sorted({*spec.drop, *others})})
    return replace(dataset, spec=spec)
