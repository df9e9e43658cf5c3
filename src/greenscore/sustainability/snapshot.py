"""Everything measured about one period, gathered once for the report and the dashboard.

Training runs and registered models from MLflow, decisions from the prediction store, the
carbon ledger and budgets, fired budget alerts, the grid factor, the ESG score, where the
next training would best run, and the recommendations those figures support. CO2e is
always ``kWh x`` the configured location's factor, named in ``factor``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from greenscore.config import Settings, get_settings
from greenscore.store import sustainability as ledger
from greenscore.sustainability.budgets import BudgetStatus, budget_status
from greenscore.sustainability.decisions import DecisionSummary, decision_summary
from greenscore.sustainability.esg import EsgScore, esg_score
from greenscore.sustainability.intensity import GridFactor, co2_kg, configured_factor
from greenscore.sustainability.periods import Period
from greenscore.sustainability.recommendations import Recommendation, recommendations
from greenscore.sustainability.runs import (
    RegisteredVersion,
    TrainingRun,
    registered_versions,
    training_runs,
)
from greenscore.sustainability.scheduler import DeferrableJob, Placement, place


@dataclass
class Snapshot:
    """The measured state of one period (see the module docstring)."""

    period: Period
    generated_at: datetime
    factor: GridFactor
    runs: list[TrainingRun]
    registry: list[RegisteredVersion]
    decisions: DecisionSummary
    budgets: list[BudgetStatus]
    alerts: list[ledger.CarbonBudgetAlert]
    esg: EsgScore
    placement: Placement | None
    recommendations: list[Recommendation] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        """No training run and no decision in the period."""
        return not self.runs and not self.decisions.total

    def scoring_kwh(self) -> float:
        """Energy of the recorded decisions.

        A decision the service recorded with its energy counts that figure (a call's for
        one applicant scored alone, a row's share for a row of a batch). One recorded
        without it (written before the service did) is charged at the latest measured
        kWh per 1k batch predictions of the model kind it names, which leaves out a call's
        fixed costs; decisions of models never measured here are not estimated (and
        :meth:`totals` says how many).
        """
        recorded = sum(kwh for _, kwh in self.decisions.energy_by_model.values())
        return recorded + sum(n / 1000 * k for n, k in self._per_decision() if k is not None)

    def _per_decision(self) -> list[tuple[int, float | None]]:
        """(decisions without a recorded figure, kWh per 1k) per model name in the store;
        None where unmeasured.

        A name is a model kind measured in a run (``lightgbm``), or a registered model
        whose version came from one of the period's runs (its best model's figure).
        """
        per_1k: dict[str, float] = {}
        by_run = {r.run_id: r for r in self.runs}
        for run in self.runs:
            for name, m in run.models.items():
                per_1k[name] = m.kwh_per_1k
        for version in sorted(self.registry, key=lambda v: v.created):
            source = by_run.get(version.run_id or "")
            if source is not None and source.best:
                per_1k[version.name] = source.models[source.best].kwh_per_1k
        recorded = self.decisions.energy_by_model
        return [
            (n - recorded.get(m, (0, 0.0))[0], per_1k.get(m))
            for m, n in self.decisions.by_model.items()
        ]

    def totals(self) -> dict[str, Any]:
        """The period's energy and CO2e, split into training and scoring, with the factor."""
        training = float(sum(r.train_kwh for r in self.runs))
        scoring = float(self.scoring_kwh())
        unmeasured = sum(n for n, k in self._per_decision() if k is None)
        return {
            "training_kwh": training,
            "scoring_kwh": scoring,
            "total_kwh": training + scoring,
            "training_co2_kg": co2_kg(training, self.factor),
            "scoring_co2_kg": co2_kg(scoring, self.factor),
            "total_co2_kg": co2_kg(training + scoring, self.factor),
            "runs": len(self.runs),
            "fits": sum(m.fits for r in self.runs for m in r.models.values()),
            "decisions": self.decisions.total,
            "decisions_with_recorded_energy": sum(
                n for n, _ in self.decisions.energy_by_model.values()
            ),
            "decisions_without_energy_figure": unmeasured,
            "factor": self.factor.to_dict(),
        }


def gather(
    period: Period,
    *,
    settings: Settings | None = None,
    now: datetime | None = None,
) -> Snapshot:
    """Read every source for ``period`` (None bounds mean all time)."""
    settings = settings or get_settings()
    now = now or datetime.now(UTC)
    factor = configured_factor(settings)
    runs = training_runs(since=period.start, until=period.end, settings=settings)
    decisions = decision_summary(since=period.start, until=period.end, settings=settings)
    statuses = budget_status(period=period if period.end and period.end < now else None)
    alerts = [a for a in ledger.fired_alerts() if period.contains(a.fired_at)]
    placement = None
    if runs:
        latest = runs[-1]
        seconds = sum(
            m.fit_seconds * m.fits for m in latest.models.values() if math.isfinite(m.fit_seconds)
        )
        hours = max(seconds / 3600, 0.25)
        job = DeferrableJob(
            f"retrain like {latest.name}",
            "training",
            hours,
            now + timedelta(hours=24),
            latest.train_kwh,
        )
        placement = place(job, now=now, settings=settings)
    snap = Snapshot(
        period=period,
        generated_at=now,
        factor=factor,
        runs=runs,
        registry=registered_versions(settings),
        decisions=decisions,
        budgets=statuses,
        alerts=alerts,
        esg=esg_score(runs=runs, decisions=decisions, factor=factor),
        placement=placement,
    )
    snap.recommendations = recommendations(
        runs=runs, budgets=statuses, placement=placement, now=now
    )
    return snap
