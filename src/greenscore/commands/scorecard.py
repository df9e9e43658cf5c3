"""``greenscore scorecard export``: a scorecard's points table as CSV, Excel or SQL."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

scorecard_app = typer.Typer(help="Read a trained scorecard outside Python.", no_args_is_help=True)
XLSX_NEEDS_OUT = "an Excel workbook needs a file: pass --out FILE.xlsx"


class ExportFormat(StrEnum):
    """What ``export`` writes."""

    csv = "csv"
    xlsx = "xlsx"
    sql = "sql"


@scorecard_app.command("export")
def export_command(
    model: Annotated[
        str,
        typer.Option("--model", "-m", help="Bundle folder or registry URI (models:/NAME/VERSION)."),
    ],
    fmt: Annotated[
        ExportFormat,
        typer.Option(
            "--format",
            help="csv (points table), xlsx (points, removed characteristics, scaling) or sql "
            "(a SELECT adding scorecard_points, for SQLite and PostgreSQL).",
        ),
    ] = ExportFormat.csv,
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="Output file (default: print csv/sql).")
    ] = None,
    table: Annotated[
        str, typer.Option("--table", help="Table the SQL reads applicants from.")
    ] = "applications",
) -> None:
    """Export the points table (characteristic, bin, count, bad rate, WoE, coefficient, points)."""
    from greenscore.commands.explain import load_model
    from greenscore.models.scorecard_export import (
        points_table,
        scorecard_of,
        scorecard_sql,
        write_csv,
        write_xlsx,
    )

    if fmt is ExportFormat.xlsx and out is None:
        raise typer.BadParameter(XLSX_NEEDS_OUT, param_hint="--out")
    bundle = load_model(model)
    estimator = scorecard_of(bundle)
    if fmt is ExportFormat.sql:
        text = scorecard_sql(estimator, name=bundle.name, table=table)
        if out is None:
            typer.echo(text, nl=False)
            return
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text, encoding="utf-8")
    elif fmt is ExportFormat.xlsx:
        assert out is not None  # refused above without --out
        write_xlsx(estimator, out)
    elif out is None:
        typer.echo(points_table(estimator).to_csv(index=False), nl=False)
        return
    else:
        write_csv(estimator, out)
    typer.echo(f"wrote {out}", err=True)


def register(app: typer.Typer) -> None:
    """Add the ``scorecard`` command group."""
    app.add_typer(scorecard_app, name="scorecard")
