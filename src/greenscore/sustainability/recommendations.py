"""Recommendations computed from measured figures, each with the numbers behind it.

Nothing here is a canned tip: each rule fires only when the data shows its case, and its
text quotes the measured figures (e.g. "scorecard reaches 99.6 % of lightgbm's AUC at
1/3 of its energy per 1k predictions").
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from greenscore.sustainability.budgets import BudgetStatus
from greenscore.sustainability.esg import largest_fairness_gap
from greenscore.sustainability.runs import TrainingRun
from greenscore.sustainability.scheduler import Placement

#: A cheaper model is worth naming when it keeps this share of the best AUC.
AUC_KEPT = 0.99
#: ...and costs at most this share of the best model's energy per 1k predictions.
ENERGY_SHARE = 0.8
#: A scheduling saving below this share is not worth a recommendation.
MIN_SAVING = 0.05
FAIRNESS_LIMIT = 0.1


@dataclass(frozen=True)
class Recommendation:
    """One recommendation: its topic, text, and the figures it rests on."""

    topic: str
    text: str
    figures: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        """Plain data for JSON."""
        return asdict(self)


def _fraction(share: float) -> str:
    """``0.33`` as ``1/3``, ``0.62`` as ``62 %`` (simple fractions read faster)."""
    for d in (2, 3, 4, 5, 10):
        if abs(share * d - round(share * d)) < 0.02 * d and round(share * d) == 1:
            return f"1/{d}"
    return f"{share:.0%}"


def cheaper_model(run: TrainingRun) -> Recommendation | None:
    """A model of the run that keeps the AUC for much less energy per prediction."""
    best = run.models[run.best] if run.best else None
    if best is None or not math.isfinite(best.kwh_per_1k) or best.kwh_per_1k <= 0:
        return None
    options = [
        m
        for m in run.models.values()
        if m.name != best.name
        and math.isfinite(m.kwh_per_1k)
        and m.auc >= AUC_KEPT * best.auc
        and m.kwh_per_1k <= ENERGY_SHARE * best.kwh_per_1k
    ]
    if not options:
        return None
    pick = min(options, key=lambda m: m.kwh_per_1k)
    kept, share = pick.auc / best.auc, pick.kwh_per_1k / best.kwh_per_1k
    return Recommendation(
        "model choice",
        f"{pick.name} reaches {kept:.1%} of {best.name}'s AUC ({pick.auc:.4f} vs {best.auc:.4f}) "
        f"at {_fraction(share)} of its energy per 1k predictions ({pick.kwh_per_1k:.3g} vs "
        f"{best.kwh_per_1k:.3g} kWh): consider serving {pick.name}",
        {"model": pick.name, "best": best.name, "auc_kept": kept, "energy_share": share},
    )


def efficient_best(run: TrainingRun) -> Recommendation | None:
    """When the best model is also the cheapest to run, say so (the choice is already green)."""
    best = run.models[run.best] if run.best else None
    others = [m for m in run.models.values() if best and m.name != best.name]
    if best is None or not others or not math.isfinite(best.kwh_per_1k):
        return None
    finite = [m for m in others if math.isfinite(m.kwh_per_1k) and m.kwh_per_1k > 0]
    if not finite or best.kwh_per_1k > min(m.kwh_per_1k for m in finite):
        return None
    cheapest_other = min(finite, key=lambda m: m.kwh_per_1k)
    share = best.kwh_per_1k / cheapest_other.kwh_per_1k
    return Recommendation(
        "model choice",
        f"{best.name} has the best AUC ({best.auc:.4f}) and also the lowest energy per 1k "
        f"predictions: {_fraction(share)} of {cheapest_other.name}'s ({best.kwh_per_1k:.3g} vs "
        f"{cheapest_other.kwh_per_1k:.3g} kWh); keep it",
        {"model": best.name, "other": cheapest_other.name, "energy_share": share},
    )


def schedule_training(placement: Placement) -> Recommendation | None:
    """Deferring the next training to the cleanest window, when that saves enough."""
    if placement.runs_now or placement.saving_share < MIN_SAVING:
        return None
    return Recommendation(
        "scheduling",
        f"training started at {placement.start:%H:%M} UTC instead of now runs at "
        f"{placement.intensity_planned:.0f} instead of {placement.intensity_now:.0f} gCO2e/kWh "
        f"({placement.saving_share:.0%} less CO2e; {placement.source})",
        {"start": placement.start.isoformat(), "saving_share": placement.saving_share},
    )


def budget_pace(status: BudgetStatus, now: datetime | None = None) -> Recommendation | None:
    """A budget that, at its pace so far in the period, ends the period over its limit."""
    period = status.period
    if period.start is None or period.end is None or status.used_kg <= 0:
        return None
    now = now or datetime.now(UTC)
    elapsed = max(now - period.start, timedelta(hours=1))
    length = period.end - period.start
    projected = status.used_kg * (length / elapsed)
    if projected <= status.budget.limit_kg:
        return None
    b = status.budget
    return Recommendation(
        "budget",
        f"{b.scope} '{b.name}' has used {status.share:.0%} of its {b.limit_kg:.4g} kg CO2e "
        f"{b.period} budget ({period.key}); at this pace it ends the period at "
        f"{projected / b.limit_kg:.0%}",
        {"budget": b.id, "projected_kg": projected},
    )


def fairness(run: TrainingRun) -> Recommendation | None:
    """A fairness gap above the usual 0.1 limit."""
    gap, where = largest_fairness_gap(run.fairness)
    if gap is None or gap <= FAIRNESS_LIMIT:
        return None
    return Recommendation(
        "fairness",
        f"{where} is {gap:.3f} for {run.best} (above {FAIRNESS_LIMIT}): review the cut-offs "
        "or train with a fairness constraint",
        {"gap": gap, "where": where},
    )


def recommendations(
    *,
    runs: list[TrainingRun],
    budgets: list[BudgetStatus],
    placement: Placement | None,
    now: datetime | None = None,
) -> list[Recommendation]:
    """Every recommendation the measured data supports, most actionable first."""
    out: list[Recommendation | None] = []
    if runs:
        out += [cheaper_model(runs[-1]), efficient_best(runs[-1])]
    if placement is not None:
        out.append(schedule_training(placement))
    out += [budget_pace(s, now) for s in budgets]
    if runs:
        out.append(fairness(runs[-1]))
    return [r for r in out if r is not None]
