"""The ensemble's part of ``greenscore train``: the auto plan, per-member figures, the fallback.

``train`` cross-validates an ensemble like any model; this module adds what only an
ensemble has:

- :func:`plan_members`: for ``--models auto``, probe every candidate member on this data
  and machine and keep what fits the time budget (:mod:`greenscore.models.ensemble_plan`);
- :func:`member_outputs`: each member's log-odds on an outer fold's validation rows (every
  fold's ensemble refits its members on that fold's training rows, so these are honest
  out-of-fold predictions of each member, on exactly the ensemble's folds), and what each
  member's fits cost;
- :func:`ensemble_summary`: members, weights, per-member AUC, the DeLong test of the
  ensemble against its best member on the same rows, and the ensemble's energy (the sum
  of its members') against its AUC gain;
- :func:`fallback_pipeline`: the scorecard member as a bundle of its own, served beside
  the ensemble (``models/scorecard``).
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import pandas as pd
from scipy.special import expit

from greenscore.data.loading import Dataset
from greenscore.evaluation.metrics import credit_metrics
from greenscore.models.ensemble import EnsembleClassifier
from greenscore.models.ensemble_plan import (
    ALWAYS,
    GROWTH,
    PROBE_SHARE,
    AutoPlan,
    fit_rows,
    plan_auto,
    probe_members,
)
from greenscore.models.registry import TUNABLE, auto_candidates

FALLBACK = "scorecard"


def find_ensemble(estimator: Any) -> EnsembleClassifier | None:
    """The fitted ensemble inside a bundle's model step (under calibration or a fairness
    constraint), or None."""
    seen = 0
    while estimator is not None and seen < 5:
        if isinstance(estimator, EnsembleClassifier):
            return estimator
        estimator = getattr(estimator, "estimator_", None)
        seen += 1
    return None


def plan_members(
    dataset: Dataset,
    *,
    budget_s: float | None,
    outer_folds: int,
    seed: int,
    tune_trials: int | None,
    max_trials: int,
    started: float,
) -> AutoPlan:
    """Probe the candidate members on a sample of this data and plan what fits the budget.

    Parameters
    ----------
    budget_s : the whole train's budget in seconds (None: keep every member that fits).
    started : ``time.perf_counter()`` when the train began (loading counts).
    """
    from greenscore.features.pipeline import build_feature_pipeline

    X, y = dataset.X, dataset.y  # noqa: N806
    candidates = auto_candidates(
        spec=dataset.spec, n_rows=len(y), has_relations=dataset.relations is not None
    )
    features = build_feature_pipeline(dataset.spec, relations=dataset.relations)
    transformed = features.fit_transform(X, y)
    probes = probe_members(
        candidates,
        transformed,
        y,
        spec=dataset.spec,
        relations=dataset.relations,
        seed=seed,
        planned_rows=fit_rows(len(y), outer_folds),
        stop_at=None if budget_s is None else started + PROBE_SHARE * budget_s,
    )
    return plan_auto(
        probes,
        n_rows=len(y),
        budget_s=budget_s,
        outer_folds=outer_folds,
        spent_s=time.perf_counter() - started,
        tune_trials=tune_trials,
        max_trials=max_trials,
        tunable=frozenset(TUNABLE),
    )


def final_fit_factor(outer_folds: int) -> float:
    """How much longer the final fit (all rows) takes than one outer fold's (the fold's
    share of the rows), fit time growing a little faster than the rows."""
    return float((outer_folds / (outer_folds - 1)) ** GROWTH)


def keep_to_budget(
    members: list[str],
    trials: dict[str, int],
    *,
    member_seconds: dict[str, float],
    tuning_seconds: dict[str, float],
    folds_done: int,
    folds_left: int,
    final_factor: float,
    seconds_left: float,
) -> tuple[list[str], dict[str, int], dict[str, str]]:
    """What of the plan still fits the time left, at the pace the last outer fold measured.

    The plan was made from probe fits; a machine that got busier since makes the folds
    slower than planned. After each outer fold the rest of the run (the folds left and the
    final fit, which has more rows) is priced at that fold's measured seconds per member
    and of each member's tuning; while it does not fit ``seconds_left``, tuning is cut
    first, then members, each from the least valuable end of the plan (never the scorecard
    fallback). One member's tuning at a time: a run a few seconds behind once lost every
    member's search (Taiwan: 773 s needed, 764 s left) and then ended 418 s early. Then
    what the cuts made room for comes back, most valuable first, members before searches:
    cutting from the end overshoots when a costly member goes after cheap ones (credit_risk:
    CatBoost's drop freed what dropping DNN, logistic, ExtraTrees and XGBoost had been for,
    and the run served LightGBM alone, ending 770 s early).

    Parameters
    ----------
    members : the members planned, most valuable first.
    trials : tuning trials per member.
    member_seconds : the last fold's fit seconds of each member (its inner folds, refit).
    tuning_seconds : the last fold's tuning search per member, seconds (work the searches
        share, such as fitting the features, spread over them).
    folds_done, folds_left : outer folds done, and left before the final fit.
    final_factor : the final fit's seconds over a fold's (:func:`final_fit_factor`).
    seconds_left : seconds until the budget's end, less its reserve for the rest of the job.

    Returns
    -------
    members, trials : what is kept.
    cut : member (or ``member:tuning``) -> why it was cut.
    """
    scale = folds_left + final_factor
    planned = {name: count for name, count in trials.items() if count > 0}
    need = scale * sum(
        member_seconds.get(m, 0.0) + (tuning_seconds.get(m, 0.0) if m in planned else 0.0)
        for m in members
    )
    cut: dict[str, str] = {}  # what is kept, and with which searches, follows from it

    def why(what: str) -> str:
        return (
            f"{what} after outer fold {folds_done}: at its measured pace the rest of the run "
            f"needed about {need:,.0f} s, {max(seconds_left, 0):,.0f} s were left"
        )

    for name in reversed(members):
        if need <= seconds_left:
            break
        if name in planned and tuning_seconds.get(name, 0.0) > 0:
            cut[f"{name}:tuning"] = why("tuning cut")
            need -= scale * tuning_seconds[name]
    for name in reversed(members):
        if need <= seconds_left:
            break
        if name not in ALWAYS:
            cut[name] = why("dropped")
            need -= scale * member_seconds.get(name, 0.0)
    # Give back, most valuable first, what the cuts above made room for.
    for name in members:
        price = scale * member_seconds.get(name, 0.0)
        if name in cut and need + price <= seconds_left:
            del cut[name]
            need += price
    for name in members:
        price = scale * tuning_seconds.get(name, 0.0)
        if f"{name}:tuning" in cut and name not in cut and need + price <= seconds_left:
            del cut[f"{name}:tuning"]
            need += price
    kept = [name for name in members if name not in cut]
    return kept, {n: c for n, c in planned.items() if f"{n}:tuning" not in cut}, cut


def member_outputs(pipeline: Any, X_valid: pd.DataFrame) -> dict[str, Any] | None:  # noqa: N803
    """Each member's log-odds on validation rows and its fits' seconds and kWh, or None
    when the pipeline holds no ensemble."""
    ensemble = find_ensemble(pipeline[-1])
    if ensemble is None:
        return None
    transformed = pipeline[:-1].transform(X_valid)
    raw = ensemble.member_log_odds(transformed)
    return {
        "log_odds": raw,
        # On the ensemble's common scale: each member's Platt map fitted on its inner
        # out-of-fold log-odds, i.e. the member calibrated as the ensemble sees it.
        "scaled_log_odds": ensemble.scaled_log_odds(raw),
        "fit_seconds": dict(ensemble.fit_seconds_),
        "energy_kwh": dict(ensemble.energy_kwh_),
        "weights": dict(ensemble.weights_),
        "dropped": dict(ensemble.dropped_),
        "method": ensemble.method_,
        "fallback": getattr(ensemble, "fallback_", None),
    }


def member_oof(
    folds: list[tuple[np.ndarray, np.ndarray]],
    outputs: list[dict[str, Any]],
    n_rows: int,
    *,
    key: str = "log_odds",
) -> dict[str, np.ndarray]:
    """Each member's pooled out-of-fold log-odds (NaN where a fold dropped the member);
    ``key="scaled_log_odds"``: on the ensemble's common (Platt-scaled) scale."""
    names: list[str] = []
    for output in outputs:
        names += [n for n in output.get(key, output["log_odds"]).columns if n not in names]
    pooled = {name: np.full(n_rows, np.nan) for name in names}
    for (_, valid), output in zip(folds, outputs, strict=True):
        frame = output.get(key, output["log_odds"])
        for name in frame.columns:
            pooled[name][valid] = frame[name].to_numpy()
    return pooled


def _pooled_ece(y: np.ndarray, z: np.ndarray | None) -> float | None:
    """ECE (10 equal-width bins) of PDs ``expit(z)`` on the rows that have one."""
    from greenscore.evaluation.metrics import ece

    if z is None or not np.isfinite(z).any():
        return None
    scored = np.isfinite(z)
    return float(ece(y[scored], expit(z[scored])))


def ensemble_summary(
    y: np.ndarray,
    *,
    folds: list[tuple[np.ndarray, np.ndarray]],
    ensemble_oof: np.ndarray,
    outputs: list[dict[str, Any]],
    final: EnsembleClassifier,
    plan: AutoPlan | None,
) -> dict[str, Any]:
    """The ensemble section of metrics.json and the report.

    Per member: final weight, mean fold AUC (same folds as the ensemble), energy of all
    its fits (every fold's inner folds and refit, and the final fit). The ensemble's AUC
    gain over its best member with DeLong's test on the pooled out-of-fold predictions
    of the rows both scored, and the ensemble's energy (its members' sum) per 0.001 AUC
    gained.
    """
    from greenscore.evaluation.stats import delong_covariance, delong_test

    pooled = member_oof(folds, outputs, len(y))
    scaled = member_oof(folds, outputs, len(y), key="scaled_log_odds")
    members: dict[str, Any] = {}
    for name, z in pooled.items():
        fold_aucs = [
            credit_metrics(y[valid], expit(z[valid]))["auc"]
            for valid in (v for _, v in folds)
            if np.isfinite(z[valid]).all()
        ]
        kwh = sum(o["energy_kwh"].get(name, 0.0) for o in outputs) + final.energy_kwh_.get(
            name, 0.0
        )
        seconds = sum(o["fit_seconds"].get(name, 0.0) for o in outputs) + final.fit_seconds_.get(
            name, 0.0
        )
        members[name] = {
            "weight": round(final.weights_.get(name, 0.0), 6),
            "auc": float(np.mean(fold_aucs)) if fold_aucs else None,
            "auc_std": float(np.std(fold_aucs, ddof=1)) if len(fold_aucs) > 1 else 0.0,
            # Outer folds the member was fitted in (a budget cut can drop it after the
            # first): its AUC is the mean over those folds only.
            "folds": len(fold_aucs),
            # False when a budget cut dropped it before the final fit: it is in the
            # cross-validated figure, not in the model that is served.
            "in_final_model": name in final.members_,
            "inner_oof_auc": final.member_oof_auc_.get(name),
            "scale": list(final.scale_.get(name, ())),
            "exact_contributions": name not in final.inexact_members_,
            # ECE (10 equal-width bins) of the member's Platt-scaled PDs, pooled over the
            # outer folds' validation rows where it was fitted.
            "ece_scaled": _pooled_ece(y, scaled.get(name)),
            "fit_seconds": round(seconds, 2),
            "energy_kwh": kwh,
        }
    scored = np.isfinite(ensemble_oof)
    complete = [n for n, z in pooled.items() if np.isfinite(z[scored]).all()]
    ensemble_auc = float(
        np.mean([credit_metrics(y[v], expit(ensemble_oof[v]))["auc"] for _, v in folds])
    )
    comparison: dict[str, Any] = {
        "ensemble_auc": ensemble_auc,
        "ensemble_ece_pooled": _pooled_ece(y, ensemble_oof),
    }
    if complete:
        best = max(complete, key=lambda n: members[n]["auc"] or 0.0)
        z_stat, p_value = delong_test(y[scored], ensemble_oof[scored], pooled[best][scored])
        # The test compares the pooled out-of-fold AUCs, not the fold means beside them.
        tested, _ = delong_covariance(y[scored], ensemble_oof[scored], pooled[best][scored])
        gain = ensemble_auc - members[best]["auc"]
        total_kwh = sum(m["energy_kwh"] for m in members.values())
        comparison.update(
            {
                "best_member": best,
                "best_member_auc": members[best]["auc"],
                "auc_gain": gain,
                "delong_z": float(z_stat),
                "delong_p": float(p_value),
                "pooled_ensemble_auc": float(tested[0]),
                "pooled_best_member_auc": float(tested[1]),
                "test": "DeLong on pooled out-of-fold predictions, same folds and rows",
                "ensemble_energy_kwh": total_kwh,
                "best_member_energy_kwh": members[best]["energy_kwh"],
                "extra_kwh_per_0.001_auc": (
                    (total_kwh - members[best]["energy_kwh"]) / (gain * 1000) if gain > 0 else None
                ),
            }
        )
    dropped: dict[str, str] = {}
    for output in outputs:
        dropped.update(output["dropped"])
    dropped.update(final.dropped_)
    return {
        "method": final.method_,
        "fallback": getattr(final, "fallback_", None),
        "outer_folds": len(folds),
        "fold_methods": [o.get("method") for o in outputs],
        "fold_fallbacks": [o.get("fallback") for o in outputs],
        "combiner_scores": final.combiner_scores_,
        "members": members,
        "intercept": final.intercept_,
        "inexact_members": list(final.inexact_members_),
        "dropped": dropped,
        "comparison": comparison,
        "plan": plan.to_dict() if plan is not None else None,
    }


def fallback_pipeline(pipeline: Any) -> Any | None:
    """The bundle pipeline of the ensemble's scorecard member alone (same fitted features),
    or None when the ensemble has no fitted scorecard."""
    ensemble = find_ensemble(pipeline[-1])
    if ensemble is None or FALLBACK not in ensemble.members_:
        return None
    steps = [*pipeline.steps[:-1], ("model", ensemble.members_[FALLBACK])]
    return type(pipeline)(steps)


def fallback_figures(
    y: np.ndarray,
    folds: list[tuple[np.ndarray, np.ndarray]],
    outputs: list[dict[str, Any]],
) -> tuple[np.ndarray, list[dict[str, float]], list[dict[str, Any]]] | None:
    """The scorecard member's out-of-fold PDs, fold metrics and fold fit costs, or None."""
    pooled = member_oof(folds, outputs, len(y)).get(FALLBACK)
    if pooled is None or not all(FALLBACK in o["log_odds"].columns for o in outputs):
        return None
    oof = expit(pooled)
    fold_metrics = [credit_metrics(y[v], oof[v]) for _, v in folds]
    energies = [
        {
            "fit_seconds": o["fit_seconds"].get(FALLBACK, 0.0),
            "kwh": o["energy_kwh"].get(FALLBACK, np.nan),
        }
        for o in outputs
    ]
    return oof, fold_metrics, energies
