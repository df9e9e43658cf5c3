"""``greenscore generate``: write the built-in synthetic credit data to a folder.

The folder receives ``applications.parquet``, ``relations.parquet`` and ``datasheet.md``;
``greenscore`` commands read it with ``--preset synthetic``.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer

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
) -> None:
    """Generate synthetic credit applications, borrower relations and their datasheet."""
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
        data = generate(rows, seed=seed, default_rate=default_rate)
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


def register(app: typer.Typer) -> None:
    """Add ``generate`` to the GreenScore CLI."""
    app.command("generate")(generate_command)
