"""``greenscore report esg``: the ESG report of a period as HTML, PDF and JSON.

``--schedule`` instead runs the report job on ``sustainability.report_schedule`` (cron) in
the foreground, writing each report into ``<home>/reports/esg``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

report_app = typer.Typer(help="Reports for stakeholders.", no_args_is_help=True)


@report_app.command("esg")
def esg_command(
    period: Annotated[
        str | None,
        typer.Option("--period", help="2026-Q4, 2026-11 or 2026 (default: this quarter)."),
    ] = None,
    formats: Annotated[
        str, typer.Option("--format", help="Comma-separated: html, pdf, json.")
    ] = "html,pdf,json",
    out: Annotated[
        Path | None,
        typer.Option("--out", "-o", help="Folder for the files (default HOME/reports/esg)."),
    ] = None,
    price: Annotated[
        float | None,
        typer.Option("--price", min=0, help="Offset price per tonne CO2e (default: the setting)."),
    ] = None,
    schedule: Annotated[
        bool,
        typer.Option(
            "--schedule",
            help="Run on sustainability.report_schedule (cron) until stopped, writing into "
            "HOME/reports/esg.",
        ),
    ] = False,
) -> None:
    """Write the ESG report (TCFD metrics and targets, SASB-style indicators, ESG score)."""
    from rich.console import Console

    from greenscore.config import get_settings
    from greenscore.sustainability.periods import current_quarter, parse_period
    from greenscore.sustainability.report_esg import build_report, parse_formats, write_report
    from greenscore.sustainability.report_schedule import build_scheduler, report_folder
    from greenscore.sustainability.snapshot import gather

    settings = get_settings()
    chosen = parse_formats(formats)
    console = Console(stderr=True)
    if schedule:
        scheduler = build_scheduler(settings=settings, formats=chosen)
        console.print(
            f"ESG reports on '{settings.sustainability.report_schedule}' (UTC) into "
            f"{report_folder(settings)}; Ctrl-C stops",
            highlight=False,
        )
        try:
            scheduler.start()
        except (KeyboardInterrupt, SystemExit):
            pass
        return
    span = parse_period(period) if period else current_quarter()
    report = build_report(gather(span, settings=settings), settings=settings, price=price)
    paths = write_report(report, out=out or report_folder(settings), formats=chosen)
    totals, esg = report["totals"], report["esg_score"]
    score = f"{esg['score']:.1f} ({esg['grade']})" if esg["score"] is not None else "n/a"
    console.print(
        f"{span.key}: {totals['total_kwh']:.6g} kWh, {totals['total_co2_kg']:.6g} kg CO2e at "
        f"{totals['factor']['citation']}; ESG score {score}",
        highlight=False,
    )
    for path in paths:
        typer.echo(str(path))


def register(app: typer.Typer) -> None:
    """Add the ``report`` command group."""
    app.add_typer(report_app, name="report")
