"""The monitoring report: one JSON file with every figure and one HTML page with plots.

The page is built with :class:`greenscore.evaluation.report.HtmlReport` (plotly.js inlined
once, so it opens offline and archives as one file). It leads with the alerts, then the
score PSI over time, the feature CSI per window (a heatmap: the planted drift of the
generator shows as its last months lighting up), the latest window's per-column table,
reference-against-current bin shares of the most shifted columns, data-quality findings,
performance by vintage with bootstrap intervals, and what the retraining trigger did.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from greenscore.json_document import plain, write_json
from greenscore.monitoring.alerts import latest_judged

HTML_FILE = "monitor.html"
JSON_FILE = "monitor.json"
#: Columns whose reference and current bin shares are drawn (the most shifted first).
DISTRIBUTION_PLOTS = 6
BAND_COLOURS = {"stable": "#2e7d32", "watch": "#f9a825", "act": "#c62828"}


def write_report(report: dict[str, Any], out_dir: Path) -> dict[str, Path]:
    """Write ``monitor.json`` and ``monitor.html`` into ``out_dir`` (created)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    data = plain(report)
    json_path, html_path = out_dir / JSON_FILE, out_dir / HTML_FILE
    write_json(json_path, data)
    render(data).write(html_path)
    return {"json": json_path, "html": html_path}


def _bands_on(figure: Any, bands: dict[str, float]) -> None:
    figure.add_hline(y=bands["stable_below"], line_dash="dot", line_color=BAND_COLOURS["watch"])
    figure.add_hline(y=bands["act_from"], line_dash="dot", line_color=BAND_COLOURS["act"])


def _column_table(snap: dict[str, Any]) -> pd.DataFrame:
    rows = []
    for name, c in snap["columns"].items():
        q = c["quality"]
        rows.append(
            {
                "column": name,
                "role": c["role"],
                "kind": c["kind"],
                "psi": c["psi"],
                "band": c["band"],
                "ks": c.get("ks"),
                "ks_p_value": c.get("ks_p_value"),
                "wasserstein": c.get("wasserstein"),
                "wasserstein_std": c.get("wasserstein_std"),
                "missing_share": q["missing_share"],
                "out_of_range_share": q.get("out_of_range_share"),
                "unseen_share": q.get("unseen_share"),
                "findings": ", ".join(q["findings"]),
            }
        )
    frame = pd.DataFrame(rows)
    return frame.sort_values("psi", ascending=False, na_position="last") if len(frame) else frame


def _drift_sections(report: Any, drift: dict[str, Any]) -> None:
    import plotly.graph_objects as go

    bands = drift["bands"]
    windows = drift.get("windows") or []
    label, snap = latest_judged(drift)
    report.add_heading("Drift")
    report.add_text(
        f"Reference: {drift['reference']['source']} ({drift['reference']['rows'] or '?'} rows). "
        f"Bands: PSI below {bands['stable_below']:g} stable, up to {bands['act_from']:g} "
        f"watch, above act. Latest judged window: {label} ({snap['rows']} rows)."
    )
    if windows:
        summary = pd.DataFrame(
            {
                "window": [w["label"] for w in windows],
                "rows": [w["rows"] for w in windows],
                "judged": [w["judged"] for w in windows],
                "score_psi": [(w["score"] or {}).get("psi") for w in windows],
                "flagged": [", ".join(w["flagged"]) for w in windows],
            }
        )
        if summary["score_psi"].notna().any():
            figure = go.Figure(
                go.Scatter(x=summary["window"], y=summary["score_psi"], mode="lines+markers")
            )
            _bands_on(figure, bands)
            figure.update_layout(title="Score PSI per window", yaxis_title="PSI", height=360)
            report.add_figure(figure)
        names = list(windows[0]["columns"])
        if names:
            z = [[w["columns"][n]["psi"] for w in windows] for n in names]
            heat = go.Figure(
                go.Heatmap(
                    z=z,
                    x=[w["label"] for w in windows],
                    y=names,
                    zmin=0,
                    zmax=max(bands["act_from"] * 2, 0.5),
                    colorscale="YlOrRd",
                    colorbar={"title": "CSI"},
                )
            )
            heat.update_layout(
                title="Characteristic stability index per window", height=max(360, 18 * len(names))
            )
            report.add_figure(heat)
        report.add_heading("Windows", level=3).add_table(summary)
    elif snap.get("score") is not None:
        report.add_text(f"Score PSI: {snap['score']['psi']:.4f} ({snap['score']['band']}).")
    table = _column_table(snap)
    if len(table):
        colours = [BAND_COLOURS[b] for b in table["band"]]
        bars = go.Figure(go.Bar(x=table["column"], y=table["psi"], marker_color=colours))
        _bands_on(bars, bands)
        bars.update_layout(title=f"CSI per column, {label}", yaxis_title="PSI", height=380)
        report.add_figure(bars)
        report.add_heading(f"Columns, {label}", level=3).add_table(table)
        shifted = [n for n in table["column"] if snap["columns"][n]["psi"] is not None]
        for name in shifted[:DISTRIBUTION_PLOTS]:
            bins = snap["columns"][name].get("bins")
            if not bins:
                continue
            figure = go.Figure()
            figure.add_bar(x=bins["labels"], y=bins["expected"], name="reference")
            figure.add_bar(x=bins["labels"], y=bins["actual"], name=label)
            figure.update_layout(
                title=f"{name}: share of rows per reference bin (PSI "
                f"{snap['columns'][name]['psi']:.3f})",
                barmode="group",
                height=340,
            )
            report.add_figure(figure)
    if snap["quality"]:
        report.add_heading(f"Data quality, {label}", level=3)
        report.add_table(pd.DataFrame(snap["quality"]))


def _performance_sections(report: Any, performance: dict[str, Any]) -> None:
    import plotly.graph_objects as go

    vintages = performance["vintages"]
    report.add_heading("Performance by vintage")
    report.add_text(
        f"Baseline AUC {performance['baseline_auc'] or float('nan'):.4f} "
        f"({performance['baseline_source']}); intervals: {performance['interval_method']}, "
        f"{performance['confidence']:.0%}."
    )
    judged = [v for v in vintages if v["judged"]]
    if judged:
        low = [v["auc"] - v["intervals"]["auc"][0] for v in judged]
        high = [v["intervals"]["auc"][1] - v["auc"] for v in judged]
        figure = go.Figure(
            go.Scatter(
                x=[v["vintage"] for v in judged],
                y=[v["auc"] for v in judged],
                error_y={"type": "data", "symmetric": False, "array": high, "arrayminus": low},
                mode="markers+lines",
                name="AUC",
            )
        )
        if performance["baseline_auc"] is not None:
            figure.add_hline(y=performance["baseline_auc"], line_dash="dot")
        figure.update_layout(title="AUC by vintage", yaxis_title="AUC", height=360)
        report.add_figure(figure)
    calibration = go.Figure()
    calibration.add_bar(
        x=[v["vintage"] for v in vintages], y=[v["mean_pd"] for v in vintages], name="mean PD"
    )
    calibration.add_bar(
        x=[v["vintage"] for v in vintages],
        y=[v["default_rate"] for v in vintages],
        name="default rate",
    )
    calibration.update_layout(title="Calibration in the large", barmode="group", height=340)
    report.add_figure(calibration)
    table = pd.DataFrame(
        [
            {
                "vintage": v["vintage"],
                "rows": v["rows"],
                "defaults": v["defaults"],
                "auc": v["auc"],
                "auc_low": (v["intervals"].get("auc") or [None])[0],
                "auc_high": (v["intervals"].get("auc") or [None, None])[1],
                "gini": v["gini"],
                "ks": v["ks"],
                "brier": v["brier"],
                "mean_pd": v["mean_pd"],
                "default_rate": v["default_rate"],
                "calibration_p_value": v["calibration_p_value"],
            }
            for v in vintages
        ]
    )
    report.add_table(table)
    report.add_heading("Calibration by PD band, all vintages", level=3)
    report.add_table(pd.DataFrame(performance["overall"]["bands"]))


def render(data: dict[str, Any]) -> Any:
    """The HTML report of a monitoring run (an :class:`HtmlReport`, not yet written)."""
    from greenscore.evaluation.report import HtmlReport

    report = HtmlReport(f"Model monitoring: {data['model']['name']}")
    report.add_text(
        f"Model {data['model']['name']} ({data['model']['uri']}); run at {data['run_at']}; "
        f"current data: {data['current']}."
    )
    report.add_heading("Alerts")
    alerts = data.get("alerts") or []
    if alerts:
        report.add_table(
            pd.DataFrame(alerts)[["severity", "kind", "subject", "window", "value", "message"]]
        )
    else:
        report.add_text("No alerts.")
    if data.get("deliveries"):
        report.add_text(
            "Delivered to: " + ", ".join(f"{k}: {v}" for k, v in data["deliveries"].items())
        )
    if data.get("drift"):
        _drift_sections(report, data["drift"])
    if data.get("performance"):
        _performance_sections(report, data["performance"])
    report.add_heading("Retraining")
    retraining = data.get("retraining")
    if retraining is None:
        report.add_text("No alert called for retraining.")
    else:
        report.add_json(retraining)
    return report
