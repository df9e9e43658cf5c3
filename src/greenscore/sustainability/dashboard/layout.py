"""The dashboard's panels, as Dash components built from one measured snapshot.

Every panel shows data or says plainly why it has none; an empty home gets a "no runs
yet" notice telling the user how to fill it.
"""

from __future__ import annotations

from typing import Any

from dash import dcc, html

from greenscore.sustainability.dashboard import figures
from greenscore.sustainability.decisions import DecisionSummary
from greenscore.sustainability.hourly_profiles import typical_day
from greenscore.sustainability.serving_metrics import ServiceSnapshot
from greenscore.sustainability.snapshot import Snapshot

EMPTY_TEXT = "No runs yet"
_CARD = {
    "border": "1px solid #cfd8d3",
    "borderRadius": "6px",
    "padding": "0.8em 1em",
    "margin": "0.6em 0",
    "background": "#fff",
}
_GRID = {
    "display": "grid",
    "gridTemplateColumns": "repeat(auto-fit, minmax(460px, 1fr))",
    "gap": "1em",
}


def panel_attr(panel: str) -> dict[str, Any]:
    """The ``data-panel`` attribute, as keywords: Dash takes ``data-*`` attributes that way
    (its generated signatures do not list them)."""
    return {"data-panel": panel}


def card(title: str, *children: Any, panel: str) -> html.Div:
    """A titled panel (``data-panel`` names it for tests and styling)."""
    return html.Div(
        [html.H3(title, style={"marginTop": 0}), *children], style=_CARD, **panel_attr(panel)
    )


def chart(figure: Any, *, panel: str, empty: str) -> Any:
    """A graph, or a sentence saying why there is none."""
    if figure is None:
        return html.P(empty, className="gs-empty", **panel_attr(panel))
    return html.Div(dcc.Graph(figure=figure, config={"displaylogo": False}), **panel_attr(panel))


def _table(head: list[str], rows: list[list[Any]]) -> html.Table:
    style = {"borderBottom": "1px solid #cfd8d3", "padding": "0.25em 0.6em", "textAlign": "left"}
    return html.Table(
        [html.Thead(html.Tr([html.Th(h, style=style) for h in head]))]
        + [html.Tbody([html.Tr([html.Td(c, style=style) for c in row]) for row in rows])],
        style={"borderCollapse": "collapse", "width": "100%", "fontSize": "0.9em"},
    )


def empty_notice(snapshot: Snapshot, home: str) -> html.Div:
    """What an empty home shows first."""
    return card(
        EMPTY_TEXT,
        html.P(
            f"No training runs or decisions are recorded yet in {home} for {snapshot.period.key}. "
            "Run 'greenscore demo' (or 'greenscore train ...'); this page fills itself from "
            "MLflow and the GreenScore database."
        ),
        panel="empty",
    )


def headline(snapshot: Snapshot) -> html.Div:
    """Totals, the factor they use, and the ESG score."""
    t = snapshot.totals()
    esg = snapshot.esg
    score = f"{esg.score:.1f} / 100 (grade {esg.grade})" if esg.score is not None else "n/a"
    items = [
        ("energy", f"{t['total_kwh']:.4g} kWh"),
        ("CO2e", f"{t['total_co2_kg'] * 1000:.4g} g"),
        ("training runs", str(t["runs"])),
        ("decisions", str(t["decisions"])),
        ("ESG score", score),
    ]
    return card(
        f"{snapshot.period.key}: totals",
        html.Div(
            [
                html.Div(
                    [html.Div(k, style={"color": "#5b6b63"}), html.Strong(v)],
                    style={"minWidth": "9em"},
                )
                for k, v in items
            ],
            style={"display": "flex", "flexWrap": "wrap", "gap": "1.5em"},
        ),
        html.P(
            f"CO2e = kWh x {snapshot.factor.citation}",
            style={"fontSize": "0.85em", "color": "#5b6b63"},
        ),
        panel="totals",
    )


def esg_panel(snapshot: Snapshot) -> html.Div:
    """The composite and every component with its value and basis."""
    rows = [
        [
            c.title,
            "n/a" if c.value is None else f"{c.value:.4g}",
            c.unit,
            "n/a" if c.score is None else f"{c.score:.0f}",
            f"{c.weight:g}",
            c.basis,
        ]
        for c in snapshot.esg.components
    ]
    return card(
        "ESG score",
        chart(figures.esg_components(snapshot.esg), panel="esg-chart", empty=""),
        _table(["component", "value", "unit", "score", "weight", "basis"], rows),
        panel="esg",
    )


def registry_panel(snapshot: Snapshot) -> html.Div:
    """Registered model versions; champion and challenger marked."""
    if not snapshot.registry:
        return card(
            "Model registry",
            html.P("No registered model yet (greenscore train --register NAME)."),
            panel="registry",
        )
    rows = [
        [
            v.name,
            str(v.version),
            ", ".join(v.aliases) or "-",
            v.run_id or "-",
            f"{v.created:%Y-%m-%d %H:%M}",
        ]
        for v in snapshot.registry
    ]
    return card(
        "Model registry",
        _table(["model", "version", "aliases", "run", "registered"], rows),
        panel="registry",
    )


def alerts_panel(snapshot: Snapshot, findings: list[dict[str, Any]]) -> html.Div:
    """Budget alerts and the monitor's findings (its retraining requests)."""
    rows = [[f"{a.fired_at:%Y-%m-%d %H:%M}", "carbon budget", a.message] for a in snapshot.alerts]
    rows += [[f["created_at"][:16].replace("T", " "), "monitoring", f["text"]] for f in findings]
    if not rows:
        return card("Alerts", html.P("No alerts."), panel="alerts")
    return card("Alerts", _table(["when (UTC)", "source", "alert"], rows), panel="alerts")


def recommendations_panel(snapshot: Snapshot) -> html.Div:
    """Recommendations from the measured figures."""
    if not snapshot.recommendations:
        return card(
            "Recommendations",
            html.P("None: nothing in the data calls for one."),
            panel="recommendations",
        )
    return card(
        "Recommendations",
        html.Ul([html.Li([html.Strong(f"{r.topic}: "), r.text]) for r in snapshot.recommendations]),
        panel="recommendations",
    )


def live_panel(service: ServiceSnapshot, decisions: DecisionSummary) -> list[Any]:
    """Latency, throughput, PSI and decisions of the scoring service, and stored decisions."""
    if service.available:
        lat = service.latency_ms
        items = [
            ("p50 latency", f"{lat.get('p50', float('nan')):.2f} ms"),
            ("p95 latency", f"{lat.get('p95', float('nan')):.2f} ms"),
            ("p99 latency", f"{lat.get('p99', float('nan')):.2f} ms"),
            ("throughput", f"{service.throughput_rps:.2f} req/s"),
            ("decisions since start", f"{service.total_decisions:.0f}"),
            ("PSI", ", ".join(f"{k} {v:.3f}" for k, v in service.psi.items()) or "n/a"),
            ("scoring CO2e", f"{service.co2_kg * 1000:.4g} g"),
        ]
        body: list[Any] = [
            html.Div(
                [
                    html.Div(
                        [html.Div(k, style={"color": "#5b6b63"}), html.Strong(v)],
                        style={"minWidth": "9em"},
                    )
                    for k, v in items
                ],
                style={"display": "flex", "flexWrap": "wrap", "gap": "1.5em"},
            )
        ]
    else:
        body = [html.P(service.note, className="gs-empty")]
    body.append(
        html.P(
            service.note if service.available else "",
            style={"fontSize": "0.85em", "color": "#5b6b63"},
        )
    )
    body.append(
        chart(
            figures.decisions_per_hour(decisions),
            panel="decisions-chart",
            empty="No decisions recorded in the prediction store yet.",
        )
    )
    return body


def page(snapshot: Snapshot, *, home: str, findings: list[dict[str, Any]]) -> list[Any]:
    """Every panel for one period, in reading order."""
    runs, factor = snapshot.runs, snapshot.factor
    out: list[Any] = []
    if snapshot.empty:
        out.append(empty_notice(snapshot, home))
    out.append(headline(snapshot))
    out.append(recommendations_panel(snapshot))
    out.append(
        html.Div(
            [
                card(
                    "Energy over time",
                    chart(
                        figures.training_energy(runs, factor),
                        panel="energy-chart",
                        empty="No training runs yet.",
                    ),
                    panel="energy",
                ),
                card(
                    "CO2e of predictions",
                    chart(
                        figures.scoring_carbon(runs, factor),
                        panel="co2-chart",
                        empty="No training runs yet.",
                    ),
                    panel="co2",
                ),
                card(
                    "AUC vs energy",
                    chart(
                        figures.pareto(runs), panel="pareto-chart", empty="No measured models yet."
                    ),
                    panel="pareto",
                ),
                card(
                    "Budgets",
                    chart(
                        figures.burn_down(snapshot.budgets, snapshot.generated_at),
                        panel="budget-chart",
                        empty="No carbon budget set (greenscore carbon budget set ...).",
                    ),
                    panel="budgets",
                ),
                card(
                    "Fairness",
                    chart(
                        figures.fairness_gaps(runs),
                        panel="fairness-chart",
                        empty="No fairness report yet (the spec needs protected attributes).",
                    ),
                    panel="fairness",
                ),
                card(
                    "Grid intensity",
                    chart(
                        figures.typical_day(typical_day(factor), factor),
                        panel="grid-chart",
                        empty="",
                    ),
                    panel="grid",
                ),
            ],
            style=_GRID,
        )
    )
    out.append(esg_panel(snapshot))
    out.append(html.Div([registry_panel(snapshot), alerts_panel(snapshot, findings)], style=_GRID))
    return out
