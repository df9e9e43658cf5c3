"""The ESG report as HTML (self-contained) and PDF (reportlab), from its JSON data.

Both render the numbers of :func:`greenscore.sustainability.report_esg.build_report`
without computing any: figures print with six significant digits, so a reader (or a
test) can match every total to the JSON. The PDF uses the standard Helvetica fonts
(no font files), so text is kept to Latin-1.
"""

from __future__ import annotations

import html
import math
from pathlib import Path
from typing import Any

#: Rows of the totals table: (label, key in report["totals"], unit).
TOTALS = (
    ("Total energy", "total_kwh", "kWh"),
    ("Training energy", "training_kwh", "kWh"),
    ("Scoring energy", "scoring_kwh", "kWh"),
    ("Total CO2e", "total_co2_kg", "kg"),
    ("Training CO2e", "training_co2_kg", "kg"),
    ("Scoring CO2e", "scoring_co2_kg", "kg"),
    ("Training runs", "runs", ""),
    ("Model fits", "fits", ""),
    ("Decisions", "decisions", ""),
)


def number(value: Any) -> str:
    """A figure as printed in both renderings (six significant digits; n/a for none)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


def _latin1(text: str) -> str:
    return str(text).encode("latin-1", "replace").decode("latin-1")


def _sections(report: dict[str, Any], summary: bool) -> list[tuple[str, Any]]:
    """(heading, content) pairs; content is text, a list of rows (first = header) or bullets."""
    t = report["totals"]
    sections: list[tuple[str, Any]] = []
    if summary:
        s = report["stakeholder_summary"]
        sections.append(("Summary", s["headline"]))
        sections.append(("Key points", {"bullets": s["bullets"]}))
        sections.append(
            (
                "Totals",
                [["figure", "value", "unit"]] + [[lab, number(t[k]), u] for lab, k, u in TOTALS],
            )
        )
        return sections
    sections.append(
        (
            "Method",
            f"{report['method']['energy']}. {report['method']['carbon']}: "
            f"{report['method']['factor']['citation']}; source: {report['method']['factor']['source']}.",
        )
    )
    sections.append(
        ("Totals", [["figure", "value", "unit"]] + [[lab, number(t[k]), u] for lab, k, u in TOTALS])
    )
    mt = report["tcfd"]["metrics_and_targets"]
    sections.append(
        (
            "TCFD Metrics and Targets (a): metrics",
            [["metric", "value", "unit"]]
            + [[m["metric"], number(m["value"]), m["unit"]] for m in mt["a_metrics"]],
        )
    )
    b = mt["b_emissions"]
    sections.append(
        (
            "TCFD Metrics and Targets (b): Scope 2 emissions, location-based",
            [
                ["item", "kg CO2e"],
                ["Scope 2 (location-based)", number(b["scope_2_location_based_kg"])],
                ["training", number(b["training_kg"])],
                ["scoring", number(b["scoring_kg"])],
                ["factor", b["factor"]],
            ],
        )
    )
    targets = [["budget", "period", "used kg", "limit kg", "share", "alerts fired"]] + [
        [
            f"{x['scope']} '{x['name']}'",
            x["period_key"],
            number(x["used_kg"]),
            number(x["limit_kg"]),
            f"{x['share']:.1%}",
            ", ".join(f"{f:.0%}" for f in x["fired"]) or "none",
        ]
        for x in mt["c_targets"]
    ]
    sections.append(
        (
            "TCFD Metrics and Targets (c): targets (carbon budgets)",
            targets
            if len(targets) > 1
            else "No carbon budget is set (greenscore carbon budget set).",
        )
    )
    sasb = [["code", "indicator", "values", "note"]] + [
        [
            x["code"],
            x["indicator"],
            "; ".join(f"{k} {number(v)}" for k, v in x["values"].items()),
            x["note"],
        ]
        for x in report["sasb"]
    ]
    sections.append(("SASB-style indicators", sasb))
    esg = report["esg_score"]
    head = f"ESG score {number(esg['score'])} (grade {esg['grade'] or 'n/a'}). {esg['method']}."
    rows = [["component", "value", "unit", "score", "weight", "basis"]] + [
        [
            c["title"],
            number(c["value"]),
            c["unit"],
            number(c["score"]),
            number(c["weight"]),
            c["basis"],
        ]
        for c in esg["components"]
    ]
    sections.append(("ESG score", head))
    sections.append(("ESG score components", rows))
    models = [["run", "model", "AUC", "fits", "train kWh", "train kg CO2e", "kWh/1k pred"]] + [
        [
            m["run"],
            m["model"] + (" *" if m["best_in_run"] else ""),
            number(m["auc"]),
            number(m["fits"]),
            number(m["train_kwh"]),
            number(m["train_co2_kg"]),
            number(m["kwh_per_1k_predictions"]),
        ]
        for m in report["models"]
    ]
    sections.append(
        ("Models (* best in run)", models if len(models) > 1 else "No training run in the period.")
    )
    off = report["offsets"]
    sections.append(
        (
            "Offsets",
            f"{number(off['tonnes_co2e'])} t CO2e at {number(off['price_per_tonne'])} "
            f"{off['currency']}/t = {off['cost']:.2f} {off['currency']}. {off['note']}.",
        )
    )
    alerts = [["fired", "threshold", "message"]] + [
        [a["fired_at"][:19], f"{a['threshold']:.0%}", a["message"]] for a in report["alerts"]
    ]
    sections.append(
        ("Budget alerts", alerts if len(alerts) > 1 else "No budget alert in the period.")
    )
    recs = [r["text"] for r in report["recommendations"]]
    sections.append(
        (
            "Recommendations",
            {"bullets": recs} if recs else "None: nothing in the data calls for one.",
        )
    )
    return sections


# ---------------------------------------------------------------------- HTML
_STYLE = """
body{font-family:system-ui,-apple-system,Segoe UI,sans-serif;margin:2em auto;max-width:72em;color:#1d2a24;padding:0 1em}
h1{font-size:1.5em}h2{font-size:1.15em;margin-top:1.6em;border-bottom:1px solid #cfd8d3}
table{border-collapse:collapse;width:100%;margin:.6em 0;font-size:.92em}
th,td{border:1px solid #cfd8d3;padding:.35em .6em;text-align:left;vertical-align:top}
th{background:#eef4f0}
"""


def _html_content(content: Any) -> str:
    if isinstance(content, str):
        return f"<p>{html.escape(content)}</p>"
    if isinstance(content, dict):
        return "<ul>" + "".join(f"<li>{html.escape(b)}</li>" for b in content["bullets"]) + "</ul>"
    head, *rows = content
    out = (
        "<table><thead><tr>"
        + "".join(f"<th>{html.escape(str(h))}</th>" for h in head)
        + "</tr></thead><tbody>"
    )
    for row in rows:
        out += "<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in row) + "</tr>"
    return out + "</tbody></table>"


def render_html(report: dict[str, Any], path: Path, *, summary: bool = False) -> Path:
    """Write the report (or its stakeholder summary) as one self-contained HTML page."""
    title = report["title"] + (" - stakeholder summary" if summary else "")
    body = [
        f"<h1>{html.escape(title)}</h1>",
        f"<p>Generated {html.escape(report['generated_at'][:19])} UTC for project "
        f"{html.escape(str(report['organisation']['project']))}.</p>",
    ]
    for heading, content in _sections(report, summary):
        body.append(f"<h2>{html.escape(heading)}</h2>{_html_content(content)}")
    page = (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        f"<title>{html.escape(title)}</title><style>{_STYLE}</style></head>"
        f"<body>{''.join(body)}</body></html>\n"
    )
    path.write_text(page, encoding="utf-8")
    return path


# ---------------------------------------------------------------------- PDF
def render_pdf(report: dict[str, Any], path: Path, *, summary: bool = False) -> Path:
    """Write the report (or its stakeholder summary) as a PDF with reportlab."""
    from reportlab.lib import colors
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.styles import getSampleStyleSheet
    from reportlab.lib.units import mm
    from reportlab.platypus import (
        ListFlowable,
        ListItem,
        Paragraph,
        SimpleDocTemplate,
        Spacer,
        Table,
        TableStyle,
    )

    styles = getSampleStyleSheet()
    cell = styles["BodyText"].clone("cell", fontSize=7.5, leading=9)
    title = report["title"] + (" - stakeholder summary" if summary else "")

    def para(text: str, style: Any = None) -> Paragraph:
        return Paragraph(html.escape(_latin1(text)), style or styles["BodyText"])

    story: list[Any] = [
        para(title, styles["Title"]),
        para(
            f"Generated {report['generated_at'][:19]} UTC for project {report['organisation']['project']}."
        ),
    ]
    width = A4[0] - 30 * mm
    for heading, content in _sections(report, summary):
        story.append(para(heading, styles["Heading2"]))
        if isinstance(content, str):
            story.append(para(content))
        elif isinstance(content, dict):
            story.append(
                ListFlowable([ListItem(para(b)) for b in content["bullets"]], bulletType="bullet")
            )
        else:
            rows = [[Paragraph(html.escape(_latin1(str(c))), cell) for c in row] for row in content]
            table = Table(rows, colWidths=[width / len(content[0])] * len(content[0]), repeatRows=1)
            table.setStyle(
                TableStyle(
                    [
                        ("GRID", (0, 0), (-1, -1), 0.4, colors.HexColor("#cfd8d3")),
                        ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#eef4f0")),
                        ("VALIGN", (0, 0), (-1, -1), "TOP"),
                    ]
                )
            )
            story.append(table)
        story.append(Spacer(1, 3 * mm))
    doc = SimpleDocTemplate(
        str(path),
        pagesize=A4,
        leftMargin=15 * mm,
        rightMargin=15 * mm,
        topMargin=15 * mm,
        bottomMargin=15 * mm,
        title=_latin1(title),
        author="GreenScore",
        subject="ESG report",
    )
    doc.build(story)
    return path
