"""``greenscore retrain``: the training jobs the monitor files, listed and run.

``retrain list`` shows them; ``retrain run-pending --data F`` trains a challenger for each
pending job on that data and replaces a registered champion only when the challenger is
better (DeLong test, ``monitoring.challenger_alpha``). Run it from the scheduler that
runs ``greenscore monitor``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from greenscore.commands.data import DataOpt, PresetOpt, QueryOpt, SpecOpt, TargetOpt

retrain_app = typer.Typer(help="Training jobs filed by the monitor.", no_args_is_help=True)


@retrain_app.command("list")
def list_command(
    status: Annotated[
        str | None, typer.Option("--status", help="Only jobs in this status (pending, done, ...).")
    ] = None,
) -> None:
    """Print the training jobs as JSON lines, oldest first."""
    from greenscore.config import get_settings
    from greenscore.store import database
    from greenscore.store.training_jobs import training_jobs

    for job in training_jobs(status=status, db=database(get_settings())):
        typer.echo(json.dumps(job.to_dict(), default=str))


@retrain_app.command("run-pending")
def run_pending_command(
    data: DataOpt,
    preset: PresetOpt = None,
    spec: SpecOpt = None,
    target: TargetOpt = None,
    query: QueryOpt = None,
    out: Annotated[
        Path, typer.Option("--out", "-o", help="Folder for each job's training output.")
    ] = Path("retrain-out"),
) -> None:
    """Train a challenger per pending job; promote it only if it beats the champion."""
    import getpass

    from rich.console import Console

    from greenscore.config import get_settings
    from greenscore.workflows.load import load_validated
    from greenscore.workflows.retrain import run_pending

    dataset, _ = load_validated(data, preset=preset, spec_path=spec, target=target, query=query)
    results = run_pending(
        dataset, out=out, settings=get_settings(), actor=f"retrain:{getpass.getuser()}"
    )
    console = Console()
    if not results:
        console.print("no pending training jobs")
    for result in results:
        if result["status"] != "done":
            console.print(f"job {result['job_id']} failed: {result['error']}", markup=False)
            continue
        verdict = result["comparison"]["verdict"]
        promoted = "promoted" if result["promoted"] else "not promoted"
        note = f" ({result['note']})" if result["note"] else ""
        console.print(f"job {result['job_id']}: {verdict}; {promoted}{note}", markup=False)


def register(app: typer.Typer) -> None:
    """Add the ``retrain`` command group."""
    app.add_typer(retrain_app, name="retrain")
