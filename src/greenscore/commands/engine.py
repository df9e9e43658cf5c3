"""The ``--engine`` and ``--scheduler`` options shared by data, train and score commands."""

from __future__ import annotations

from typing import Annotated

import typer

EngineOpt = Annotated[
    str,
    typer.Option(
        "--engine",
        help="pandas (in this process, the default) or dask (out of core, on --scheduler).",
    ),
]
SchedulerOpt = Annotated[
    str | None,
    typer.Option(
        "--scheduler",
        help="With --engine dask: local:N (N worker processes here; default local:2) or a "
        "scheduler address such as tcp://host:8786.",
    ),
]


def scheduler_for(engine: str, scheduler: str | None) -> str | None:
    """The scheduler to run on, None for the pandas engine (options checked first)."""
    from greenscore.scale.cluster import check_engine

    return check_engine(engine, scheduler)
