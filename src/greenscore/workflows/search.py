"""``greenscore search``: data -> architecture study -> Pareto front -> the knee as a bundle.

The run, in order:

1. check the options (before any data is read), load and validate the data;
2. split a stratified hold-out (every candidate is measured on it, none trains on it),
   fit the feature steps once on the other rows;
3. open the study (:mod:`greenscore.models.search.storage`: created, or resumed when it
   exists) and add trials until the trial count or the time budget
   (:func:`greenscore.models.search.study.run_study`);
4. take the study's Pareto front and its knee (:mod:`greenscore.models.search.pareto`),
   refit the knee's candidate on **all** rows as an ordinary bundle (feature steps, model,
   reason codes, training ranges, cut-offs), save it and register it;
5. write ``pareto.json`` and ``pareto.html``.

The time budget is the whole run's: the study stops early enough to leave the refit its
time (the slowest fit seen, scaled to all rows, plus the writing).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from greenscore.config import ScoringSettings, get_settings, mask_url
from greenscore.data.loading import Dataset
from greenscore.errors import ConfigError
from greenscore.logging import get_logger
from greenscore.models.bundle import ScoringBundle
from greenscore.models.search.objectives import DIRECTIONS, GAP_METRIC, OBJECTIVES, load_average

log = get_logger(__name__)
Progress = Callable[[str, float], None]

DEFAULT_FAMILIES = "dnn,tcn,lstm,lightgbm"
DEFAULT_TIME_BUDGET = "10m"
BAD_HOLDOUT = "--holdout must be a share between 0.05 and 0.5 of the rows, not {value}"
NO_PROTECTED = (
    "the fairness objective needs a protected attribute: the spec declares none in this "
    "data; declare spec.protected or pass --protected COLUMN"
)
BAD_PROTECTED = (
    "--protected '{name}' is not a protected column of this data; choose from: {choices}"
)
KNEE = (
    "the front point nearest the utopia point: each objective scaled over the front to "
    "[0, 1] (0 = its best value on the front), smallest Euclidean distance to all-zeros; "
    "ties to the higher AUC"
)
METHODS = {
    "auc": "ROC AUC on the stratified hold-out (never trained on), scored through the runtime",
    "p99_latency_ms": (
        "99th percentile of ScoringRuntime.score on one raw applicant at a time (wall time, "
        "features included) over the hold-out's first applicants, after 5 warm-up calls"
    ),
    "kwh_per_1k": "energy_per_1k_predictions (CodeCarbon offline tracker) of batch scoring",
    "fairness_gap": (
        "demographic-parity difference (Fairlearn) of decline decisions between the "
        "protected attribute's groups on the hold-out, the riskiest applicants declined up "
        "to the hold-out's default rate (rankings compared, not calibration)"
    ),
}


@dataclass
class SearchOptions:
    """What ``greenscore search`` was asked to do."""

    families: list[str]
    time_budget: float
    out: Path
    study_name: str | None = None
    storage: str | None = None
    trials: int | None = None
    protected: str | None = None
    max_epochs: int = 8
    holdout: float = 0.2
    seed: int = 42
    sampler: str = "tpe"
    prune_margin: float = 0.03
    register: str | None = None
    latency_rows: int = 100
    #: Fit each trial on a stratified sample of this many non-hold-out rows (None: all of
    #: them): cheaper trials ranked at a lower fidelity; the knee is refitted on all rows.
    trial_rows: int | None = None
    scoring: ScoringSettings | None = None


@dataclass
class SearchResult:
    """What a search produced (``document`` is ``pareto.json``)."""

    document: dict[str, Any]
    front: list[dict[str, Any]]
    knee: dict[str, Any] | None
    bundle_path: Path | None
    registered_version: int | None = None
    files: dict[str, Path] = field(default_factory=dict)


def check_options(
    *, time_budget: str | float, holdout: float, trials: int | None, out: str | Path, force: bool
) -> tuple[float, Path]:
    """Refuse usage mistakes before any data is read; returns the budget (s) and out folder.

    Raises
    ------
    ConfigError
        For a budget that is not a duration, a hold-out share out of range, a trial count
        below one or a non-empty output folder without ``force``.
    """
    from greenscore.models.ensemble_plan import parse_duration
    from greenscore.workflows.out_folder import check_out_folder

    try:
        budget = parse_duration(time_budget)
    except ConfigError as exc:
        raise ConfigError(f"--time-budget: {exc.message}") from None
    if not 0.05 <= holdout <= 0.5:
        raise ConfigError(BAD_HOLDOUT.format(value=holdout))
    if trials is not None and trials < 1:
        raise ConfigError(f"--trials must be at least 1, not {trials}")
    return budget, check_out_folder(out, force=force)


def protected_attribute(dataset: Dataset, name: str | None) -> str:
    """The protected column the fairness objective groups by.

    Default: the spec's first protected column in the data that is not the age (the age
    is banded; name it to use it), else the first one.
    """
    from greenscore.fairness.groups import is_age_column

    present = [c for c in dataset.spec.protected if c in dataset.frame.columns]
    if name is not None:
        if name not in present:
            raise ConfigError(BAD_PROTECTED.format(name=name, choices=present or "none"))
        return name
    if not present:
        raise ConfigError(NO_PROTECTED)
    plain = [c for c in present if not is_age_column(c, dataset.spec)]
    return (plain or present)[0]


def _identity(
    dataset: Dataset, options: SearchOptions, families: list[str], attribute: str
) -> dict[str, Any]:
    return {
        "dataset_sha256": dataset.sha256,
        "rows": int(len(dataset.frame)),
        "holdout": float(options.holdout),
        "seed": int(options.seed),
        "families": ",".join(families),
        "protected": attribute,
        "max_epochs": int(options.max_epochs),
        "trial_rows": options.trial_rows,
        "objectives": ",".join(OBJECTIVES),
    }


def _inputs(dataset: Dataset, options: SearchOptions, attribute: str) -> tuple[Any, np.ndarray]:
    """The study's inputs, and the hold-out's row positions."""
    from sklearn.model_selection import train_test_split

    from greenscore.fairness.groups import sensitive_features
    from greenscore.features.pipeline import build_feature_pipeline
    from greenscore.models.search.objectives import Holdout
    from greenscore.models.search.study import StudyInputs
    from greenscore.workflows.train import _training_ranges

    X, y = dataset.X, dataset.y  # noqa: N806
    fit_rows, holdout_rows = train_test_split(
        np.arange(len(y)), test_size=options.holdout, stratify=y, random_state=options.seed
    )
    if options.trial_rows is not None and options.trial_rows < len(fit_rows):
        fit_rows, _ = train_test_split(
            fit_rows, train_size=options.trial_rows, stratify=y[fit_rows], random_state=options.seed
        )
    fit_rows, holdout_rows = np.sort(fit_rows), np.sort(holdout_rows)
    features = build_feature_pipeline(dataset.spec, relations=dataset.relations)
    fit_model_input = features.fit_transform(X.iloc[fit_rows], y[fit_rows])
    groups = sensitive_features(dataset.frame.iloc[holdout_rows], dataset.spec, [attribute])
    holdout = Holdout(
        X=X.iloc[holdout_rows],
        y=y[holdout_rows],
        groups=pd.Series(groups.iloc[:, 0].to_numpy(), index=X.index[holdout_rows]),
        attribute=str(groups.columns[0]),
    )
    inputs = StudyInputs(
        spec=dataset.spec,
        features=features,
        fit_model_input=fit_model_input,
        fit_y=y[fit_rows],
        holdout=holdout,
        scoring=options.scoring or get_settings().scoring,
        training_ranges=_training_ranges(dataset),
        relations=dataset.relations,
    )
    return inputs, holdout_rows


def search(
    dataset: Dataset, options: SearchOptions, *, progress: Progress | None = None
) -> SearchResult:
    """Run the whole search and write its outputs under ``options.out``.

    Raises
    ------
    ConfigError
        For families this data cannot use, a protected attribute it lacks, a storage that
        cannot be opened, or a stored study of the same name run on other terms.
    """
    from greenscore.json_document import write_json
    from greenscore.models.search.pareto import front, write_html
    from greenscore.models.search.space import check_families
    from greenscore.models.search.storage import default_storage, open_study
    from greenscore.models.search.study import StudySettings, run_study
    from greenscore.tracking.seeds import seed_everything

    progress = progress or (lambda _m, _a: None)
    began, wall = time.monotonic(), time.perf_counter()
    deadline = began + options.time_budget
    load_start = load_average()
    seed_everything(options.seed)
    families, skipped = check_families(options.families, has_sequences=bool(dataset.spec.sequences))
    for reason in skipped:
        log.warning("search family skipped", extra={"reason": reason})
    attribute = protected_attribute(dataset, options.protected)
    storage = options.storage or default_storage()
    name = options.study_name or f"search-{dataset.spec.name}"
    study = open_study(
        storage=storage,
        name=name,
        identity=_identity(dataset, options, families, attribute),
        sampler=options.sampler,
        seed=options.seed,
    )
    before = len(study.trials)
    inputs, holdout_rows = _inputs(dataset, options, attribute)
    settings = StudySettings(
        families=families,
        deadline=deadline,
        n_trials=options.trials,
        max_epochs=options.max_epochs,
        seed=options.seed,
        prune_margin=options.prune_margin,
        latency_rows=options.latency_rows,
        refit_scale=1.5 * len(dataset.frame) / len(inputs.fit_y),
        budget_s=options.time_budget,
    )
    ran = run_study(study, inputs, settings, progress=progress)
    points, knee_at = front(study)
    out = Path(options.out)
    out.mkdir(parents=True, exist_ok=True)
    knee = points[knee_at] if knee_at is not None else None
    bundle_path: Path | None = None
    refit: dict[str, Any] = {}
    if knee is not None:
        progress(
            f"refitting the knee, trial {knee['trial']} ({knee['candidate']}), on all rows", 0.0
        )
        sampled = dict(study.trials[knee["trial"]].params)
        bundle, refit = _refit_knee(
            dataset,
            options,
            knee,
            sampled,
            attribute,
            len(holdout_rows),
            name,
            ranges=inputs.training_ranges,
        )
        bundle_path = bundle.save(out / "model")
    registered = _register(bundle_path, options.register or f"{dataset.spec.name}-search-knee")
    document = {
        "study": {
            "name": name,
            "storage": mask_url(storage),
            "sampler": options.sampler,
            "trials_before": before,
            "trials_total": len(study.trials),
            "this_run": ran,
        },
        "objectives": [
            {"name": k, "direction": d, "method": METHODS[k]}
            for k, d in zip(OBJECTIVES, DIRECTIONS, strict=True)
        ],
        "protected_attribute": attribute,
        "fairness_metric": GAP_METRIC,
        "families": families,
        "families_skipped": skipped,
        "pruning": (
            f"a trial whose validation AUC at its check point (epoch 2 of a net, round 20 "
            f"of a booster) is more than {options.prune_margin} below the best check-point "
            f"AUC of its family's finished trials (once 2 finished), or that is still "
            f"fitting when the budget's time for trials is spent, is stopped and marked pruned"
        ),
        "knee_definition": KNEE,
        "non_dominated": len(points),
        "front": points,
        "knee": knee,
        "knee_bundle": {"path": str(bundle_path) if bundle_path else None, **refit, **registered},
        "data": {
            "location": dataset.location,
            "sha256": dataset.sha256,
            "rows": int(len(dataset.frame)),
            "holdout_rows": int(len(holdout_rows)),
        },
        "timing": {"budget_s": options.time_budget, "wall_s": time.perf_counter() - wall},
        "load_average": {"start": load_start, "end": load_average()},
    }
    files = {
        "json": write_json(out / "pareto.json", document),
        "html": write_html(out / "pareto.html", study, points, knee_at),
    }
    return SearchResult(
        document=document,
        front=points,
        knee=knee,
        bundle_path=bundle_path,
        registered_version=registered.get("registered_version"),
        files=files,
    )


def _refit_knee(
    dataset: Dataset,
    options: SearchOptions,
    knee: dict[str, Any],
    sampled: dict[str, Any],
    attribute: str,
    holdout_rows: int,
    study_name: str,
    ranges: dict[str, Any],
) -> tuple[ScoringBundle, dict[str, Any]]:
    """The knee's candidate fitted on every row, as a bundle ``score``/``serve`` take
    (``ranges``: the data's training ranges, computed once for the study's inputs)."""
    from greenscore.explain.reason_codes import attach_reason_codes
    from greenscore.features.imbalance import build_model_pipeline
    from greenscore.features.pipeline import build_feature_pipeline
    from greenscore.models.registry import make_estimator
    from greenscore.models.search.space import candidate_from_params
    from greenscore.models.search.study import candidate_bundle
    from greenscore.sustainability.energy import energy_per_1k_predictions, measure_energy
    from greenscore.workflows.train import _plain_params

    candidate = candidate_from_params(sampled, max_epochs=options.max_epochs)
    X, y = dataset.X, dataset.y  # noqa: N806
    pipeline = build_model_pipeline(
        build_feature_pipeline(dataset.spec, relations=dataset.relations),
        make_estimator(
            candidate.family,
            spec=dataset.spec,
            relations=dataset.relations,
            seed=options.seed,
            params=dict(candidate.params),
        ),
    )
    started = time.perf_counter()
    with measure_energy(f"search:refit:{candidate.family}") as reading:
        pipeline.fit(X, y)
    fit_s = time.perf_counter() - started
    # Built as every trial's candidate was (the same bundle the objectives measured).
    bundle = candidate_bundle(
        candidate,
        pipeline,
        spec=dataset.spec,
        scoring=options.scoring or get_settings().scoring,
        ranges=ranges,
    )
    attach_reason_codes(bundle, X, y)
    sample = X.iloc[: min(len(X), 5000)]
    per_1k = energy_per_1k_predictions(lambda frame: pipeline.predict_proba(frame), sample)
    objectives = knee["objectives"]
    meta = bundle.metadata
    meta.metrics = {
        # The hold-out figures are the knee trial's (fitted without the hold-out rows);
        # the bundle itself is refitted on every row, so it has no untouched rows left.
        "auc": objectives["auc"],
        "auc_method": (
            f"search hold-out ({holdout_rows} rows), fitted on "
            f"{options.trial_rows or 'all other'} rows before the refit on all rows"
        ),
        "p99_latency_ms": objectives["p99_latency_ms"],
        "search_kwh_per_1k": objectives["kwh_per_1k"],
        "fairness_gap": objectives["fairness_gap"],
        "fairness_attribute": attribute,
        "fit_seconds": fit_s,
        "energy_kwh": float(reading.kwh),
        "co2_kg": float(reading.co2_kg),
        "energy_method": reading.method,
        "energy_kwh_per_1k_predictions": float(per_1k.kwh_per_1k),
        "search": {"study": study_name, "trial": knee["trial"], "candidate": knee["candidate"]},
    }
    meta.params = _plain_params(bundle.estimator)
    meta.tuned_params = dict(knee["params"])
    # PDs of the refitted model on its own rows: the drift reference (no out-of-fold PDs
    # exist for a single refit).
    meta.training_pd = np.quantile(pipeline.predict_proba(X)[:, 1], np.linspace(0, 1, 101)).tolist()
    meta.lineage = {"dataset_sha256": dataset.sha256, "rows": len(y), "location": dataset.location}
    meta.seed = options.seed
    return bundle, {
        "candidate": candidate.describe(),
        "refit_seconds": fit_s,
        "refit_kwh": float(reading.kwh),
        "energy_kwh_per_1k_predictions": float(per_1k.kwh_per_1k),
    }


def _register(bundle_path: Path | None, name: str) -> dict[str, Any]:
    """Register the knee bundle when tracking is on; say why not otherwise."""
    if bundle_path is None:
        return {"registered": None, "not_registered": "no trial completed"}
    if not get_settings().tracking.enabled:
        return {"registered": None, "not_registered": "tracking is disabled in the settings"}
    from greenscore.tracking.registry import register_bundle

    version = register_bundle(bundle_path, name=name, alias=None)
    return {"registered": f"models:/{name}/{version}", "registered_version": version}
