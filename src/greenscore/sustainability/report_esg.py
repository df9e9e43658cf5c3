"""The ESG report of a period: TCFD metrics and targets, SASB-style indicators, the ESG
score, offsets, and a stakeholder summary -- as JSON, HTML and PDF.

``greenscore report esg --period 2026-Q4 --format html,pdf,json`` writes
``esg-2026-Q4.{json,html,pdf}`` (the full report) and ``esg-2026-Q4-summary.{html,pdf}``
(the stakeholder version) into ``<home>/reports/esg`` or ``--out``. The JSON is the record:
the HTML and PDF render the same numbers (:mod:`greenscore.sustainability.report_render`).

Mapping (what a reader of a TCFD or SASB disclosure looks for, scoped to the models):

* **TCFD, Metrics and Targets** (a) the metrics used to assess climate-related impact
  (energy, CO2e per decision, per AUC point), (b) Scope 2 emissions of the model work,
  location-based, with the grid factor and its source, (c) targets -- the carbon budgets
  -- and performance against them.
* **SASB-style indicators**: TC-SI-130a.1 (energy consumed, share from the grid, share
  renewable -- the location's grid mix), FN-CB-410a.2 (how ESG factors enter credit
  analysis: here, the measured fairness and explanation figures of the models), and the
  GreenScore ESG score components.

Offsets: the tonnes CO2e of the period at ``sustainability.offset_price_per_tonne``
(``--price``) in ``sustainability.currency``. Offsets do not reduce the reported Scope 2
figure; they are shown beside it.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from greenscore.config import Settings, get_settings
from greenscore.errors import ConfigError
from greenscore.json_document import write_json
from greenscore.sustainability.snapshot import Snapshot

FORMATS = ("json", "html", "pdf")
BAD_FORMAT = "--format takes a comma-separated list of {allowed}, got '{value}'"
GJ_PER_KWH = 0.0036


def parse_formats(text: str) -> list[str]:
    """``"html,pdf,json"`` as a list, in that order.

    Raises
    ------
    ConfigError
        If a format is not one of :data:`FORMATS` or none is given.
    """
    formats = [f.strip().lower() for f in str(text).split(",") if f.strip()]
    if not formats or any(f not in FORMATS for f in formats):
        raise ConfigError(BAD_FORMAT.format(allowed=", ".join(FORMATS), value=text))
    return list(dict.fromkeys(formats))


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


def _models(snapshot: Snapshot) -> list[dict[str, Any]]:
    rows = []
    for run in snapshot.runs:
        for m in run.models.values():
            rows.append(
                {
                    "run": run.name,
                    "run_id": run.run_id,
                    "started": run.started.isoformat(),
                    "model": m.name,
                    "best_in_run": m.name == run.best,
                    "auc": m.auc,
                    "fits": m.fits,
                    "train_kwh": m.train_kwh,
                    "train_co2_kg": m.train_kwh * snapshot.factor.kg_per_kwh,
                    "kwh_per_1k_predictions": m.kwh_per_1k,
                    "g_co2e_per_1k_predictions": m.kwh_per_1k * snapshot.factor.g_co2e_per_kwh,
                }
            )
    return rows


def _offsets(total_co2_kg: float, *, price: float, currency: str) -> dict[str, Any]:
    tonnes = total_co2_kg / 1000.0
    return {
        "tonnes_co2e": tonnes,
        "price_per_tonne": price,
        "currency": currency,
        "cost": tonnes * price,
        "note": "offsets needed to balance the period's location-based emissions; they are "
        "reported beside the Scope 2 figure, never subtracted from it",
    }


def _summary(report: dict[str, Any]) -> dict[str, Any]:
    """The stakeholder version: a headline and a few plain sentences."""
    t, esg, off = report["totals"], report["esg_score"], report["offsets"]
    factor = t["factor"]["citation"]
    bullets = [
        f"The credit models used {t['total_kwh']:.6g} kWh in {report['period']['key']} "
        f"({t['training_kwh']:.6g} kWh training {t['runs']} run(s), {t['scoring_kwh']:.6g} kWh "
        f"scoring {t['decisions']} decision(s)), {t['total_co2_kg']:.6g} kg CO2e at {factor}.",
        f"Offsetting it would take {off['tonnes_co2e']:.6g} t CO2e, {off['cost']:.2f} "
        f"{off['currency']} at {off['price_per_tonne']:g} {off['currency']} per tonne.",
    ]
    if esg["score"] is not None:
        shown = [c for c in esg["components"] if c["available"]]
        bullets.append(
            f"ESG score {esg['score']:.1f}/100 (grade {esg['grade']}) from "
            + ", ".join(f"{c['title'].lower()} {c['score']:.0f}" for c in shown)
            + "."
        )
    for target in report["tcfd"]["metrics_and_targets"]["c_targets"]:
        bullets.append(
            f"Budget of {target['scope']} '{target['name']}': {target['used_kg']:.6g} of "
            f"{target['limit_kg']:.6g} kg CO2e used ({target['share']:.0%}) in {target['period_key']}."
        )
    bullets += [r["text"] for r in report["recommendations"][:3]]
    if report["empty"]:
        headline = f"No model training or decisions were recorded in {report['period']['key']}."
    else:
        headline = (
            f"{t['total_co2_kg']:.6g} kg CO2e from credit-risk models in {report['period']['key']}"
        )
    return {"headline": headline, "bullets": bullets}


def build_report(
    snapshot: Snapshot, *, settings: Settings | None = None, price: float | None = None
) -> dict[str, Any]:
    """The report of a :class:`~greenscore.sustainability.snapshot.Snapshot` as plain data."""
    settings = settings or get_settings()
    sus = settings.sustainability
    totals = snapshot.totals()
    factor = snapshot.factor
    per_1k = next((c for c in snapshot.esg.components if c.name == "co2_per_1k_decisions"), None)
    per_point = next((c for c in snapshot.esg.components if c.name == "energy_per_auc_point"), None)
    targets = [s.to_dict() for s in snapshot.budgets]
    for target in targets:
        target.pop("series")
    report: dict[str, Any] = {
        "title": f"GreenScore ESG report {snapshot.period.key}",
        "period": {
            "key": snapshot.period.key,
            "start": _iso(snapshot.period.start),
            "end": _iso(snapshot.period.end),
        },
        "generated_at": snapshot.generated_at.isoformat(),
        "organisation": {"project": sus.project, "team": sus.team},
        "empty": snapshot.empty,
        "method": {
            "energy": "measured around every fit and batch of predictions with CodeCarbon "
            "(the method of each measurement is in the run)",
            "carbon": "location-based (GHG Protocol Scope 2): kWh x the grid factor below",
            "factor": factor.to_dict(),
        },
        "totals": totals,
        "tcfd": {
            "metrics_and_targets": {
                "a_metrics": [
                    {
                        "metric": "energy of model training and scoring",
                        "value": totals["total_kwh"],
                        "unit": "kWh",
                    },
                    {
                        "metric": "CO2e per 1,000 decisions (current best model)",
                        "value": per_1k.value if per_1k else None,
                        "unit": "g CO2e",
                    },
                    {
                        "metric": "training energy per AUC point",
                        "value": per_point.value if per_point else None,
                        "unit": "kWh",
                    },
                ],
                "b_emissions": {
                    "scope_2_location_based_kg": totals["total_co2_kg"],
                    "training_kg": totals["training_co2_kg"],
                    "scoring_kg": totals["scoring_co2_kg"],
                    "factor": factor.citation,
                },
                "c_targets": targets,
            },
            "note": "Governance, strategy and risk management are the bank's own disclosures; "
            "this report supplies the model-level metrics and targets.",
        },
        "sasb": [
            {
                "code": "TC-SI-130a.1",
                "indicator": "(1) total energy consumed, (2) percentage grid electricity, "
                "(3) percentage renewable",
                "values": {
                    "energy_gj": totals["total_kwh"] * GJ_PER_KWH,
                    "grid_share": 1.0,
                    "renewable_share": factor.renewable_share,
                },
                "note": "grid electricity throughout; renewable share is the location's grid "
                f"mix ({factor.source_label} {factor.year}), as no renewable contract is recorded",
            },
            {
                "code": "FN-CB-410a.2",
                "indicator": "description of approach to incorporation of ESG factors in credit analysis",
                "values": {
                    c.name: c.value
                    for c in snapshot.esg.components
                    if c.name in ("fairness_gap", "explanation_coverage", "decisions_with_reasons")
                },
                "note": "fairness gaps by protected group are measured on out-of-fold decisions "
                "of every trained model; every decision records its adverse-action reasons",
            },
        ],
        "esg_score": snapshot.esg.to_dict(),
        "models": _models(snapshot),
        "registry": [
            {"name": v.name, "version": v.version, "aliases": v.aliases, "run_id": v.run_id}
            for v in snapshot.registry
        ],
        "decisions": snapshot.decisions.to_dict(),
        "alerts": [
            {"fired_at": a.fired_at.isoformat(), "threshold": a.threshold, "message": a.message}
            for a in snapshot.alerts
        ],
        "offsets": _offsets(
            totals["total_co2_kg"],
            price=sus.offset_price_per_tonne if price is None else float(price),
            currency=sus.currency,
        ),
        "recommendations": [r.to_dict() for r in snapshot.recommendations],
    }
    report["stakeholder_summary"] = _summary(report)
    return report


def write_report(report: dict[str, Any], *, out: Path, formats: list[str]) -> list[Path]:
    """Write the full report and the stakeholder summary in each format; returns the paths."""
    from greenscore.sustainability.report_render import render_html, render_pdf

    out.mkdir(parents=True, exist_ok=True)
    stem = f"esg-{report['period']['key']}"
    written = []
    if "json" in formats:
        path = out / f"{stem}.json"
        write_json(path, report)
        written.append(path)
    for fmt, render in (("html", render_html), ("pdf", render_pdf)):
        if fmt not in formats:
            continue
        for summary in (False, True):
            path = out / f"{stem}{'-summary' if summary else ''}.{fmt}"
            render(report, path, summary=summary)
            written.append(path)
    return written
