"""``greenscore search``: architecture search on AUC, latency, energy and fairness."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from greenscore.commands.train import (
    DataOpt,
    PresetOpt,
    QueryOpt,
    SpecOpt,
    TargetOpt,
    checked_duration,
)


def search_command(
    data: DataOpt,
    preset: PresetOpt = None,
    spec: SpecOpt = None,
    target: TargetOpt = None,
    query: QueryOpt = None,
    families: Annotated[
        str,
        typer.Option(
            help="Model families to search: comma list of dnn, tcn, lstm (bilstm), lightgbm."
        ),
    ] = "dnn,tcn,lstm,lightgbm",
    time_budget: Annotated[
        str,
        typer.Option(
            "--time-budget",
            help="Wall time of the whole run, the knee's refit included, e.g. 10m, 90s, 1.5h.",
            callback=checked_duration,
        ),
    ] = "10m",
    trials: Annotated[
        int | None,
        typer.Option(
            help="Stop after this many trials in this run (default: when the budget is spent).",
            min=1,
        ),
    ] = None,
    study: Annotated[
        str | None,
        typer.Option(
            help="Study name; an existing study of that name is resumed (default search-<spec>)."
        ),
    ] = None,
    storage: Annotated[
        str | None,
        typer.Option(
            help="Optuna RDB storage URL, e.g. postgresql+psycopg://host/db (default: SQLite in the home)."
        ),
    ] = None,
    protected: Annotated[
        str | None,
        typer.Option(
            help="Protected column of the fairness objective (default: the spec's first, age last)."
        ),
    ] = None,
    max_epochs: Annotated[
        int, typer.Option("--max-epochs", help="Epoch cap of every net.", min=1)
    ] = 8,
    holdout: Annotated[
        float, typer.Option(help="Share of rows held out to measure every candidate.")
    ] = 0.2,
    sampler: Annotated[str, typer.Option(help="tpe (multi-objective TPE) or nsga2.")] = "tpe",
    prune_margin: Annotated[
        float,
        typer.Option(
            "--prune-margin",
            help="Stop a trial whose early validation AUC is this far below the best so far.",
            min=0.0,
            max=1.0,
        ),
    ] = 0.03,
    latency_rows: Annotated[
        int,
        typer.Option(
            "--latency-rows", help="Applicants timed one at a time for the p99 latency.", min=1
        ),
    ] = 100,
    trial_rows: Annotated[
        int | None,
        typer.Option(
            "--trial-rows",
            help="Fit each trial on a stratified sample of this many rows (faster, lower-fidelity "
            "ranking); the knee is refitted on all rows. Default: all.",
            min=100,
        ),
    ] = None,
    register: Annotated[
        str | None,
        typer.Option(help="Register the knee under this name (default <spec>-search-knee)."),
    ] = None,
    out: Annotated[Path, typer.Option("--out", "-o", help="Output folder.")] = Path("search-out"),
    force: Annotated[
        bool, typer.Option("--force", "-f", help="Write over a non-empty --out folder.")
    ] = False,
    seed: Annotated[
        int | None, typer.Option(help="Seed for the whole run (default: settings).")
    ] = None,
) -> None:
    """Search model families and shapes for the Pareto front of AUC, p99 latency, energy per 1k
    predictions and fairness gap; write pareto.json, pareto.html and the knee as model/."""
    from greenscore.commands.progress import run_with_progress
    from greenscore.config import get_settings
    from greenscore.workflows.load import load_validated
    from greenscore.workflows.search import SearchOptions, check_options
    from greenscore.workflows.search import search as run_search

    budget, out = check_options(
        time_budget=time_budget, holdout=holdout, trials=trials, out=out, force=force
    )
    if sampler not in ("tpe", "nsga2"):
        raise typer.BadParameter(f"choose tpe or nsga2, not '{sampler}'", param_hint="--sampler")
    settings = get_settings()
    dataset, warnings = load_validated(
        data, preset=preset, spec_path=spec, target=target, query=query
    )
    for message in warnings[:10]:
        typer.secho(f"warning: {message}", fg="yellow", err=True)
    options = SearchOptions(
        families=[f for f in families.split(",") if f.strip()],
        time_budget=budget,
        out=out,
        study_name=study,
        storage=storage,
        trials=trials,
        protected=protected,
        max_epochs=max_epochs,
        holdout=holdout,
        seed=settings.seed if seed is None else seed,
        sampler=sampler,
        prune_margin=prune_margin,
        register=register,
        latency_rows=latency_rows,
        trial_rows=trial_rows,
    )
    result = run_with_progress(
        "search",
        float(trials or 0),
        lambda progress: run_search(dataset, options, progress=progress),
    )
    doc = result.document
    typer.echo(
        f"study {doc['study']['name']}: {doc['study']['trials_total']} trials "
        f"({doc['study']['this_run']['trials']} this run), {doc['non_dominated']} non-dominated"
    )
    if result.knee is not None:
        o = result.knee["objectives"]
        typer.echo(
            f"knee: trial {result.knee['trial']} {result.knee['candidate']}: AUC {o['auc']:.4f}, "
            f"p99 {o['p99_latency_ms']:.1f} ms, {o['kwh_per_1k']:.2e} kWh/1k, gap {o['fairness_gap']:.3f}"
        )
    typer.echo(
        f"wrote {result.files['json']}, {result.files['html']}"
        + (f", {result.bundle_path}" if result.bundle_path else "")
    )
    registered = doc["knee_bundle"].get("registered")
    if registered:
        typer.echo(f"registered {registered}")


def register(app: typer.Typer) -> None:
    """Add search to the CLI."""
    app.command("search")(search_command)
