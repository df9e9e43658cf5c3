"""``greenscore train``: cross-validate each requested model on one set of folds, measure
energy around every fit, compare the models, fit the final bundles on all rows and record
everything (metrics.json, report.html, model/, an MLflow run, optionally a registered version).

Every transformer is fitted inside the fold it serves: the validation rows of a fold never
touch the feature pipeline, the sampler, the tuner or the model that scores them.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from greenscore.config import ScoringSettings, get_settings
from greenscore.data.loading import Dataset
from greenscore.errors import DataError
from greenscore.json_document import write_json
from greenscore.logging import get_logger
from greenscore.models.bundle import ScoringBundle
from greenscore.models.registry import TUNABLE, UNCALIBRATED, make_estimator

log = get_logger(__name__)

#: Keys every model carries in metrics.json.
METRIC_KEYS = (
    "auc",
    "auc_std",
    "gini",
    "ks",
    "brier",
    "pr_auc",
    "ece",
    "fit_seconds",
    "energy_kwh",
    "co2_kg",
    "energy_method",
    "energy_kwh_per_1k_predictions",
)

Progress = Callable[[str, float], None]


@dataclass
class TrainOptions:
    """What ``greenscore train`` was asked to do."""

    models: list[str]
    cv: int = 5
    cv_strategy: str = "stratified"
    tune_trials: int = 0
    sampler: str | None = None
    register: str | None = None
    out: Path = Path("train-out")
    seed: int = 42
    #: Points scaling and decision cut-offs stored in every bundle (None: settings.scoring).
    scoring: ScoringSettings | None = None
    #: Seconds the whole train may take (``--time-budget``; ``auto`` plans within it).
    time_budget: float | None = None
    #: The ensemble's members (``--models auto`` fills this from its plan).
    members: list[str] | None = None
    #: Tuning trials per model when a plan chose them (else ``tune_trials`` for each).
    member_trials: dict[str, int] | None = None
    #: Train under ``demographic_parity`` or ``equalized_odds`` (``--fairness-constraint``).
    fairness_constraint: str | None = None
    #: Largest gap the constraint allows (``--max-gap``).
    max_gap: float = 0.05
    #: Calibrate every model's PDs on inner folds (all but the scorecard, see registry).
    calibrate: bool = True
    #: ``--models auto``: the plan chooses the ensemble's members and trials in the budget
    #: (``tune_trials`` is then the most trials per member).
    auto: bool = False
    #: What ``auto`` planned (members, trials, what it skipped and why).
    plan: Any = None


@dataclass
class ModelResult:
    """Cross-validated figures and the final bundle of one model."""

    name: str
    oof: np.ndarray
    fold_metrics: list[dict[str, float]]
    summary: dict[str, Any]
    bundle: ScoringBundle
    tuned_params: dict[str, Any] = field(default_factory=dict)


@dataclass
class TrainResult:
    """Everything one train produced."""

    metrics: dict[str, Any]
    results: dict[str, ModelResult]
    best: str
    out: Path
    run_id: str | None = None
    registered_version: int | None = None


def _model_pipeline(
    name: str, dataset: Dataset, options: TrainOptions, params: dict[str, Any]
) -> Any:
    from greenscore.features.imbalance import build_model_pipeline, make_sampler
    from greenscore.features.pipeline import build_feature_pipeline
    from greenscore.models.calibration import CalibratedClassifier

    features = build_feature_pipeline(dataset.spec, relations=dataset.relations)
    if name == "ensemble":
        params = {"members": options.members, "member_params": params}
    estimator = make_estimator(
        name, spec=dataset.spec, relations=dataset.relations, seed=options.seed, params=params
    )
    if options.calibrate and name not in UNCALIBRATED:
        # Calibration is the bundle's last step: a monotone map chosen on inner folds.
        estimator = CalibratedClassifier(estimator, random_state=options.seed)
    if options.fairness_constraint:
        from greenscore.fairness.mitigation import constrained_classifier

        estimator = constrained_classifier(
            estimator,
            spec=dataset.spec,
            constraint=options.fairness_constraint,
            max_gap=options.max_gap,
            cut=(options.scoring or get_settings().scoring).decline_above,
            seed=options.seed,
        )
    sampler = make_sampler(options.sampler) if options.sampler else None
    return build_model_pipeline(features, estimator, sampler=sampler)


def _calibrations(results: dict[str, ModelResult]) -> dict[str, dict[str, Any]]:
    """Each served model's calibration step (under a fairness constraint too): its map, how
    it was chosen and what it was fitted on."""
    from greenscore.models.calibration import CalibratedClassifier

    found = {}
    for name, result in results.items():
        step = result.bundle.estimator
        if not isinstance(step, CalibratedClassifier):
            step = getattr(step, "estimator_", None)  # a fairness constraint's model
        if isinstance(step, CalibratedClassifier):
            found[name] = step.summary()
    return found


def _trials(name: str, options: TrainOptions) -> int:
    if name not in TUNABLE:
        return 0
    if options.member_trials is not None:
        return options.member_trials.get(name, 0)
    return options.tune_trials


def _tune(
    name: str,
    dataset: Dataset,
    X: pd.DataFrame,  # noqa: N803
    y: np.ndarray,
    options: TrainOptions,
    label: str,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Tune on these rows only (an outer training fold, or all rows for the final model).

    Every tunable model is tuned (each member of an ensemble), and the search is metered:
    returns the parameters (per member for an ensemble) and the search's seconds and kWh.
    """
    names = (options.members or []) if name == "ensemble" else [name]
    plan = {n: _trials(n, options) for n in names}
    plan = {n: t for n, t in plan.items() if t > 0}
    cost: dict[str, Any] = {
        "seconds": 0.0,
        "kwh": 0.0,
        "co2_kg": 0.0,
        "trials": 0,
        "member_seconds": {},
    }
    if not plan:
        return {}, cost
    from greenscore.features.pipeline import build_feature_pipeline
    from greenscore.models.tuning import tune_member
    from greenscore.sustainability.energy import measure_energy

    tuned: dict[str, dict[str, Any]] = {}
    started = time.perf_counter()
    with measure_energy(label) as reading:
        features = build_feature_pipeline(dataset.spec, relations=dataset.relations)
        transformed = features.fit_transform(X, y)
        # The features' fit serves every search: each member's seconds carry a share of it.
        shared = (time.perf_counter() - started) / len(plan)
        for member, trials in plan.items():
            member_started = time.perf_counter()
            try:
                tuned[member], info = tune_member(
                    member,
                    transformed,
                    y,
                    spec=dataset.spec,
                    relations=dataset.relations,
                    n_trials=trials,
                    seed=options.seed,
                )
            except Exception as exc:  # noqa: BLE001 - a member's failed search keeps its defaults
                if name != "ensemble":
                    raise
                log.warning("tuning failed", extra={"member": member, "reason": str(exc)})
                continue
            finally:
                cost["member_seconds"][member] = shared + time.perf_counter() - member_started
            cost["trials"] += int(info["trials"])
    cost["seconds"] = time.perf_counter() - started
    cost["kwh"] = float(reading.kwh)
    cost["co2_kg"] = float(reading.co2_kg)
    return (tuned if name == "ensemble" else tuned.get(name, {})), cost


def _fit_measured(
    pipeline: Any, X: pd.DataFrame, y: np.ndarray, label: str
) -> tuple[Any, dict[str, Any]]:  # noqa: N803
    from greenscore.sustainability.energy import measure_energy

    with measure_energy(label) as reading:
        pipeline.fit(X, y)
    return pipeline, reading.to_dict()


def _cross_validate(
    name: str,
    dataset: Dataset,
    folds: list[tuple[np.ndarray, np.ndarray]],
    options: TrainOptions,
    progress: Progress,
    deadline: float | None = None,
) -> tuple[
    np.ndarray, list[dict[str, float]], list[dict[str, Any]], list[dict[str, Any]], list[Any]
]:
    from greenscore.evaluation.metrics import credit_metrics
    from greenscore.workflows.train_ensemble import member_outputs

    X, y = dataset.X, dataset.y  # noqa: N806
    oof = np.full(len(y), np.nan)
    fold_metrics: list[dict[str, float]] = []
    energies: list[dict[str, Any]] = []
    tuned: list[dict[str, Any]] = []
    members: list[Any] = []
    for k, (train_idx, val_idx) in enumerate(folds):
        X_tr, y_tr = X.iloc[train_idx], y[train_idx]  # noqa: N806
        params, tuning = _tune(name, dataset, X_tr, y_tr, options, f"tune:{name}:fold{k}")
        tuned.append(params)
        pipeline = _model_pipeline(name, dataset, options, params)
        started = time.perf_counter()
        pipeline, energy = _fit_measured(pipeline, X_tr, y_tr, f"fit:{name}:fold{k}")
        energy["fit_seconds"] = time.perf_counter() - started
        energy["tuning"] = tuning
        energies.append(energy)
        oof[val_idx] = pipeline.predict_proba(X.iloc[val_idx])[:, 1]
        members.append(member_outputs(pipeline, X.iloc[val_idx]))
        fold_metrics.append(credit_metrics(y[val_idx], oof[val_idx]))
        progress(f"{name}: fold {k + 1}/{len(folds)} AUC {fold_metrics[-1]['auc']:.4f}", 1.0)
        if deadline is not None and members[-1] is not None:
            _keep_to_budget(options, members[-1], tuning, k + 1, len(folds), deadline, progress)
    return oof, fold_metrics, energies, tuned, members


def _keep_to_budget(
    options: TrainOptions,
    output: dict[str, Any],
    tuning: dict[str, Any],
    done: int,
    total: int,
    deadline: float,
    progress: Progress,
) -> None:
    """After an outer fold of a budgeted ensemble: cut members' tuning, then members, if the
    rest of the run would end past the deadline at the pace this fold measured."""
    from greenscore.models.ensemble_plan import RESERVE
    from greenscore.workflows.train_ensemble import final_fit_factor, keep_to_budget

    assert options.time_budget is not None  # a deadline comes from a budget
    members = list(options.members or [])
    trials = (
        dict(options.member_trials)
        if options.member_trials is not None
        else {n: options.tune_trials for n in members if n in TUNABLE}
    )
    kept, trials, cut = keep_to_budget(
        members,
        trials,
        member_seconds=output["fit_seconds"],
        tuning_seconds=tuning["member_seconds"],
        folds_done=done,
        folds_left=total - done,
        final_factor=final_fit_factor(total),
        seconds_left=deadline - time.perf_counter() - RESERVE * options.time_budget,
    )
    if not cut:
        return
    options.members, options.member_trials = kept, trials
    if options.plan is not None:
        options.plan.cut.update(cut)
    for what, reason in cut.items():
        log.warning("auto cut to keep to its time budget", extra={"cut": what, "reason": reason})
        progress(f"time budget: {what} {reason.split(' after ')[0]}", 0.0)


def _final_bundle(
    name: str, dataset: Dataset, options: TrainOptions
) -> tuple[ScoringBundle, dict[str, Any], dict[str, Any]]:
    from greenscore.sustainability.energy import energy_per_1k_predictions

    X, y = dataset.X, dataset.y  # noqa: N806
    params, tuning = _tune(name, dataset, X, y, options, f"tune:{name}:final")
    pipeline = _model_pipeline(name, dataset, options, params)
    started = time.perf_counter()
    pipeline, energy = _fit_measured(pipeline, X, y, f"fit:{name}:final")
    energy["fit_seconds"] = time.perf_counter() - started
    energy["tuning"] = tuning
    bundle = ScoringBundle(
        name=name,
        spec=dataset.spec,
        pipeline=pipeline,
        scoring=options.scoring or get_settings().scoring,
    )
    from greenscore.explain.reason_codes import attach_reason_codes

    # The code table (stable codes, training medians for "high"/"low" wording, the side of
    # typical where each feature raises risk, checked against the outcomes) ships with the model.
    attach_reason_codes(bundle, X, y)
    sample = X.iloc[: min(len(X), 5000)]
    energy["energy_kwh_per_1k_predictions"] = energy_per_1k_predictions(
        lambda frame: pipeline.predict_proba(frame), sample
    )
    return bundle, energy, params


def _training_ranges(dataset: Dataset) -> dict[str, Any]:
    """Per-feature ranges and levels seen in training, for out-of-range checks when serving."""
    X = dataset.X  # noqa: N806
    ranges: dict[str, Any] = {}
    for column in X.columns:
        s = X[column]
        if pd.api.types.is_numeric_dtype(s) and not isinstance(s.dtype, pd.CategoricalDtype):
            valid = s.dropna()
            if len(valid):
                ranges[column] = {
                    "min": float(valid.min()),
                    "max": float(valid.max()),
                    "p01": float(valid.quantile(0.01)),
                    "p99": float(valid.quantile(0.99)),
                }
        else:
            ranges[column] = {"levels": sorted(map(str, s.dropna().unique()))[:500]}
    return ranges


def _summary(
    fold_metrics: list[dict[str, float]],
    fold_energy: list[dict[str, Any]],
    final_energy: dict[str, Any],
) -> dict[str, Any]:
    from greenscore.evaluation.cv import summarise

    summary = summarise(fold_metrics)
    summary["fit_seconds"] = float(np.mean([e["fit_seconds"] for e in fold_energy]))
    summary["energy_kwh"] = float(np.mean([e["kwh"] for e in fold_energy]))
    summary["co2_kg"] = float(np.mean([e["co2_kg"] for e in fold_energy]))
    summary["energy_method"] = fold_energy[0]["method"]
    summary["energy_kwh_per_1k_predictions"] = float(final_energy["energy_kwh_per_1k_predictions"])
    summary["final_fit_seconds"] = float(final_energy["fit_seconds"])
    summary["final_energy_kwh"] = float(final_energy["kwh"])
    summary["final_co2_kg"] = float(final_energy["co2_kg"])
    # The tuning searches (one per outer fold, one for the final model) are metered apart
    # from the fits and counted in the totals: what training this model cost in all.
    searches = [e["tuning"] for e in [*fold_energy, final_energy] if "tuning" in e]
    summary["tuning_trials"] = int(sum(t["trials"] for t in searches))
    summary["tuning_seconds"] = float(sum(t["seconds"] for t in searches))
    summary["tuning_kwh"] = float(sum(t["kwh"] for t in searches))
    summary["total_energy_kwh"] = float(
        sum(e["kwh"] for e in fold_energy) + final_energy["kwh"] + summary["tuning_kwh"]
    )
    summary["total_co2_kg"] = float(
        sum(e["co2_kg"] for e in fold_energy)
        + final_energy["co2_kg"]
        + sum(t["co2_kg"] for t in searches)
    )
    return summary


def _charge_plan_probes(summary: dict[str, Any], plan: Any) -> None:
    """Add the auto plan's probe fits to the ensemble's totals, once.

    The probes were fitted only to plan this ensemble, so they are part of what training
    it cost. Every reader of a run's energy (the carbon ledger, the MLflow run behind the
    ESG report and dashboard, the ledger's estimates of later trainings) sums the models'
    ``total_energy_kwh``: charged here, they are counted by all of them and by none twice.
    A plan whose probes were not metered (NaN) adds nothing.
    """
    kwh = float(getattr(plan, "probe_kwh", math.nan))
    if plan is None or not math.isfinite(kwh):
        return
    co2 = float(getattr(plan, "probe_co2_kg", math.nan))
    summary["plan_probe_kwh"] = kwh
    summary["total_energy_kwh"] = float(summary["total_energy_kwh"] + kwh)
    if math.isfinite(co2):
        summary["plan_probe_co2_kg"] = co2
        summary["total_co2_kg"] = float(summary["total_co2_kg"] + co2)


def scored_rows(results: dict[str, ModelResult]) -> np.ndarray:
    """Rows with an out-of-fold prediction (time-series CV never validates its first block)."""
    return np.logical_and.reduce([np.isfinite(r.oof) for r in results.values()])


def _comparisons(results: dict[str, ModelResult], y: np.ndarray) -> dict[str, Any]:
    """DeLong test of each pair of models, with the AUCs it compared.

    The test runs on the pooled out-of-fold predictions (every row every model scored),
    so the AUCs beside it are the pooled ones: the mean fold AUCs (``models``) differ,
    and showing those next to the z would show a gap the test never measured.
    """
    from greenscore.evaluation.stats import delong_covariance, delong_test

    names = list(results)
    out: dict[str, Any] = {}
    scored = scored_rows(results)
    for i, a in enumerate(names):
        for b in names[i + 1 :]:
            y_s, p_a, p_b = y[scored], results[a].oof[scored], results[b].oof[scored]
            aucs, _ = delong_covariance(y_s, p_a, p_b)
            z, p = delong_test(y_s, p_a, p_b)
            out[f"{a}_vs_{b}"] = {
                "pooled_auc_a": float(aucs[0]),
                "pooled_auc_b": float(aucs[1]),
                "delong_z": float(z),
                "delong_p": float(p),
                "rows": int(scored.sum()),
                "test": "DeLong on pooled out-of-fold predictions",
            }
    return out


def _folds(dataset: Dataset, options: TrainOptions) -> list[tuple[np.ndarray, np.ndarray]]:
    from greenscore.evaluation.cv import fold_strategy, make_folds

    times = None
    if options.cv_strategy == "time":
        column = dataset.spec.time_column
        if not column or column not in dataset.frame.columns:
            raise DataError("--cv-strategy time needs the spec's time_column in the data")
        times = pd.to_datetime(dataset.frame[column]).to_numpy()
    return make_folds(
        dataset.y,
        strategy=fold_strategy(options.cv_strategy),
        n_splits=options.cv,
        seed=options.seed,
        times=times,
    )


def train(
    dataset: Dataset, options: TrainOptions, *, progress: Progress | None = None
) -> TrainResult:
    """Run the whole train job and write its outputs under ``options.out``.

    Parameters
    ----------
    dataset : a validated dataset.
    options : models, CV, tuning, registration and output folder.
    progress : called with (message, advance) after each unit of work.
    """
    from greenscore.sustainability.budgets import (
        check_training_budget,
        estimate_training_kwh,
        record_training,
    )
    from greenscore.tracking.seeds import seed_everything

    progress = progress or (lambda _msg, _adv: None)
    started = time.perf_counter()
    seed_everything(options.seed)
    out = Path(options.out)
    out.mkdir(parents=True, exist_ok=True)
    folds = _folds(dataset, options)
    if "ensemble" in options.models and options.members is None:
        _plan_ensemble(dataset, options, started)
        progress(f"auto: members {', '.join(options.members or [])}", 0.0)
    # Carbon budgets: estimated from measured fits; refused when sustainability.budget_mode
    # is "refuse" and a budget would be exceeded.
    check_training_budget(
        estimate_training_kwh(options.models, rows=len(dataset.y), fits=len(folds) + 1),
        models=options.models,
    )
    y = dataset.y
    ranges = _training_ranges(dataset)
    results: dict[str, ModelResult] = {}
    outputs: dict[str, list[Any]] = {}
    # A budgeted ensemble keeps to its budget as it goes (cutting tuning, then members).
    deadline = (
        started + options.time_budget
        if options.time_budget is not None and options.plan is not None
        else None
    )
    for name in options.models:
        oof, fold_metrics, fold_energy, tuned, outputs[name] = _cross_validate(
            name, dataset, folds, options, progress, deadline if name == "ensemble" else None
        )
        bundle, final_energy, final_params = _final_bundle(name, dataset, options)
        progress(f"{name}: final fit done", 1.0)
        summary = _summary(fold_metrics, fold_energy, final_energy)
        if name == "ensemble":
            _charge_plan_probes(summary, options.plan)
        meta = bundle.metadata
        meta.metrics = summary
        meta.params = _plain_params(bundle.estimator)
        meta.tuned_params = final_params
        meta.training_ranges = ranges
        meta.training_pd = np.quantile(oof[~np.isnan(oof)], np.linspace(0, 1, 101)).tolist()
        meta.lineage = {
            "dataset_sha256": dataset.sha256,
            "rows": len(y),
            "location": dataset.location,
        }
        meta.seed = options.seed
        results[name] = ModelResult(name, oof, fold_metrics, summary, bundle, final_params)
    ensemble = _ensemble_figures(dataset, options, folds, results, outputs, ranges)
    # The ensemble is the served model; otherwise the model with the best mean AUC.
    best = (
        "ensemble"
        if ensemble is not None
        else max(results, key=lambda n: results[n].summary["auc"])
    )
    metrics: dict[str, Any] = {
        "models": {n: r.summary for n, r in results.items()},
        "best": best,
        "dataset": {
            "rows": int(len(y)),
            "sha256": dataset.sha256,
            "spec": dataset.spec.name,
            "default_rate": float(y.mean()),
            "location": dataset.location,
        },
        "cv": {
            "folds": len(folds),
            "strategy": options.cv_strategy,
            "seed": options.seed,
            "tune_trials": options.tune_trials,
            "sampler": options.sampler,
        },
        "comparisons": _comparisons(results, y),
    }
    if ensemble is not None:
        metrics["ensemble"] = ensemble
    metrics["cv"]["time_budget_s"] = options.time_budget
    metrics["cv"]["fairness_constraint"] = options.fairness_constraint
    if options.fairness_constraint:
        metrics["cv"]["max_gap"] = options.max_gap
        # What each served model's constraint did: the method (a group threshold makes the
        # model read the group when deciding), the shifts, the gap before and after.
        metrics["fairness_constraint"] = {
            name: r.bundle.estimator.summary()
            for name, r in results.items()
            if hasattr(r.bundle.estimator, "summary")
        }
    metrics["calibration"] = _calibrations(results)
    probe_kwh = float(getattr(options.plan, "probe_kwh", 0.0) or 0.0)
    metrics["energy"] = {
        # The plan's probe fits are in the ensemble's total_energy_kwh (_charge_plan_probes):
        # summing the models' totals counts them once.
        "total_kwh": float(
            np.nansum([r.summary.get("total_energy_kwh", np.nan) for r in results.values()])
        ),
        "tuning_kwh": float(
            np.nansum([r.summary.get("tuning_kwh", np.nan) for r in results.values()])
        ),
        "plan_probe_kwh": probe_kwh,
        "includes": (
            "every cross-validation fit, final fit and tuning search of every model, and "
            "the auto plan's probe fits (in the ensemble's total)"
        ),
    }
    metrics["fairness"] = _fairness(results[best], dataset, options.seed)
    _write_outputs(out, dataset, results, metrics, best)
    result = TrainResult(metrics=metrics, results=results, best=best, out=out)
    from greenscore.documentation.run_docs import write_run_documents

    # Model card, SR 11-7 pack and Annex IV document, from the files just written (issue 20).
    write_run_documents(out, dataset, {n: r.oof for n, r in results.items()}, metrics)
    _track(result, dataset, options)
    record_training(metrics, run_id=result.run_id, rows=len(y))  # carbon ledger and budget alerts
    # Written again so the file also names the MLflow run and registered version; the first
    # write (before tracking) is what the run logs as its artifact.
    write_json(out / "metrics.json", metrics)
    from greenscore.documentation.dossier import write_dossier

    # The SR 11-7 and Annex IV documents cite metrics.json by its SHA-256: the copies in the
    # run folder cite the file as it stays (the MLflow run keeps the pair as first written).
    write_dossier(out)
    return result


def _plan_ensemble(dataset: Dataset, options: TrainOptions, started: float) -> None:
    """Choose the ensemble's members (and, for ``auto``, their trials) on this data."""
    from greenscore.sustainability.energy import measure_energy
    from greenscore.workflows.train_ensemble import plan_members

    # The probe fits are part of what the run cost: metered, and counted in its totals.
    with measure_energy("plan:ensemble") as reading:
        plan = plan_members(
            dataset,
            budget_s=options.time_budget,
            outer_folds=len(_folds(dataset, options)),
            seed=options.seed,
            tune_trials=None if options.auto else options.tune_trials,
            max_trials=options.tune_trials,
            started=started,
        )
    plan.probe_kwh = float(reading.kwh)
    plan.probe_co2_kg = float(reading.co2_kg)
    if not plan.members:
        raise DataError(f"no ensemble member could be fitted on this data: {plan.skipped}")
    options.members = plan.members
    options.member_trials = plan.trials
    options.plan = plan
    for name, reason in plan.skipped.items():
        log.warning("auto skipped a member", extra={"member": name, "reason": reason})


def _ensemble_figures(
    dataset: Dataset,
    options: TrainOptions,
    folds: list[tuple[np.ndarray, np.ndarray]],
    results: dict[str, ModelResult],
    outputs: dict[str, list[Any]],
    ranges: dict[str, Any],
) -> dict[str, Any] | None:
    """The ensemble's section of metrics.json, and its scorecard member as the fallback."""
    if "ensemble" not in results:
        return None
    from greenscore.explain.reason_codes import attach_reason_codes
    from greenscore.models.ensemble_contrib import logit
    from greenscore.sustainability.energy import energy_per_1k_predictions
    from greenscore.sustainability.intensity import co2_kg, configured_factor
    from greenscore.workflows.train_ensemble import (
        FALLBACK,
        ensemble_summary,
        fallback_figures,
        fallback_pipeline,
        find_ensemble,
    )

    result = results["ensemble"]
    final = find_ensemble(result.bundle.estimator)
    assert final is not None  # the "ensemble" result holds one
    scored = np.isfinite(result.oof)
    ensemble_oof = np.full(len(dataset.y), np.nan)
    ensemble_oof[scored] = logit(result.oof[scored])
    section = ensemble_summary(
        dataset.y,
        folds=folds,
        ensemble_oof=ensemble_oof,
        outputs=outputs["ensemble"],
        final=final,
        plan=options.plan,
    )
    figures = fallback_figures(dataset.y, folds, outputs["ensemble"])
    pipeline = fallback_pipeline(result.bundle.pipeline)
    if FALLBACK in results or figures is None or pipeline is None:
        return section
    oof, fold_metrics, fold_costs = figures
    bundle = ScoringBundle(
        name=FALLBACK, spec=dataset.spec, pipeline=pipeline, scoring=result.bundle.scoring
    )
    attach_reason_codes(bundle, dataset.X, dataset.y)
    sample = dataset.X.iloc[: min(len(dataset.X), 5000)]
    method = result.summary["energy_method"]
    # The member's fits were metered inside the ensemble's, in kWh; their carbon is that
    # energy at the grid factor every reading of this run uses (the configured place).
    factor = configured_factor()
    fold_energy = [
        {
            "fit_seconds": c["fit_seconds"],
            "kwh": c["kwh"],
            "co2_kg": co2_kg(c["kwh"], factor),
            "method": method,
        }
        for c in fold_costs
    ]
    final_kwh = final.energy_kwh_.get(FALLBACK, np.nan)
    final_energy = {
        "fit_seconds": final.fit_seconds_.get(FALLBACK, 0.0),
        "kwh": final_kwh,
        "co2_kg": co2_kg(final_kwh, factor),
        "energy_kwh_per_1k_predictions": energy_per_1k_predictions(
            lambda frame: pipeline.predict_proba(frame), sample
        ),
    }
    summary = _summary(fold_metrics, fold_energy, final_energy)
    # Its fits are the ensemble's scorecard member's, already in the ensemble's totals.
    summary["total_energy_kwh"] = 0.0
    summary["total_co2_kg"] = 0.0
    summary["energy_counted_in"] = "ensemble"
    summary["fallback_for"] = "ensemble"
    meta = bundle.metadata
    meta.metrics = summary
    meta.params = _plain_params(bundle.estimator)
    meta.training_ranges = ranges
    meta.training_pd = np.quantile(oof, np.linspace(0, 1, 101)).tolist()
    meta.lineage = {
        "dataset_sha256": dataset.sha256,
        "rows": len(dataset.y),
        "location": dataset.location,
    }
    meta.seed = options.seed
    results[FALLBACK] = ModelResult(FALLBACK, oof, fold_metrics, summary, bundle, {})
    return section


def _plain_params(estimator: Any) -> dict[str, Any]:
    """The classifier's own parameters as JSON-ready values (nested models by name)."""
    out: dict[str, Any] = {}
    for key, value in estimator.get_params(deep=False).items():
        if isinstance(value, str | int | float | bool | type(None)):
            out[key] = value
        elif isinstance(value, list | tuple) and all(isinstance(v, tuple) for v in value):
            out[key] = [str(v[0]) for v in value]  # an ensemble's (name, model) members
        elif isinstance(value, dict):
            out[key] = {str(k): v for k, v in value.items() if isinstance(v, str | int | float)}
        else:
            out[key] = type(value).__name__
    return out


def _fairness(result: ModelResult, dataset: Dataset, seed: int) -> dict[str, Any] | None:
    """Fairness of the best model by the spec's protected groups, on out-of-fold decisions.

    Each applicant's decision comes from the fold model that never saw them, at the final
    bundle's cut-offs: the final model's decisions on its own training rows would flatter
    it (and its groups) as much as its in-sample AUC does.
    """
    present = [c for c in dataset.spec.protected if c in dataset.frame.columns]
    if not present:
        return None
    from greenscore.fairness.groups import sensitive_features
    from greenscore.fairness.metrics import fairness_report

    scored = np.isfinite(result.oof)
    pd_ = result.oof[scored]
    summary = fairness_report(
        dataset.y[scored],
        pd_,
        result.bundle.decisions(pd_),
        sensitive_features(dataset.frame.iloc[np.flatnonzero(scored)], dataset.spec, present),
        n_boot=100,
        seed=seed,
    )
    summary["model"] = result.name
    summary["decisions"] = (
        f"out-of-fold: each of {int(scored.sum()):,} applicants scored by the cross-validation "
        f"model that did not train on them, at cut-offs approve below "
        f"{result.bundle.scoring.approve_below:g} / decline above "
        f"{result.bundle.scoring.decline_above:g}"
    )
    return summary


def _write_outputs(
    out: Path, dataset: Dataset, results: dict[str, ModelResult], metrics: dict[str, Any], best: str
) -> None:
    from greenscore.workflows.train_report import write_train_report

    for name, result in results.items():
        result.bundle.save(out / "models" / name)
    results[best].bundle.save(out / "model")
    write_json(out / "metrics.json", metrics)
    write_train_report(
        out / "report.html",
        dataset=dataset,
        results=results,
        metrics=metrics,
        scored=scored_rows(results),
    )


def _track(result: TrainResult, dataset: Dataset, options: TrainOptions) -> None:
    settings = get_settings()
    if not settings.tracking.enabled:
        return
    from greenscore.tracking.mlflow_run import start_run
    from greenscore.tracking.registry import register_bundle

    params = {
        "models": ",".join(options.models),
        "cv": options.cv,
        "cv_strategy": options.cv_strategy,
        "tune_trials": options.tune_trials,
        "sampler": options.sampler or "none",
        "seed": options.seed,
    }
    with start_run(
        run_name=f"train-{dataset.spec.name}", params=params, tags={"spec": dataset.spec.name}
    ) as run:
        run.log_dataset_info(
            sha256=dataset.sha256, spec_yaml=dataset.spec.to_yaml(), rows=len(dataset.frame)
        )
        run.log_environment()
        for name, model_result in result.results.items():
            numeric = {k: v for k, v in model_result.summary.items() if isinstance(v, int | float)}
            run.log_metrics(numeric, prefix=f"{name}.")
        for artifact in ("metrics.json", "report.html"):
            run.log_artifact(result.out / artifact)
        from greenscore.documentation.run_docs import artifact_paths

        for document in artifact_paths(result.out):  # the model card and its evidence
            run.log_artifact(document, artifact_path="documentation")
        result.run_id = run.run_id
    result.metrics["tracking"] = {"run_id": result.run_id, "uri": settings.tracking_uri}
    if options.register:
        version = register_bundle(result.out / "model", name=options.register, run_id=result.run_id)
        result.registered_version = version
        result.metrics["tracking"]["registered"] = {"name": options.register, "version": version}
