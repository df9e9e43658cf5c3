"""Self-contained HTML renderings of the compliance and fairness reports (no scripts, no CDN)."""

from __future__ import annotations

import html
import json
from typing import Any

from greenscore.fairness.tables import group_table

_STYLE = """
body{font-family:system-ui,-apple-system,Segoe UI,sans-serif;margin:2em;max-width:70em;color:#1d2a24}
h1{font-size:1.5em}h2{font-size:1.15em;margin-top:1.6em}
table{border-collapse:collapse;width:100%;margin:.6em 0}
th,td{border:1px solid #cfd8d3;padding:.35em .6em;text-align:left;vertical-align:top}
th{background:#eef4f0}
.pass{color:#fff;background:#2a7f62;padding:.1em .5em;border-radius:.3em}
.fail{color:#fff;background:#b3261e;padding:.1em .5em;border-radius:.3em}
.warn{color:#1d2a24;background:#f2c14e;padding:.1em .5em;border-radius:.3em}
.na{color:#1d2a24;background:#dfe5e2;padding:.1em .5em;border-radius:.3em}
pre{background:#f6f8f7;padding:.6em;overflow-x:auto;font-size:.85em;margin:0}
"""


_BADGE_CLASS = {"n/a": "na"}


def _badge(status: str) -> str:
    css = _BADGE_CLASS.get(status, status)
    return f'<span class="{html.escape(css)}">{html.escape(status.upper())}</span>'


def _page(title: str, body: str) -> str:
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        f"<title>{html.escape(title)}</title><style>{_STYLE}</style></head>"
        f"<body>{body}</body></html>\n"
    )


def compliance_html(report: dict[str, Any]) -> str:
    """One page: overall verdict, then each check with its status, summary and evidence."""
    rows = "".join(
        "<tr>"
        f"<td>{html.escape(c['regulation'])}</td>"
        f"<td>{html.escape(c['title'])}</td>"
        f"<td>{_badge(c['status'])}</td>"
        f"<td>{html.escape(c['summary'])}</td>"
        f"<td><pre>{html.escape(json.dumps(c['evidence'], indent=2, default=str))}</pre></td>"
        "</tr>"
        for c in report["checks"]
    )
    body = (
        f"<h1>Regulatory checks: {html.escape(str(report['model']))}</h1>"
        f"<p>Overall: {_badge(report['overall'])} &middot; generated {html.escape(report['generated_at'])}"
        f" &middot; data {html.escape(str(report.get('data', '')))}</p>"
        "<table><tr><th>Regulation</th><th>Check</th><th>Status</th><th>Summary</th>"
        f"<th>Evidence</th></tr>{rows}</table>"
    )
    return _page(f"Compliance - {report['model']}", body)


def _table(frame: Any) -> str:
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in frame.columns)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(str(v))}</td>" for v in row) + "</tr>"
        for row in frame.itertuples(index=False)
    )
    return f"<table><tr>{head}</tr>{body}</table>"


def _reduction(result: dict[str, Any]) -> str:
    if result.get("degenerate"):
        return str(result["degenerate"])
    reduction = result.get("dp_reduction")
    return "" if reduction is None else f"{reduction:+.0%}"


def fairness_html(report: dict[str, Any]) -> str:
    """One page: per attribute, the by-group table, gaps and verdict; mitigation if present."""
    decisions = report.get("decisions")
    parts = [
        f"<h1>Fairness: {html.escape(str(report.get('model', '')))}</h1>",
        f"<p>Favourable outcome: {html.escape(report['favourable_outcome'])}. "
        f"{html.escape(report['convention'])}.</p>",
    ]
    if decisions:
        parts.append(f"<p>Decisions: {html.escape(str(decisions))}.</p>")
    bootstrap = report.get("bootstrap") or {}
    if bootstrap.get("resamples"):
        parts.append(
            f"<p>Intervals ({bootstrap['resamples']} bootstrap resamples): group rates, "
            f"{html.escape(str(bootstrap.get('group_rate_intervals')))}; gaps, "
            f"{html.escape(str(bootstrap.get('gap_intervals')))}.</p>"
        )
    for attribute, result in report["attributes"].items():
        status = "fail" if result["flagged"] else "pass"
        reasons = "".join(f"<li>{html.escape(r)}</li>" for r in result["flag_reasons"])
        parts.append(
            f"<h2>{html.escape(attribute)} {_badge(status)}</h2>"
            f"{_table(group_table(result))}"
            f"<p>Demographic parity difference {result['demographic_parity_difference']}, "
            f"ratio {result['demographic_parity_ratio']}, equalized odds difference "
            f"{result['equalized_odds_difference']}, four-fifths rule "
            f"{html.escape(result['four_fifths_rule'])}.</p><ul>{reasons}</ul>"
        )
    mitigation = report.get("mitigation")
    if mitigation:
        rows = "".join(
            f"<tr><td>{html.escape(m)}</td><td>{r['auc']}</td><td>{r['auc_cost']}</td>"
            f"<td>{r['approval_rate']}</td><td>{r['demographic_parity_difference']}</td>"
            f"<td>{html.escape(_reduction(r))}</td>"
            f"<td>{_badge('pass' if r['meets_target'] else 'warn')}</td></tr>"
            for m, r in mitigation["methods"].items()
        )
        before = mitigation["before"]
        parts.append(
            f"<h2>Mitigation for {html.escape(mitigation['attribute'])}</h2>"
            f"<p>Before: AUC {before['auc']}, approval rate {before['approval_rate']}, "
            f"demographic parity difference {before['demographic_parity_difference']}.</p>"
            "<table><tr><th>Method</th><th>AUC</th><th>AUC cost</th><th>Approval rate</th>"
            "<th>DP difference</th><th>DP reduction</th><th>Target met</th></tr>"
            f"{rows}</table>"
        )
    return _page(f"Fairness - {report.get('model', '')}", "".join(parts))
