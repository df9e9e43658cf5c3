"""Explanation, fairness and compliance commands.

``greenscore explain``, ``greenscore fairness`` and ``greenscore compliance`` each take a
model (a bundle folder, or a registry URI such as ``models:/NAME@champion``) and a data
file read with the model's own spec, and write their results into ``--out``.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    import pandas as pd

    from greenscore.models.bundle import ScoringBundle

ModelOpt = Annotated[
    str, typer.Option("--model", "-m", help="Bundle folder or registry URI (models:/NAME/VERSION).")
]
DataOpt = Annotated[
    str,
    typer.Option("--data", "-d", help="Applications file (.csv/.json/.parquet) or database URL."),
]
OutOpt = Annotated[Path, typer.Option("--out", "-o", help="Output folder.")]
SeedOpt = Annotated[int | None, typer.Option("--seed", help="Seed (default: settings.seed).")]


def load_model(model: str) -> ScoringBundle:
    """A bundle from a folder, or from the registry when the tracking module is present."""
    try:
        from greenscore.tracking.registry import load_bundle
    except ImportError:
        from greenscore.models.bundle import ScoringBundle

        return ScoringBundle.load(model)
    return load_bundle(model)


def load_applications(model: str, data: str) -> tuple[ScoringBundle, pd.DataFrame]:
    """The model, and the applications read with its spec (derived columns such as German
    ``sex`` added); their borrower links, when a relations file is beside them, join the
    model's graph as ``greenscore score`` adds them, so both give the same PDs."""
    from greenscore.data.loading import load_dataset

    bundle = load_model(model)
    dataset = load_dataset(data, spec=bundle.spec)
    return bundle.with_relations(dataset.relations), dataset.frame


def _seed(seed: int | None) -> int:
    from greenscore.config import get_settings

    return get_settings().seed if seed is None else seed


def explain_command(
    model: ModelOpt,
    data: DataOpt,
    out: OutOpt,
    rows: Annotated[
        str | None, typer.Option("--rows", help="0-based rows to explain in detail, e.g. 0,5,9.")
    ] = None,
    max_shap_rows: Annotated[
        int, typer.Option("--shap-rows", min=1, help="Rows sampled for global SHAP.")
    ] = 1000,
    lime: Annotated[
        bool, typer.Option("--lime/--no-lime", help="LIME for the chosen rows.")
    ] = True,
    counterfactuals: Annotated[
        bool,
        typer.Option("--counterfactuals/--no-counterfactuals", help="DiCE for the chosen rows."),
    ] = True,
    seed: SeedOpt = None,
) -> None:
    """Reason codes for every applicant, SHAP, LIME and counterfactuals; writes OUT/explanation.json."""
    from greenscore.explain.report import explain_report, parse_rows

    bundle, frame = load_applications(model, data)
    report = explain_report(
        bundle,
        frame,
        out,
        rows=parse_rows(rows, len(frame)),
        max_shap_rows=max_shap_rows,
        lime=lime,
        counterfactuals=counterfactuals,
        seed=_seed(seed),
    )
    for row in report["rows"]:
        typer.echo(
            f"row {row['row']} (applicant {row['applicant_id']}): {row['decision']}, "
            f"PD {row['probability_of_default']:.1%}, score {row['score']:.0f}"
        )
        for reason in row["reason_codes"]:
            typer.echo(f"  {reason['code']}  {reason['text']}")
    for note in report["notes"]:
        typer.echo(f"note: {note}", err=True)
    typer.echo(f"wrote {Path(out) / 'explanation.json'}")


def fairness_command(
    model: ModelOpt,
    data: DataOpt,
    out: OutOpt,
    protected: Annotated[
        str | None,
        typer.Option("--protected", help="Protected columns, e.g. sex,age (default: the spec's)."),
    ] = None,
    mitigate: Annotated[
        str | None,
        typer.Option(
            "--mitigate",
            help="reweighing, exponentiated_gradient, adversarial, threshold_optimizer, or all.",
        ),
    ] = None,
    mitigate_for: Annotated[
        str | None,
        typer.Option(
            "--mitigate-for",
            help="Attribute to mitigate for: a column (age) or its report name (age_band).",
        ),
    ] = None,
    n_boot: Annotated[int, typer.Option("--bootstrap", min=0, help="Bootstrap resamples.")] = 200,
    seed: SeedOpt = None,
) -> None:
    """Fairness by protected group (and mitigation before/after); writes OUT/fairness.json."""
    from greenscore.fairness.report import fairness_files, parse_methods

    bundle, frame = load_applications(model, data)
    names = [p.strip() for p in protected.split(",") if p.strip()] if protected else None
    report = fairness_files(
        bundle,
        frame,
        out,
        protected=names,
        mitigate=parse_methods(mitigate),
        mitigate_for=mitigate_for,
        n_boot=n_boot,
        seed=_seed(seed),
    )
    for attribute, result in report["attributes"].items():
        verdict = "FLAGGED" if result["flagged"] else "ok"
        typer.echo(
            f"{attribute}: {verdict}; parity difference {result['demographic_parity_difference']}, "
            f"ratio {result['demographic_parity_ratio']}, equalized odds "
            f"{result['equalized_odds_difference']}, four-fifths {result['four_fifths_rule']}"
        )
    mitigation = report.get("mitigation")
    if mitigation:
        for method, result in mitigation["methods"].items():
            if result.get("degenerate"):
                # No policy at all: its zero gap is not a "+100 % reduction".
                typer.echo(f"  {method}: {result['degenerate']}; AUC {result['auc']}")
                continue
            typer.echo(
                f"  {method}: parity difference {result['demographic_parity_difference']} "
                f"({result['dp_reduction']:+.0%} reduction), approval rate "
                f"{result['approval_rate']:.1%}, AUC {result['auc']} (cost {result['auc_cost']:+.3f})"
                if result["dp_reduction"] is not None
                else f"  {method}: AUC {result['auc']}"
            )
    typer.echo(f"wrote {Path(out) / 'fairness.json'}")


def compliance_command(model: ModelOpt, data: DataOpt, out: OutOpt) -> None:
    """ECOA, FCRA, GDPR and AI Act checks; writes OUT/compliance.json and .html; exit 1 on a failed check."""
    from greenscore.fairness.compliance import compliance_report, write_compliance

    bundle, frame = load_applications(model, data)
    report = compliance_report(bundle, frame, data_name=data)
    paths = write_compliance(report, out)
    for check in report["checks"]:
        typer.echo(f"{check['status'].upper():4}  {check['id']}: {check['summary']}")
    typer.echo(f"overall: {report['overall'].upper()}; wrote {paths['json']} and {paths['html']}")
    if report["overall"] == "fail":
        # SystemExit, not typer.Exit: cli.main runs click with standalone_mode=False, which
        # returns a typer.Exit code instead of exiting with it.
        raise SystemExit(1)


def register(app: typer.Typer) -> None:
    """Add explain, fairness and compliance to the CLI."""
    app.command("explain")(explain_command)
    app.command("fairness")(fairness_command)
    app.command("compliance")(compliance_command)
