"""``greenscore generate``: write the built-in synthetic credit data to a folder.

The folder receives ``applications.parquet``, ``relations.parquet`` and ``datasheet.md``;
``greenscore`` commands read it with ``--preset synthetic``. With ``--chunk-rows N`` a
portfolio too large for memory is written chunk by chunk as ``applications/part-NNNNN.parquet``
and ``relations/part-NNNNN.parquet`` (:mod:`greenscore.data.synthetic_parts`), on Dask
workers with ``--engine dask``.
"""

from __future__ import annotations

import time
from contextlib import ExitStack
from pathlib import Path
from typing import Annotated, Any

import typer

from greenscore.commands.engine import EngineOpt, SchedulerOpt, scheduler_for
from greenscore.errors import ConfigError

ERR_OUT_IS_FILE = "--out {path} is a file; expected a folder to write the dataset into"


def generate_command(
    out: Annotated[
        Path, typer.Option("--out", "-o", help="Folder to write the three files into (created).")
    ],
    rows: Annotated[int, typer.Option("--rows", help="Number of applicants.")] = 10_000,
    seed: Annotated[
        int | None, typer.Option("--seed", help="Random seed (default: the settings' seed).")
    ] = None,
    default_rate: Annotated[
        float, typer.Option("--default-rate", help="Share of applicants who default.")
    ] = 0.15,
    chunk_rows: Annotated[
        int,
        typer.Option(
            "--chunk-rows",
            help="Write partitioned Parquet, this many applicants a part, never holding more "
            "in memory (0: one file each, the default).",
            min=0,
        ),
    ] = 0,
    first_id: Annotated[
        int,
        typer.Option(
            "--first-id",
            min=1,
            help="The first applicant id; the others follow. Give applicants made to be "
            "scored by a model trained on another generated file ids of their own (e.g. "
            "200001): an id its borrower graph knows is scored with that borrower's links.",
        ),
    ] = 100_001,
    engine: EngineOpt = "pandas",
    scheduler: SchedulerOpt = None,
) -> None:
    """Generate synthetic credit applications, borrower relations and their datasheet."""
    if chunk_rows or engine != "pandas":
        _generate_parts(out, rows, seed, default_rate, chunk_rows, engine, scheduler, first_id)
        return
    from rich.console import Console
    from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    from greenscore.config import get_settings
    from greenscore.data.synthetic import generate

    if out.exists() and not out.is_dir():
        raise ConfigError(ERR_OUT_IS_FILE.format(path=out))
    seed = get_settings().seed if seed is None else seed
    started = time.perf_counter()
    with Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        TimeElapsedColumn(),
        console=Console(stderr=True),
        transient=True,
    ) as progress:
        task = progress.add_task(f"generating {rows:,} applications", total=2)
        data = generate(rows, seed=seed, default_rate=default_rate, first_id=first_id)
        progress.update(task, advance=1, description=f"writing to {out}")
        paths = data.write(out)
        progress.update(task, advance=1)
    elapsed = time.perf_counter() - started
    applications, relations = data.applications, data.relations
    Console().print(
        f"wrote {len(applications):,} applications "
        f"(default rate {applications['default'].mean():.1%}, seed {seed}), "
        f"{len(relations):,} relations and the datasheet to {paths['applications'].parent} "
        f"in {elapsed:.1f} s",
        highlight=False,
        soft_wrap=True,
    )


def _generate_parts(
    out: Path,
    rows: int,
    seed: int | None,
    default_rate: float,
    chunk_rows: int,
    engine: str,
    scheduler: str | None,
    first_id: int,
) -> None:
    from greenscore.commands.progress import run_with_progress
    from greenscore.config import get_settings
    from greenscore.data.synthetic_parts import (
        DEFAULT_CHUNK_ROWS,
        chunk_sizes,
        write_synthetic_parts,
    )

    if out.exists() and not out.is_dir():
        raise ConfigError(ERR_OUT_IS_FILE.format(path=out))
    cluster = scheduler_for(engine, scheduler)
    seed = get_settings().seed if seed is None else seed
    chunk_rows = chunk_rows or DEFAULT_CHUNK_ROWS
    started = time.perf_counter()

    def job(progress: Any) -> dict[str, Path]:
        def tick(written: int) -> None:
            progress(f"{written:,} applicants a part", 1)

        mapper: Any = None
        if cluster is not None:
            from greenscore.scale.cluster import dask_client
            from greenscore.scale.generate import dask_mapper

            client = stack.enter_context(dask_client(cluster))
            mapper = dask_mapper(client)
        return write_synthetic_parts(
            out,
            rows=rows,
            seed=int(seed),
            default_rate=default_rate,
            chunk_rows=chunk_rows,
            mapper=mapper,
            progress=tick,
            first_id=first_id,
        )

    parts = len(chunk_sizes(rows, chunk_rows))  # a small remainder joins the last part
    with ExitStack() as stack:  # the cluster, if any, lives as long as the run
        paths = run_with_progress("generating", parts, job)
    typer.echo(
        f"wrote {rows:,} applications in parts of {chunk_rows:,} (seed {seed}) to "
        f"{paths['applications']} and {paths['relations']} in "
        f"{time.perf_counter() - started:.1f} s"
    )


def register(app: typer.Typer) -> None:
    """Add ``generate`` to the GreenScore CLI."""
    app.command("generate")(generate_command)
