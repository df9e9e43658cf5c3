"""Data commands: ``greenscore validate``, ``greenscore profile`` and ``greenscore spec infer``.

Each reads a file or database through :func:`greenscore.data.loading.load_dataset`, with
the columns' meaning from exactly one of ``--preset``, ``--spec`` or ``--target`` (the
last infers a spec). Reports go to stdout; a failure is one ``error:`` line on stderr and
exit code 2, from :func:`greenscore.cli.main`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from greenscore.commands.engine import EngineOpt, SchedulerOpt, scheduler_for
from greenscore.errors import ConfigError

if TYPE_CHECKING:
    from greenscore.data.loading import Dataset
    from greenscore.data.validation import ValidationReport

DataOpt = Annotated[
    str,
    typer.Option("--data", "-d", help="Data file (.csv/.json/.jsonl/.parquet) or database URL."),
]
PresetOpt = Annotated[
    str | None,
    typer.Option("--preset", "-p", help="Built-in spec: taiwan, german, credit_risk, synthetic."),
]
SpecOpt = Annotated[Path | None, typer.Option("--spec", "-s", help="Spec YAML file.")]
TargetOpt = Annotated[
    str | None,
    typer.Option("--target", "-t", help="Target column; the rest of the spec is inferred."),
]
QueryOpt = Annotated[
    str | None, typer.Option("--query", "-q", help="SQL query, for a database URL.")
]

spec_app = typer.Typer(help="Infer and inspect dataset specs.", no_args_is_help=True)


def _load(
    data: str, preset: str | None, spec: Path | None, target: str | None, query: str | None
) -> Dataset:
    from greenscore.data.loading import load_dataset

    return load_dataset(data, preset=preset, spec_path=spec, target=target, query=query)


def _print_report(report: ValidationReport) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    if report.findings:
        table = Table(title=f"Validation of {report.n_rows} rows x {report.n_columns} columns")
        for name in ("level", "rule", "column", "message"):
            table.add_column(name, overflow="fold")
        for finding in report.findings:
            style = "red" if finding.level == "error" else "yellow"
            table.add_row(
                f"[{style}]{finding.level}[/{style}]",
                finding.rule,
                finding.column or "",
                finding.message,
            )
        console.print(table)
    verdict = "[green]OK[/green]" if report.ok else "[red]FAILED[/red]"
    console.print(
        f"{verdict}: {len(report.errors)} errors, {len(report.warnings)} warnings "
        f"({report.n_rows} rows, spec '{report.spec_name}')",
        highlight=False,
    )


def validate_command(
    data: DataOpt,
    preset: PresetOpt = None,
    spec: SpecOpt = None,
    target: TargetOpt = None,
    query: QueryOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
    engine: EngineOpt = "pandas",
    scheduler: SchedulerOpt = None,
) -> None:
    """Check a dataset against its spec; exit 0 when there are no errors, 2 otherwise."""
    from greenscore.data.validation import validate

    cluster = scheduler_for(engine, scheduler)
    if cluster is not None:
        from greenscore.scale.run import check_query, validate_source

        check_query(query)
        report = validate_source(data, cluster, preset=preset, spec_path=spec, target=target)
    else:
        dataset = _load(data, preset, spec, target, query)
        report = validate(dataset.frame, dataset.spec, relations=dataset.relations)
    if as_json:
        typer.echo(json.dumps(report.to_dict(), indent=2, default=str))
    else:
        _print_report(report)
    report.raise_for_errors()


def profile_command(
    data: DataOpt,
    out: Annotated[
        Path, typer.Option("--out", "-o", help="Folder for profile.html and profile.json.")
    ],
    preset: PresetOpt = None,
    spec: SpecOpt = None,
    target: TargetOpt = None,
    query: QueryOpt = None,
    engine: EngineOpt = "pandas",
    scheduler: SchedulerOpt = None,
) -> None:
    """Write an HTML and JSON profile: statistics, missing values, distributions, IV, correlations.

    With ``--engine dask`` the findings and counts cover every row out of core and the
    statistics a sample of at most 200,000 rows (``overview.sample_rows``).
    """
    from greenscore.data.profile import profile

    cluster = scheduler_for(engine, scheduler)
    if cluster is not None:
        from greenscore.scale.run import check_query, profile_source

        check_query(query)
        result = profile_source(data, out, cluster, preset=preset, spec_path=spec, target=target)
    else:
        dataset = _load(data, preset, spec, target, query)
        result = profile(dataset.frame, dataset.spec, out)
    overview = result["overview"]
    strongest = ", ".join(
        f"{r['column']} ({r['iv']:.2f})"
        for r in result["information_value"][:5]
        if r["iv"] is not None
    )
    typer.echo(f"wrote {result['files']['html']} and {result['files']['json']}")
    typer.echo(
        f"{overview['rows']} rows, {overview['columns']} columns, "
        f"{overview['errors']} errors, {overview['warnings']} warnings"
        + (f"; highest information value: {strongest}" if strongest else "")
    )


@spec_app.command("infer")
def spec_infer_command(
    data: DataOpt,
    target: Annotated[
        str | None,
        typer.Option(
            "--target",
            "-t",
            help="The outcome column (two values); guessed from the column names if not given.",
        ),
    ] = None,
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="Write the spec here (default: print it).")
    ] = None,
    name: Annotated[str, typer.Option("--name", help="Name of the spec.")] = "inferred",
    query: QueryOpt = None,
    force: Annotated[
        bool, typer.Option("--force", "-f", help="Overwrite an existing --out file.")
    ] = False,
) -> None:
    """Infer a spec (target, ids, PII, types, sequences, protected) for a new file."""
    if out is not None and out.exists() and not force:
        raise ConfigError(f"{out} already exists; pass --force to overwrite it")
    if target is None:
        from greenscore.data.infer import TARGET_GUESSED, guess_target
        from greenscore.data.io import read_table

        target = guess_target(read_table(data, query=query))
        typer.secho(TARGET_GUESSED.format(column=target), fg="yellow", err=True)
    dataset = _load(data, None, None, target, query)
    spec = dataset.spec.model_copy(update={"name": name})
    text = spec.to_yaml(out)
    if out is None:
        typer.echo(text, nl=False)
        return
    sequences = ", ".join(f"{g.name} ({len(g.columns)})" for g in spec.sequences) or "none"
    typer.echo(f"wrote {out}")
    typer.echo(
        f"target {spec.target} (default = {spec.positive_label!r}); "
        f"{len(spec.numeric)} numeric, {len(spec.categorical)} categorical; "
        f"id {spec.id_column or 'none'}; time {spec.time_column or 'none'}; "
        f"PII {spec.pii or 'none'}; protected {spec.protected or 'none'}; sequences {sequences}"
    )


def register(app: typer.Typer) -> None:
    """Add ``validate``, ``profile`` and the ``spec`` group to the CLI."""
    app.command("validate")(validate_command)
    app.command("profile")(profile_command)
    app.add_typer(spec_app, name="spec")
