"""The GreenScore dashboard: a Dash app over MLflow, the GreenScore database and the service.

The page holds a period picker and two areas filled by callbacks: the measured panels of
the chosen period (:mod:`.layout`, read afresh on every change or reload) and the live
serving panel, refreshed every ``LIVE_SECONDS`` from the scoring service's metrics.
Dash serves its own JavaScript from the installed package: the page needs no internet.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from greenscore.config import Settings, get_settings
from greenscore.logging import get_logger
from greenscore.sustainability.periods import Period, budget_period, parse_period
from greenscore.sustainability.serving_metrics import (
    MetricsSource,
    source_from_settings,
)
from greenscore.sustainability.serving_metrics import (
    snapshot as service_snapshot,
)

log = get_logger(__name__)

LIVE_SECONDS = 15
ALL_TIME = "all"


def period_options(now: datetime) -> list[dict[str, str]]:
    """All time, this quarter and the three before, this year."""
    options = [{"label": "all time", "value": ALL_TIME}]
    quarter = budget_period("quarter", now)
    for _ in range(4):
        options.append({"label": quarter.key, "value": quarter.key})
        start = quarter.start
        assert start is not None  # a quarter has a start (only all time has none)
        quarter = budget_period("quarter", start - timedelta(days=1))
    options.append({"label": str(now.year), "value": str(now.year)})
    return options


def chosen_period(value: str | None) -> Period:
    """The picker's value as a period (all time when empty)."""
    if not value or value == ALL_TIME:
        return Period("all time", None, None)
    return parse_period(value)


def _findings() -> list[dict[str, Any]]:
    """The monitor's retraining requests, newest first, as alert lines."""
    from greenscore.store import database
    from greenscore.store.training_jobs import training_jobs

    out = []
    for job in reversed(training_jobs(db=database(get_settings()))):
        reasons = "; ".join(
            str(r.get("message", r)) if isinstance(r, dict) else str(r) for r in job.reasons or []
        )
        out.append(
            {
                "created_at": job.created_at.isoformat(),
                "text": f"{job.model}: {job.status} retraining ({reasons})",
            }
        )
    return out[:50]


def create_dashboard(
    settings: Settings | None = None,
    *,
    metrics_source: MetricsSource | None = None,
    prefix: str = "/",
) -> Any:
    """Build the Dash app.

    Parameters
    ----------
    settings : Settings, optional
    metrics_source : callable, optional
        Returns the scoring service's Prometheus text (inside the API: its own registry);
        default ``sustainability.metrics_url``.
    prefix : str
        The path the app is served under as the browser sees it (``/dashboard/`` when
        mounted in the API).

    Returns
    -------
    dash.Dash
    """
    import dash
    from dash import Input, Output, dcc, html

    from greenscore.sustainability.dashboard import layout
    from greenscore.sustainability.decisions import decision_summary
    from greenscore.sustainability.snapshot import gather

    settings = settings or get_settings()
    source: MetricsSource | None = metrics_source or source_from_settings(settings)
    home = str(settings.home.resolve())
    app = dash.Dash(
        __name__,
        title="GreenScore sustainability",
        requests_pathname_prefix=prefix,
        routes_pathname_prefix="/",
        serve_locally=True,
        update_title="",  # none: the tab keeps its title while a callback runs
    )

    def page_layout() -> Any:
        now = datetime.now(UTC)
        return html.Div(
            [
                html.H1(
                    "GreenScore: energy, carbon and ESG of credit-risk models",
                    style={"fontSize": "1.5em"},
                ),
                html.Div(
                    [
                        html.Label("Period ", htmlFor="period"),
                        dcc.Dropdown(
                            id="period",
                            options=period_options(now),
                            value=ALL_TIME,
                            clearable=False,
                            style={
                                "width": "14em",
                                "display": "inline-block",
                                "verticalAlign": "middle",
                            },
                        ),
                    ]
                ),
                dcc.Loading(html.Div(id="content"), type="dot"),
                html.Div(
                    [html.H3("Live serving", style={"marginTop": 0}), html.Div(id="live")],
                    style=layout._CARD,
                    **layout.panel_attr("live"),
                ),
                dcc.Interval(id="tick", interval=LIVE_SECONDS * 1000, n_intervals=0),
            ],
            style={
                "fontFamily": "system-ui, sans-serif",
                "maxWidth": "1400px",
                "margin": "1em auto",
                "padding": "0 1em",
                "background": "#f6f8f7",
            },
        )

    app.layout = page_layout

    @app.callback(Output("content", "children"), Input("period", "value"))
    def _content(value: str | None) -> Any:
        snap = gather(chosen_period(value), settings=settings, now=datetime.now(UTC))
        return layout.page(snap, home=home, findings=_findings())

    @app.callback(
        Output("live", "children"), Input("tick", "n_intervals"), Input("period", "value")
    )
    def _live(_n: int, value: str | None) -> Any:
        span = chosen_period(value)
        decisions = decision_summary(since=span.start, until=span.end, settings=settings)
        return layout.live_panel(service_snapshot(source), decisions)

    return app


def metrics_from(render: Callable[[], bytes]) -> MetricsSource:
    """A metrics source over a registry's renderer (the API's ``Monitor.render``)."""
    return lambda: render().decode("utf-8")
