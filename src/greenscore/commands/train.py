"""``greenscore train`` and ``greenscore score``."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from greenscore.commands.engine import EngineOpt, SchedulerOpt, scheduler_for
from greenscore.errors import ConfigError

if TYPE_CHECKING:  # the CLI starts fast: explain is imported when a command runs
    from greenscore.explain.reason_codes import ReasonRows

DataOpt = Annotated[
    str,
    typer.Option("--data", "-d", help="Applications file (CSV/JSON/Parquet) or database URL."),
]
PresetOpt = Annotated[
    str | None, typer.Option("--preset", "-p", help="taiwan, german, credit_risk or synthetic.")
]
SpecOpt = Annotated[Path | None, typer.Option("--spec", "-s", help="DatasetSpec YAML file.")]
TargetOpt = Annotated[
    str | None, typer.Option("--target", "-t", help="Target column; the rest is inferred.")
]
QueryOpt = Annotated[
    str | None, typer.Option("--query", "-q", help="SQL query when --data is a database URL.")
]


def checked_duration(value: str | None) -> str | None:
    """Refuse a ``--time-budget`` that is not a duration at parse time: usage line, exit 2."""
    from greenscore.models.ensemble_plan import parse_duration

    if value is not None:
        try:
            parse_duration(value)
        except ConfigError as exc:
            raise typer.BadParameter(exc.message) from None
    return value


ApproveBelowOpt = Annotated[
    float | None,
    typer.Option(
        "--approve-below",
        min=0.0,
        max=1.0,
        help="Approve a PD below this (default: the model's, else scoring.approve_below).",
    ),
]
DeclineAboveOpt = Annotated[
    float | None,
    typer.Option(
        "--decline-above",
        min=0.0,
        max=1.0,
        help="Decline a PD above this; between the two is review (default as above).",
    ),
]


def train_command(
    data: DataOpt,
    preset: PresetOpt = None,
    spec: SpecOpt = None,
    target: TargetOpt = None,
    query: QueryOpt = None,
    models: Annotated[
        str,
        typer.Option(
            help="Comma list (scorecard, lightgbm, catboost, xgboost, logistic, logistic_woe, "
            "extratrees, randomforest, dnn, lstm, tcn, gnn, ensemble, or "
            "ensemble:scorecard+lightgbm+logistic for chosen members) or auto: an ensemble "
            "whose members and tuning fit --time-budget, served with the scorecard as fallback."
        ),
    ] = "scorecard,lightgbm",
    cv: Annotated[
        int | None,
        typer.Option(help="Number of folds (default: training.cv_folds, 5).", min=2, max=20),
    ] = None,
    cv_strategy: Annotated[
        str, typer.Option("--cv-strategy", help="stratified or time.")
    ] = "stratified",
    tune_trials: Annotated[
        int | None,
        typer.Option(
            "--tune-trials",
            help="Optuna trials for every tunable model, nets included (0 = none); with "
            "auto, the most per member.",
            min=0,
        ),
    ] = None,
    time_budget: Annotated[
        str | None,
        typer.Option(
            "--time-budget",
            help="Wall time for --models auto, e.g. 20m, 90s, 1.5h (default 20m).",
            callback=checked_duration,
        ),
    ] = None,
    fairness_constraint: Annotated[
        str | None,
        typer.Option(
            "--fairness-constraint",
            help="demographic_parity or equalized_odds[:ATTRIBUTE]: train under it "
            "(reweighing, else group thresholds on out-of-fold scores).",
        ),
    ] = None,
    max_gap: Annotated[
        float,
        typer.Option(
            "--max-gap", help="Largest gap the fairness constraint allows.", min=0.0, max=1.0
        ),
    ] = 0.05,
    sampler: Annotated[
        str | None,
        typer.Option(
            help="Imbalance sampler on training folds: smote, borderline_smote, adasyn, smotenc, random_under."
        ),
    ] = None,
    register: Annotated[
        str | None, typer.Option(help="Register the best model under this name.")
    ] = None,
    out: Annotated[Path, typer.Option("--out", "-o", help="Output folder.")] = Path("train-out"),
    force: Annotated[
        bool, typer.Option("--force", "-f", help="Write over a non-empty --out folder.")
    ] = False,
    seed: Annotated[
        int | None, typer.Option(help="Seed for the whole run (default: settings).")
    ] = None,
    approve_below: ApproveBelowOpt = None,
    decline_above: DeclineAboveOpt = None,
    engine: EngineOpt = "pandas",
    scheduler: SchedulerOpt = None,
) -> None:
    """Cross-validate models, measure their energy, and write metrics.json, report.html and model/.

    With ``--engine dask`` LightGBM's trees are grown on the cluster (lightgbm.dask), with
    the same folds, calibration and bundle; the data is read and validated as with pandas.
    """
    from greenscore.commands.progress import run_with_progress
    from greenscore.config import get_settings
    from greenscore.scale.run import run_on
    from greenscore.store import database
    from greenscore.workflows.subject_lineage import record_training
    from greenscore.workflows.summary import print_train_summary
    from greenscore.workflows.train import train
    from greenscore.workflows.train_plan import plan_training

    cluster = scheduler_for(engine, scheduler)
    database(get_settings())  # the home's schema is this release's before a long run starts
    dataset, options, warnings = plan_training(
        data,
        preset=preset,
        spec=spec,
        target=target,
        query=query,
        models=models,
        cv=cv,
        cv_strategy=cv_strategy,
        tune_trials=tune_trials,
        sampler=sampler,
        register=register,
        out=out,
        force=force,
        seed=seed,
        approve_below=approve_below,
        decline_above=decline_above,
        time_budget=time_budget,
        fairness_constraint=fairness_constraint,
        max_gap=max_gap,
    )
    for message in warnings[:10]:
        typer.secho(f"warning: {message}", fg="yellow", err=True)
    total = len(options.models) * (options.cv + 1)
    result = run_with_progress(
        "training",
        total,
        lambda progress: run_on(cluster, lambda: train(dataset, options, progress=progress)),
    )
    record_training(
        dataset.frame,
        dataset.spec,
        dataset_sha=dataset.sha256,
        model_folder=out / "model",
        registered=(register, result.registered_version)
        if register and result.registered_version is not None
        else None,
        settings=get_settings(),
    )  # lineage: which subjects trained this model (erasure names it for retraining)
    print_train_summary(result.metrics)
    typer.echo(f"wrote {out / 'metrics.json'}, {out / 'report.html'}, {out / 'model'}")
    fallback = next((n for n, m in result.metrics["models"].items() if m.get("fallback_for")), None)
    if fallback is not None and (out / "models" / fallback).is_dir():
        # The ensemble's single-model fallback is written beside it; serving uses it only
        # when named.
        typer.echo(
            f"serve it with its fallback:  greenscore serve --model {out / 'model'} "
            f"--fallback {out / 'models' / fallback}"
        )
    if result.registered_version is not None:
        typer.echo(f"registered models:/{register}/{result.registered_version}")


def score_command(
    model: Annotated[
        str,
        typer.Option(
            "--model", "-m", help="Bundle folder or models:/NAME/VERSION or models:/NAME@alias."
        ),
    ],
    data: DataOpt,
    out: Annotated[
        Path,
        typer.Option(
            "--out",
            "-o",
            help="Output file: .csv, .parquet, .json (an array of rows) or .jsonl (a row a line).",
        ),
    ],
    query: QueryOpt = None,
    approve_below: ApproveBelowOpt = None,
    decline_above: DeclineAboveOpt = None,
    on_error: Annotated[
        str,
        typer.Option(
            "--on-error",
            help="A row that cannot be scored: raise (stop, naming row and column) or skip "
            "(score the others; skipped rows go to OUT's .rejects.csv).",
        ),
    ] = "raise",
    engine: EngineOpt = "pandas",
    scheduler: SchedulerOpt = None,
    reasons: Annotated[
        str,
        typer.Option(
            "--reasons",
            help="Which rows get their top reasons (reason_K_code, _feature, _contribution, "
            "_text), on either engine: all, adverse (reviews and declines, which Regulation B "
            "owes reasons; approvals' columns empty: far faster for a model explained by "
            "sampling, such as a net) or none.",
        ),
    ] = "all",
    force: Annotated[
        bool,
        typer.Option("--force", "-f", help="With --engine dask: restart a folder of another run."),
    ] = False,
) -> None:
    """Score a file: probability of default, score points, decision band, input flags and
    the top reasons per row.

    With ``--engine dask``, --out is a folder: one ``part-NNNNN.parquet`` per input
    partition, written atomically; a run started again over the same input
    and model scores only the parts not yet written.
    """
    from greenscore.config import get_settings
    from greenscore.explain.reason_codes import check_reason_rows
    from greenscore.tracking.registry import load_bundle
    from greenscore.workflows.cutoffs import override_cutoffs
    from greenscore.workflows.score import check_options, score_file, summary_line

    try:
        rows = check_reason_rows(reasons)
    except ConfigError as exc:  # a usage mistake: the usage line, exit 2
        raise typer.BadParameter(exc.message, param_hint="'--reasons'") from exc
    cluster = scheduler_for(engine, scheduler)
    if cluster is None:
        check_options(out, on_error)
    else:
        from greenscore.scale.run import ERR_SKIP, check_query

        check_query(query)
        if on_error != "raise":
            raise ConfigError(ERR_SKIP)
    bundle, cutoff_warning = override_cutoffs(
        load_bundle(model), approve_below=approve_below, decline_above=decline_above
    )
    if cutoff_warning:
        typer.secho(f"warning: {cutoff_warning}", fg="yellow", err=True)
    serving = get_settings().serving
    if cluster is not None:
        _score_on_cluster(bundle, data, out, cluster, reasons=rows, force=force)
        return
    summary = score_file(
        bundle,
        data,
        out,
        query=query,
        on_error=on_error,
        refuse_implausible=serving.refuse_implausible,
        margin=serving.range_margin,
        reasons=rows,
    )
    if summary.warning:
        typer.secho(f"warning: {summary.warning}", fg="yellow", err=True)
    typer.echo(summary_line(summary, model=bundle.name, out=out))


def _score_on_cluster(
    bundle: Any, data: str, out: Path, scheduler: str, *, reasons: ReasonRows, force: bool
) -> None:
    from greenscore.commands.progress import run_with_progress
    from greenscore.config import get_settings
    from greenscore.scale.run import open_lazy
    from greenscore.workflows.score import unlinked_warning, with_relations_beside
    from greenscore.workflows.score_parts import score_on_cluster

    serving = get_settings().serving
    table = open_lazy(data)
    bundle, links = with_relations_beside(bundle, data)  # new applicants' links, as with pandas
    if warning := unlinked_warning(bundle, links):
        typer.secho(f"warning: {warning}", fg="yellow", err=True)
    summary = run_with_progress(
        "scoring partitions",
        table.npartitions,
        lambda progress: score_on_cluster(
            bundle,
            table,
            out,
            scheduler,
            reasons=reasons,
            refuse_implausible=serving.refuse_implausible,
            margin=serving.range_margin,
            force=force,
            progress=lambda rows, parts: progress(f"{rows:,} rows", parts),
        ),
    )
    typer.echo(
        f"scored {summary.rows:,} rows with {bundle.name} -> {out} ({summary.partitions} parts, "
        f"{summary.scored_now} scored by this run, {summary.seconds:.1f} s on {scheduler})"
    )


def register(app: typer.Typer) -> None:
    """Add train and score to the CLI."""
    app.command("train")(train_command)
    app.command("score")(score_command)
