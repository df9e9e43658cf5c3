"""What the prediction store says about decisions in a period: how many, how many
carried their reasons, and what they cost.

The scoring service records every decision in the ``predictions`` table with the reason
codes it gave and its energy (``energy_kwh``) in the payload. The ESG score asks two
questions of them: the share of all decisions that came with reasons, and the share of
adverse ones (declines) that did -- every adverse action needs its principal reasons. The
report sums the recorded energy. Read-only; only the columns needed.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select

from greenscore.config import Settings, get_settings
from greenscore.store import database_url, session_scope
from greenscore.store._time import aware
from greenscore.store.tables.predictions import PredictionRecord

DECLINE = "decline"


@dataclass
class DecisionSummary:
    """Decisions recorded in a period.

    Attributes
    ----------
    total : decisions.
    with_reasons : decisions whose record carries at least one reason code.
    declines, declines_with_reasons : the same for adverse decisions.
    by_model : decisions per model name.
    by_decision : decisions per band (approve, review, decline).
    hourly : decisions per UTC hour (``YYYY-MM-DDTHH:00``), oldest first.
    energy_by_model : per model name, (decisions recorded with their energy, their kWh);
        decisions written before the service recorded it, or whose model had no figure,
        are not in it.
    """

    total: int = 0
    with_reasons: int = 0
    declines: int = 0
    declines_with_reasons: int = 0
    by_model: dict[str, int] = field(default_factory=dict)
    by_decision: dict[str, int] = field(default_factory=dict)
    hourly: dict[str, int] = field(default_factory=dict)
    energy_by_model: dict[str, tuple[int, float]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """Plain data for JSON."""
        return dict(self.__dict__)


def _has_reasons(payload: Any) -> bool:
    return bool(isinstance(payload, dict) and payload.get("reason_codes"))


def _energy(payload: Any) -> float | None:
    """The decision's recorded kWh, or None (not recorded, or not a finite number)."""
    kwh = payload.get("energy_kwh") if isinstance(payload, dict) else None
    if isinstance(kwh, bool) or not isinstance(kwh, int | float) or not math.isfinite(kwh):
        return None
    return float(kwh)


def decision_summary(
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    settings: Settings | None = None,
) -> DecisionSummary:
    """Count the decisions recorded in ``[since, until)``."""
    settings = settings or get_settings()
    query = select(
        PredictionRecord.model_name,
        PredictionRecord.decision,
        PredictionRecord.created_at,
        PredictionRecord.payload,
    )
    if since is not None:
        query = query.where(PredictionRecord.created_at >= aware(since))
    if until is not None:
        query = query.where(PredictionRecord.created_at < aware(until))
    summary = DecisionSummary()
    models: Counter[str] = Counter()
    bands: Counter[str] = Counter()
    hours: Counter[str] = Counter()
    energy: dict[str, tuple[int, float]] = {}
    with session_scope(database_url(settings)) as session:
        for model, decision, created, payload in session.execute(query):
            reasons = _has_reasons(payload)
            summary.total += 1
            summary.with_reasons += reasons
            if decision == DECLINE:
                summary.declines += 1
                summary.declines_with_reasons += reasons
            models[model] += 1
            kwh = _energy(payload)
            if kwh is not None:
                counted, total = energy.get(model, (0, 0.0))
                energy[model] = (counted + 1, total + kwh)
            bands[decision] += 1
            hours[aware(created).strftime("%Y-%m-%dT%H:00")] += 1
    summary.by_model = dict(models)
    summary.by_decision = dict(bands)
    summary.hourly = dict(sorted(hours.items()))
    summary.energy_by_model = energy
    return summary
