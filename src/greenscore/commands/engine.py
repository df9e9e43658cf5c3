"""The ``--engine`` and ``--scheduler`` options shared by data, train and score commands."""

from __future__ import annotations

from typing import Annotated

import typer

from greenscore.errors import ConfigError
from greenscore.scale.cluster import check_engine

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
    """The scheduler to run on, None for the pandas engine (options checked first).

    A bad ``--engine``/``--scheduler`` is the caller's usage mistake: it is raised as
    Click's usage error, so the command's usage line is printed with the message and the
    exit code is 2, like any other bad option value.
    """
    try:
        return check_engine(engine, scheduler)
    except ConfigError as exc:
        raise typer.BadParameter(exc.message) from exc
