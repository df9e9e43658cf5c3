"""The ESG score: an explainable composite of five measured components, each shown.

+--------------------------+------------------------------------------------+------------+------------------+
| component                | value                                          | scale      | 100 at / 0 at    |
+==========================+================================================+============+==================+
| energy_per_auc_point     | kWh of all training in the period / AUC points | log        | 1e-4 / 1e-1 kWh  |
|                          | above chance ((AUC - 0.5) x 100) of the best   |            |                  |
|                          | model of each run, summed                      |            |                  |
+--------------------------+------------------------------------------------+------------+------------------+
| co2_per_1k_decisions     | g CO2e per 1,000 decisions of the latest best  | log        | 0.01 / 10 g      |
|                          | model: its measured kWh per 1k predictions x   |            |                  |
|                          | the grid factor                                |            |                  |
+--------------------------+------------------------------------------------+------------+------------------+
| fairness_gap             | largest demographic-parity or equalized-odds   | linear     | 0.02 / 0.20      |
|                          | difference over the protected attributes of    |            |                  |
|                          | the latest best model (out-of-fold decisions)  |            |                  |
+--------------------------+------------------------------------------------+------------+------------------+
| explanation_coverage     | share of declines recorded in the period that  | linear     | 100 % / 0 %      |
|                          | carry their principal reasons                  |            |                  |
+--------------------------+------------------------------------------------+------------+------------------+
| decisions_with_reasons   | share of all decisions recorded in the period  | linear     | 100 % / 0 %      |
|                          | that carry reason codes                        |            |                  |
+--------------------------+------------------------------------------------+------------+------------------+

Each component scores 0-100 between its two anchors (``log``: on the logarithm of the
value, as energy spans orders of magnitude). The composite is the weighted mean of the
components that could be measured (equal weights, renormalised over those present); a
component without data (no run, no decision in the period) is shown as ``n/a`` with the
reason and left out of the mean, never scored as zero or as perfect. The anchors are
GreenScore's defaults for small tabular credit models on CPUs, stated here so that a
reader can recompute every figure.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

from greenscore.sustainability.decisions import DecisionSummary
from greenscore.sustainability.intensity import GridFactor
from greenscore.sustainability.runs import TrainingRun

#: (name, title, unit, scale, value scoring 100, value scoring 0, weight)
COMPONENTS: tuple[tuple[str, str, str, str, float, float, float], ...] = (
    (
        "energy_per_auc_point",
        "Training energy per AUC point",
        "kWh per AUC point",
        "log",
        1e-4,
        1e-1,
        0.2,
    ),
    (
        "co2_per_1k_decisions",
        "CO2e per 1,000 decisions",
        "g CO2e per 1k decisions",
        "log",
        0.01,
        10.0,
        0.2,
    ),
    (
        "fairness_gap",
        "Largest fairness gap",
        "difference in approval rates",
        "linear",
        0.02,
        0.20,
        0.2,
    ),
    (
        "explanation_coverage",
        "Declines explained",
        "share of declines with reasons",
        "linear",
        1.0,
        0.0,
        0.2,
    ),
    (
        "decisions_with_reasons",
        "Decisions with reasons",
        "share of decisions with reasons",
        "linear",
        1.0,
        0.0,
        0.2,
    ),
)
GRADES = ((85.0, "A"), (70.0, "B"), (55.0, "C"), (40.0, "D"), (0.0, "E"))


@dataclass
class Component:
    """One component: its measured value, how it scores, and where the data came from."""

    name: str
    title: str
    value: float | None
    unit: str
    scale: str
    best: float
    worst: float
    weight: float
    score: float | None
    basis: str

    @property
    def available(self) -> bool:
        """Whether it could be measured."""
        return self.score is not None

    def to_dict(self) -> dict[str, Any]:
        """Plain data for JSON."""
        return {**asdict(self), "available": self.available}


def sub_score(value: float, *, best: float, worst: float, scale: str) -> float:
    """0-100 for ``value`` between ``best`` (100) and ``worst`` (0), clipped."""
    if scale == "log":
        value = max(value, 1e-300)
        position = (math.log10(worst) - math.log10(value)) / (math.log10(worst) - math.log10(best))
    else:
        position = (worst - value) / (worst - best)
    return 100.0 * min(max(position, 0.0), 1.0)


@dataclass
class EsgScore:
    """The composite, its grade, and every component."""

    score: float | None
    grade: str | None
    components: list[Component]

    def to_dict(self) -> dict[str, Any]:
        """Plain data for JSON."""
        return {
            "score": self.score,
            "grade": self.grade,
            "method": "weighted mean of the available components' 0-100 scores "
            "(equal weights, renormalised); see greenscore.sustainability.esg",
            "components": [c.to_dict() for c in self.components],
        }


def _component(name: str, value: float | None, basis: str) -> Component:
    spec = next(c for c in COMPONENTS if c[0] == name)
    _, title, unit, scale, best, worst, weight = spec
    score = None
    if value is not None and math.isfinite(value):
        score = sub_score(value, best=best, worst=worst, scale=scale)
    else:
        value = None
    return Component(name, title, value, unit, scale, best, worst, weight, score, basis)


def largest_fairness_gap(fairness: dict[str, Any] | None) -> tuple[float | None, str]:
    """The largest demographic-parity or equalized-odds difference, and where it is."""
    worst, where = None, "no protected attributes in the spec"
    for attribute, data in ((fairness or {}).get("attributes") or {}).items():
        for metric in ("demographic_parity_difference", "equalized_odds_difference"):
            value = data.get(metric)
            if value is not None and (worst is None or value > worst):
                worst, where = float(value), f"{metric.replace('_', ' ')} of {attribute}"
    return worst, where


def esg_score(
    *, runs: list[TrainingRun], decisions: DecisionSummary, factor: GridFactor
) -> EsgScore:
    """Score a period from its training runs and recorded decisions.

    Parameters
    ----------
    runs : training runs of the period (oldest first; the last one's best model is the
        current one).
    decisions : decisions recorded in the period.
    factor : the grid factor CO2e is computed with.
    """
    components = []
    points = sum(max(r.models[r.best].auc_points, 0.0) for r in runs if r.best)
    kwh = sum(r.train_kwh for r in runs)
    if runs and points > 0:
        components.append(
            _component(
                "energy_per_auc_point",
                kwh / points,
                f"{kwh:.4g} kWh over {len(runs)} run(s) / {points:.1f} AUC points of their best models",
            )
        )
    else:
        components.append(_component("energy_per_auc_point", None, "no training run in the period"))
    latest = runs[-1] if runs else None
    best = latest.models[latest.best] if latest and latest.best else None
    if latest is not None and best is not None and math.isfinite(best.kwh_per_1k):
        grams = best.kwh_per_1k * factor.g_co2e_per_kwh
        components.append(
            _component(
                "co2_per_1k_decisions",
                grams,
                f"{best.name} ({latest.name}): {best.kwh_per_1k:.3g} kWh per 1k predictions "
                f"x {factor.citation}",
            )
        )
    else:
        components.append(
            _component("co2_per_1k_decisions", None, "no measured model in the period")
        )
    gap, where = largest_fairness_gap(latest.fairness if latest else None)
    basis = f"{where} ({latest.best}, {latest.name})" if latest and gap is not None else where
    components.append(
        _component("fairness_gap", gap, basis if latest else "no training run in the period")
    )
    if decisions.declines:
        share = decisions.declines_with_reasons / decisions.declines
        text = f"{decisions.declines_with_reasons} of {decisions.declines} declines carry reasons"
        components.append(_component("explanation_coverage", share, text))
    else:
        components.append(
            _component("explanation_coverage", None, "no declines recorded in the period")
        )
    if decisions.total:
        share = decisions.with_reasons / decisions.total
        text = f"{decisions.with_reasons} of {decisions.total} decisions carry reasons"
        components.append(_component("decisions_with_reasons", share, text))
    else:
        components.append(
            _component("decisions_with_reasons", None, "no decisions recorded in the period")
        )
    present = [c for c in components if c.available]
    if not present:
        return EsgScore(None, None, components)
    weight = sum(c.weight for c in present)
    score = sum(c.score * c.weight for c in present if c.score is not None) / weight
    grade = next(g for floor, g in GRADES if score >= floor)
    return EsgScore(score, grade, components)
