"""``greenscore train``: cross-validate each requested model on one set of folds, measure
energy around every fit, compare the models, fit the final bundles on all rows and record
everything (metrics.json, report.html, model/, an MLflow run, optionally a registered version).

Every transformer is fitted inside the fold it serves: the validation rows of a fold never
touch the feature pipeline, the sampler, the tuner or the model that scores them.
"""

from __future__ import annotations

import json
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
from greenscore.logging import get_logger
from greenscore.models.bundle import ScoringBundle
from greenscore.models.registry import TUNABLE, make_estimator

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

    features = build_feature_pipeline(dataset.spec, relations=dataset.relations)
    estimator = make_estimator(
        name, spec=dataset.spec, relations=dataset.relations, seed=options.seed, params=params
    )
    sampler = make_sampler(options.sampler) if options.sampler else None
    return build_model_pipeline(features, estimator, sampler=sampler)


def _tune(
    name: str, dataset: Dataset, X: pd.DataFrame, y: np.ndarray, options: TrainOptions
) -> dict[str, Any]:  # noqa: N803
    """Tune on these rows only (an outer training fold, or all rows for the final model)."""
    if name not in TUNABLE or options.tune_trials <= 0:
        return {}
    from greenscore.features.pipeline import build_feature_pipeline
    from greenscore.models.tuning import tune_lightgbm

    features = build_feature_pipeline(dataset.spec, relations=dataset.relations)
    transformed = features.fit_transform(X, y)
    best, _ = tune_lightgbm(transformed, y, n_trials=options.tune_trials, seed=options.seed)
    return best


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
) -> tuple[np.ndarray, list[dict[str, float]], list[dict[str, Any]], list[dict[str, Any]]]:
    from greenscore.evaluation.metrics import credit_metrics

    X, y = dataset.X, dataset.y  # noqa: N806
    oof = np.full(len(y), np.nan)
    fold_metrics: list[dict[str, float]] = []
    energies: list[dict[str, Any]] = []
    tuned: list[dict[str, Any]] = []
    for k, (train_idx, val_idx) in enumerate(folds):
        X_tr, y_tr = X.iloc[train_idx], y[train_idx]  # noqa: N806
        params = _tune(name, dataset, X_tr, y_tr, options)
        tuned.append(params)
        pipeline = _model_pipeline(name, dataset, options, params)
        started = time.perf_counter()
        pipeline, energy = _fit_measured(pipeline, X_tr, y_tr, f"fit:{name}:fold{k}")
        energy["fit_seconds"] = time.perf_counter() - started
        energies.append(energy)
        oof[val_idx] = pipeline.predict_proba(X.iloc[val_idx])[:, 1]
        fold_metrics.append(credit_metrics(y[val_idx], oof[val_idx]))
        progress(f"{name}: fold {k + 1}/{len(folds)} AUC {fold_metrics[-1]['auc']:.4f}", 1.0)
    return oof, fold_metrics, energies, tuned


def _final_bundle(
    name: str, dataset: Dataset, options: TrainOptions
) -> tuple[ScoringBundle, dict[str, Any], dict[str, Any]]:
    from greenscore.sustainability.energy import energy_per_1k_predictions

    X, y = dataset.X, dataset.y  # noqa: N806
    params = _tune(name, dataset, X, y, options)
    pipeline = _model_pipeline(name, dataset, options, params)
    started = time.perf_counter()
    pipeline, energy = _fit_measured(pipeline, X, y, f"fit:{name}:final")
    energy["fit_seconds"] = time.perf_counter() - started
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
    return summary


def scored_rows(results: dict[str, ModelResult]) -> np.ndarray:
    """Rows with an out-of-fold prediction (time-series CV never validates its first block)."""
    return np.logical_and.reduce([np.isfinite(r.oof) for r in results.values()])


def _comparisons(results: dict[str, ModelResult], y: np.ndarray) -> dict[str, Any]:
    from greenscore.evaluation.stats import delong_test

    names = list(results)
    out: dict[str, Any] = {}
    scored = scored_rows(results)
    for i, a in enumerate(names):
        for b in names[i + 1 :]:
            z, p = delong_test(y[scored], results[a].oof[scored], results[b].oof[scored])
            out[f"{a}_vs_{b}"] = {
                "auc_a": float(results[a].summary["auc"]),
                "auc_b": float(results[b].summary["auc"]),
                "delong_z": float(z),
                "delong_p": float(p),
                "test": "DeLong on pooled out-of-fold predictions",
            }
    return out


def _folds(dataset: Dataset, options: TrainOptions) -> list[tuple[np.ndarray, np.ndarray]]:
    from greenscore.evaluation.cv import make_folds

    times = None
    if options.cv_strategy == "time":
        column = dataset.spec.time_column
        if not column or column not in dataset.frame.columns:
            raise DataError("--cv-strategy time needs the spec's time_column in the data")
        times = pd.to_datetime(dataset.frame[column]).to_numpy()
    return make_folds(
        dataset.y, strategy=options.cv_strategy, n_splits=options.cv, seed=options.seed, times=times
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
    from greenscore.tracking.seeds import seed_everything

    progress = progress or (lambda _msg, _adv: None)
    seed_everything(options.seed)
    out = Path(options.out)
    out.mkdir(parents=True, exist_ok=True)
    folds = _folds(dataset, options)
    y = dataset.y
    ranges = _training_ranges(dataset)
    results: dict[str, ModelResult] = {}
    for name in options.models:
        oof, fold_metrics, fold_energy, tuned = _cross_validate(
            name, dataset, folds, options, progress
        )
        bundle, final_energy, final_params = _final_bundle(name, dataset, options)
        progress(f"{name}: final fit done", 1.0)
        summary = _summary(fold_metrics, fold_energy, final_energy)
        bundle.metadata.update(
            {
                "metrics": summary,
                "params": bundle.estimator.get_params(),
                "tuned_params": final_params,
                "training_ranges": ranges,
                "training_pd": np.quantile(oof[~np.isnan(oof)], np.linspace(0, 1, 101)).tolist(),
                "lineage": {
                    "dataset_sha256": dataset.sha256,
                    "rows": len(y),
                    "location": dataset.location,
                },
                "seed": options.seed,
            }
        )
        results[name] = ModelResult(name, oof, fold_metrics, summary, bundle, final_params)
    best = max(results, key=lambda n: results[n].summary["auc"])
    metrics = {
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
    metrics["fairness"] = _fairness(results[best], dataset, options.seed)
    _write_outputs(out, dataset, results, metrics, best)
    result = TrainResult(metrics=metrics, results=results, best=best, out=out)
    _track(result, dataset, options)
    # Written again so the file also names the MLflow run and registered version; the first
    # write (before tracking) is what the run logs as its artifact.
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2, default=float), "utf-8")
    return result


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
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2, default=float), "utf-8")
    write_train_report(out / "report.html", dataset=dataset, results=results, metrics=metrics)


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
        result.run_id = run.run_id
    result.metrics["tracking"] = {"run_id": result.run_id, "uri": settings.tracking_uri}
    if options.register:
        version = register_bundle(result.out / "model", name=options.register, run_id=result.run_id)
        result.registered_version = version
        result.metrics["tracking"]["registered"] = {"name": options.register, "version": version}
