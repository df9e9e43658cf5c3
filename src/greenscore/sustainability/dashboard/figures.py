"""The dashboard's Plotly figures, each built from measured data only.

One function per chart; each takes plain measured objects (a
:class:`~greenscore.sustainability.snapshot.Snapshot` or its parts) and returns a figure,
or None when there is nothing to draw (the page then says so in words instead).
"""

from __future__ import annotations

import math
from datetime import datetime

import plotly.graph_objects as go

from greenscore.sustainability.budgets import BudgetStatus
from greenscore.sustainability.decisions import DecisionSummary
from greenscore.sustainability.esg import EsgScore
from greenscore.sustainability.intensity import GridFactor
from greenscore.sustainability.runs import TrainingRun

GREEN, AMBER, RED, GREY = "#2a7f62", "#f2c14e", "#b3261e", "#8a9a92"
_LAYOUT = {
    "height": 340,
    "margin": {"l": 60, "r": 20, "t": 50, "b": 50},
    "template": "plotly_white",
    "legend": {"orientation": "h", "y": -0.25},
}


def _figure(title: str, **layout: object) -> go.Figure:
    fig = go.Figure()
    fig.update_layout(title=title, **{**_LAYOUT, **layout})
    return fig


def training_energy(runs: list[TrainingRun], factor: GridFactor) -> go.Figure | None:
    """Energy of each model's training per run, over time (CO2e in the hover)."""
    if not runs:
        return None
    fig = _figure("Training energy per run and model", yaxis_title="kWh (all fits)")
    for name in sorted({n for r in runs for n in r.models}):
        points = [(r.started, r.models[name], r.name) for r in runs if name in r.models]
        fig.add_trace(
            go.Scatter(
                x=[p[0] for p in points],
                y=[p[1].train_kwh for p in points],
                mode="lines+markers",
                name=name,
                customdata=[[p[1].train_kwh * factor.g_co2e_per_kwh, p[2]] for p in points],
                hovertemplate="%{customdata[1]}<br>%{y:.4g} kWh = %{customdata[0]:.4g} g CO2e"
                "<extra>" + name + "</extra>",
            )
        )
    return fig


def scoring_carbon(runs: list[TrainingRun], factor: GridFactor) -> go.Figure | None:
    """g CO2e per 1,000 predictions of each model, over time."""
    if not runs:
        return None
    fig = _figure(
        f"CO2e per 1,000 predictions (at {factor.g_co2e_per_kwh:.0f} g/kWh)",
        yaxis_title="g CO2e per 1k predictions",
    )
    for name in sorted({n for r in runs for n in r.models}):
        points = [
            (r.started, r.models[name].kwh_per_1k * factor.g_co2e_per_kwh)
            for r in runs
            if name in r.models and math.isfinite(r.models[name].kwh_per_1k)
        ]
        fig.add_trace(
            go.Scatter(
                x=[p[0] for p in points], y=[p[1] for p in points], mode="lines+markers", name=name
            )
        )
    return fig


def pareto(runs: list[TrainingRun]) -> go.Figure | None:
    """AUC against energy per 1,000 predictions; the frontier joins the models no other beats."""
    points = [
        (m.kwh_per_1k, m.auc, f"{m.name} ({r.name})")
        for r in runs
        for m in r.models.values()
        if math.isfinite(m.kwh_per_1k) and m.kwh_per_1k > 0
    ]
    if not points:
        return None
    fig = _figure("AUC vs energy (Pareto)", xaxis_title="kWh per 1k predictions", yaxis_title="AUC")
    fig.update_xaxes(type="log")
    fig.add_trace(
        go.Scatter(
            x=[p[0] for p in points],
            y=[p[1] for p in points],
            text=[p[2] for p in points],
            mode="markers",
            name="models",
            marker={"size": 10, "color": GREY},
            hovertemplate="%{text}<br>AUC %{y:.4f}<br>%{x:.3g} kWh/1k<extra></extra>",
        )
    )
    frontier, best_auc = [], -math.inf
    for kwh, auc, label in sorted(points):
        if auc > best_auc:
            frontier.append((kwh, auc, label))
            best_auc = auc
    fig.add_trace(
        go.Scatter(
            x=[p[0] for p in frontier],
            y=[p[1] for p in frontier],
            text=[p[2] for p in frontier],
            mode="lines+markers",
            name="Pareto frontier",
            line={"color": GREEN},
            marker={"size": 12, "color": GREEN},
            hovertemplate="%{text}<br>AUC %{y:.4f}<br>%{x:.3g} kWh/1k<extra></extra>",
        )
    )
    return fig


def burn_down(statuses: list[BudgetStatus], now: datetime) -> go.Figure | None:
    """kg CO2e left in each budget's current period after each recorded piece of work."""
    if not statuses:
        return None
    fig = _figure("Carbon budget burn-down", yaxis_title="kg CO2e left")
    for s in statuses:
        b = s.budget
        start = s.period.start or (s.series[0][0] if s.series else None)
        xs: list[datetime] = ([start] if start else []) + [t for t, _ in s.series]
        ys = ([b.limit_kg] if start else []) + [b.limit_kg - kg for _, kg in s.series]
        # Carry the line on to now (or the period's end), where the budget stands today.
        end = min(now, s.period.end) if s.period.end else now
        if xs and end > xs[-1]:
            xs.append(end)
            ys.append(ys[-1])
        fig.add_trace(
            go.Scatter(
                x=xs,
                y=ys,
                mode="lines+markers",
                line_shape="hv",
                name=f"{b.scope} {b.name} ({s.period.key}, {s.share:.0%} used)",
            )
        )
    fig.add_hline(y=0, line_color=RED, line_dash="dash")
    return fig


def fairness_gaps(runs: list[TrainingRun], *, last: int = 5) -> go.Figure | None:
    """Demographic-parity and equalized-odds gaps of the best model of the latest runs."""
    rows = []
    for r in runs[-last:]:
        for attribute, data in ((r.fairness or {}).get("attributes") or {}).items():
            rows.append((f"{r.best} ({r.started:%m-%d %H:%M})", attribute, data))
    if not rows:
        return None
    fig = _figure("Fairness gaps per model", yaxis_title="difference", barmode="group")
    for metric, colour in (
        ("demographic_parity_difference", GREEN),
        ("equalized_odds_difference", AMBER),
    ):
        fig.add_trace(
            go.Bar(
                x=[f"{a}<br>{m}" for m, a, _ in rows],
                y=[d.get(metric) for _, _, d in rows],
                name=metric.replace("_", " "),
                marker_color=colour,
            )
        )
    fig.add_hline(y=0.1, line_color=RED, line_dash="dash", annotation_text="0.1")
    return fig


def esg_components(esg: EsgScore) -> go.Figure:
    """Each ESG component's 0-100 score (n/a ones shown at 0 in grey, labelled)."""
    names = [c.title for c in esg.components]
    scores = [c.score if c.available else 0 for c in esg.components]
    colours = [
        GREEN
        if c.score is not None and c.score >= 70
        else AMBER
        if c.score is not None and c.score >= 40
        else RED
        if c.score is not None
        else GREY
        for c in esg.components
    ]
    text = [f"{c.score:.0f}" if c.available else "n/a" for c in esg.components]
    fig = _figure("ESG score components (0-100)", yaxis_range=[0, 100])
    fig.add_trace(
        go.Bar(x=names, y=scores, text=text, textposition="outside", marker_color=colours)
    )
    return fig


def decisions_per_hour(decisions: DecisionSummary) -> go.Figure | None:
    """Decisions recorded per hour (from the prediction store)."""
    if not decisions.hourly:
        return None
    fig = _figure("Decisions per hour (prediction store)", yaxis_title="decisions")
    fig.add_trace(
        go.Bar(x=list(decisions.hourly), y=list(decisions.hourly.values()), marker_color=GREEN)
    )
    return fig


def typical_day(hours: list[float], factor: GridFactor) -> go.Figure:
    """The configured region's typical day of grid intensity (always available)."""
    fig = _figure(
        f"Grid intensity, typical day: {factor.name}",
        xaxis_title="local hour",
        yaxis_title="g CO2e/kWh",
    )
    fig.add_trace(go.Bar(x=list(range(24)), y=hours, marker_color=GREEN, name="typical hour"))
    fig.add_hline(
        y=factor.g_co2e_per_kwh,
        line_dash="dash",
        line_color=GREY,
        annotation_text=f"annual average {factor.g_co2e_per_kwh:.0f}",
    )
    return fig
