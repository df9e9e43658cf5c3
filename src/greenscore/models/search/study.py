"""Run an architecture-search study: sample a candidate, fit it, measure it, repeat in budget.

Every trial fits on the same rows through the same feature steps (fitted once, before
the study: the steps are shared by every candidate, so only the model differs between
trials) and is measured on the same hold-out (:mod:`.objectives`). A trial:

1. samples a family and its shape (:func:`~.space.sample_candidate`);
2. fits it under a :class:`~.guard.TrialGuard` (pruned when hopeless or out of time),
   with the fit's energy metered;
3. is measured as a bundle on the hold-out, and returns the four objectives; what it
   built and measured is kept in the trial's user attributes (constructor parameters,
   p50 latency, decline rates, the energy method, the machine's load average). A trial
   whose decisions are all the same (a constant PD declines no one) is marked infeasible
   by an Optuna constraint: its fairness gap of 0 says nothing, and a front point that
   decides nothing is no candidate.

The study stops at ``n_trials`` (when given) or when the time left would no longer cover
the refit of the current knee on all rows (the refit must fit in the budget); a trial
still fitting then is stopped by its guard.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from greenscore.config import ScoringSettings
from greenscore.data.spec import DatasetSpec
from greenscore.logging import get_logger
from greenscore.models.bundle import ScoringBundle
from greenscore.models.metadata import BundleMetadata
from greenscore.models.search.guard import TrialGuard, auc_floor
from greenscore.models.search.objectives import Holdout, load_average, measure
from greenscore.models.search.pareto import front
from greenscore.models.search.space import Candidate, int8_friendly, sample_candidate
from greenscore.models.search.storage import quiet_experimental

log = get_logger(__name__)
Progress = Callable[[str, float], None]


@dataclass
class StudyInputs:
    """What every trial fits on and is measured on."""

    spec: DatasetSpec
    features: Any  # the feature steps, fitted on the fit rows
    fit_model_input: pd.DataFrame  # the fit rows after the feature steps
    fit_y: np.ndarray
    holdout: Holdout
    scoring: ScoringSettings
    training_ranges: dict[str, Any]
    relations: pd.DataFrame | None = None


@dataclass
class StudySettings:
    """How the study runs."""

    families: list[str]
    deadline: float  # time.monotonic() at which everything, the refit included, must end
    n_trials: int | None = None
    max_epochs: int = 8
    seed: int = 42
    prune_margin: float = 0.03
    prune_after: int = 2  # finished trials of a family before its AUC check applies
    latency_rows: int = 100
    energy_rows: int = 1000
    energy_seconds: float = 0.5
    #: Seconds kept for what follows the study beyond the knee's refit (reason codes, the
    #: bundle, registration, outputs).
    overhead_s: float = 30.0
    #: The refit's time as a multiple of the knee trial's fit: rows of the refit over rows
    #: of a trial's fit, with a margin (set by the caller).
    refit_scale: float = 1.5
    #: Fit seconds of the current knee (updated after every trial).
    knee_fit_s: float = 0.0

    #: The whole run's budget in seconds; the reserve never takes more than
    #: ``max_reserve_share`` of it, so a slow first knee cannot end the study at once.
    budget_s: float = float("inf")
    max_reserve_share: float = 0.25

    def reserve(self) -> float:
        """Seconds to keep for the knee's refit after the study: the current knee's fit,
        scaled to the refit's rows, plus the writing, at most a quarter of the budget. (The
        knee may change with the next trial, and a slow one's refit may take more than the
        cap: the run then overruns its budget, and ``pareto.json`` says by how much.)"""
        wanted = self.refit_scale * self.knee_fit_s + self.overhead_s
        return min(wanted, self.max_reserve_share * self.budget_s)


def candidate_bundle(
    candidate: Candidate,
    pipeline: Any,
    *,
    spec: DatasetSpec,
    scoring: ScoringSettings,
    ranges: dict[str, Any],
) -> ScoringBundle:
    """A fitted candidate as a bundle (what the runtime scores), before reason codes."""
    return ScoringBundle(
        name=candidate.family,
        spec=spec,
        pipeline=pipeline,
        scoring=scoring,
        metadata=BundleMetadata(training_ranges=ranges),
    )


def fit_candidate(
    candidate: Candidate,
    X: pd.DataFrame,  # noqa: N803
    y: np.ndarray,
    *,
    spec: DatasetSpec,
    seed: int,
    relations: pd.DataFrame | None = None,
    guard: TrialGuard | None = None,
) -> Any:
    """Build and fit a candidate's classifier on model-input rows (after the feature steps)."""
    from greenscore.models.registry import make_estimator

    model = make_estimator(
        candidate.family, spec=spec, relations=relations, seed=seed, params=dict(candidate.params)
    )
    if guard is None:
        return model.fit(X, y)
    if candidate.family == "lightgbm":
        return model.fit(X, y, callbacks=[guard.lightgbm_callback()])
    return model.fit(X, y, on_epoch_end=guard.on_epoch_end())


def _check_aucs(study: Any, family: str) -> list[float]:
    """Check-point AUCs of the finished trials of one family."""
    import optuna

    done = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
    return [
        float(t.user_attrs["check_auc"])
        for t in done
        if t.params.get("family") == family and t.user_attrs.get("check_auc") is not None
    ]


def _objective(study: Any, inputs: StudyInputs, settings: StudySettings, progress: Progress) -> Any:
    from sklearn.pipeline import Pipeline

    from greenscore.sustainability.energy import measure_energy

    def objective(trial: Any) -> tuple[float, float, float, float]:
        import optuna

        candidate = sample_candidate(trial, settings.families, max_epochs=settings.max_epochs)
        trial.set_user_attr("candidate", candidate.describe())
        trial.set_user_attr("constructor", _plain(candidate.params))
        trial.set_user_attr("int8_friendly", int8_friendly(candidate))
        guard = TrialGuard(
            floor=auc_floor(
                _check_aucs(study, candidate.family),
                margin=settings.prune_margin,
                min_trials=settings.prune_after,
            ),
            deadline=settings.deadline - settings.reserve(),
        )
        started = time.perf_counter()
        try:
            with measure_energy(f"search:fit:{candidate.family}") as reading:
                model = fit_candidate(
                    candidate,
                    inputs.fit_model_input,
                    inputs.fit_y,
                    spec=inputs.spec,
                    seed=settings.seed,
                    relations=inputs.relations,
                    guard=guard,
                )
        except optuna.TrialPruned:
            trial.set_user_attr("pruned", guard.reason)
            progress(f"trial {trial.number} {candidate.describe()}: pruned ({guard.reason})", 1.0)
            raise
        fit_s = time.perf_counter() - started
        trial.set_user_attr("check_auc", guard.check_auc)
        bundle = candidate_bundle(
            candidate,
            Pipeline([("features", inputs.features), ("model", model)]),
            spec=inputs.spec,
            scoring=inputs.scoring,
            ranges=inputs.training_ranges,
        )
        started = time.perf_counter()
        measured = measure(
            bundle,
            inputs.holdout,
            latency_rows=settings.latency_rows,
            energy_rows=settings.energy_rows,
            energy_seconds=settings.energy_seconds,
        )
        trial.set_user_attr("measure_seconds", time.perf_counter() - started)
        trial.set_user_attr("measured", measured.to_dict())
        # Decisions all alike (everyone declined, or no one) have no gap to measure and
        # decide nothing: such a trial is infeasible, so it never enters the front.
        with quiet_experimental():
            trial.set_constraint("decisions_vary", 0.0 if 0 < measured.decline_rate < 1 else 1.0)
        trial.set_user_attr("fit_seconds", fit_s)
        trial.set_user_attr("fit_kwh", float(reading.kwh))
        trial.set_user_attr("load_average", load_average())
        progress(
            f"trial {trial.number} {candidate.describe()}: AUC {measured.auc:.4f}, "
            f"p99 {measured.p99_latency_ms:.1f} ms, {measured.kwh_per_1k:.2e} kWh/1k, "
            f"gap {measured.fairness_gap:.3f}",
            1.0,
        )
        return measured.values()

    return objective


def _plain(params: dict[str, Any]) -> dict[str, Any]:
    """Constructor parameters as JSON values (a dilation tuple becomes a list)."""
    return {k: list(v) if isinstance(v, tuple) else v for k, v in params.items()}


def run_study(
    study: Any, inputs: StudyInputs, settings: StudySettings, *, progress: Progress | None = None
) -> dict[str, Any]:
    """Add trials to ``study`` until ``n_trials`` or the budget; return what this run did.

    Returns
    -------
    dict
        ``trials`` run now by state (complete, pruned, failed), the study's seconds and
        its metered kWh, and why it stopped.
    """
    import optuna

    from greenscore.sustainability.energy import measure_energy

    progress = progress or (lambda _m, _a: None)
    before = {t.number for t in study.get_trials(deepcopy=False)}
    stopped = {"why": "trial count reached"}

    def follow_knee(study: Any) -> None:
        points, knee = front(study)
        settings.knee_fit_s = float(points[knee]["fit_seconds"] or 0.0) if knee is not None else 0.0

    def stop_in_time(study: Any, _trial: Any) -> None:
        follow_knee(study)
        if time.monotonic() + settings.reserve() >= settings.deadline:
            stopped["why"] = "time budget (the rest is kept for the knee's refit)"
            study.stop()

    follow_knee(study)  # a resumed study's knee is refitted too
    if time.monotonic() + settings.reserve() >= settings.deadline:
        stopped["why"] = "no time left for a trial"
        return {"trials": {}, "seconds": 0.0, "kwh": 0.0, "stopped": stopped["why"]}
    started = time.perf_counter()
    with measure_energy("search:study") as reading:
        study.optimize(
            _objective(study, inputs, settings, progress),
            n_trials=settings.n_trials,
            timeout=None if settings.n_trials else max(1.0, settings.deadline - time.monotonic()),
            callbacks=[stop_in_time],
            catch=(Exception,),
            gc_after_trial=True,
        )
    ran = [t for t in study.get_trials(deepcopy=False) if t.number not in before]
    states = {
        state.name.lower(): sum(t.state == state for t in ran)
        for state in (
            optuna.trial.TrialState.COMPLETE,
            optuna.trial.TrialState.PRUNED,
            optuna.trial.TrialState.FAIL,
        )
    }
    for t in ran:
        if t.state == optuna.trial.TrialState.FAIL:
            log.warning(
                "search trial failed",
                extra={"trial": t.number, "reason": t.system_attrs.get("fail_reason")},
            )
    return {
        "trials": states,
        "seconds": time.perf_counter() - started,
        "kwh": float(reading.kwh),
        "stopped": stopped["why"],
    }
