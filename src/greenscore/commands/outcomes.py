"""``greenscore outcomes load``: record observed defaults against the decisions they follow.

The file names each decision by ``request_id`` (or the applicant by ``applicant_id``) with
``defaulted`` and ``observed_at`` (and optionally ``loan_date``, whose month is the
vintage). All rows are checked before any is stored; the load is recorded in the audit
log. ``greenscore monitor --from-store`` then measures performance by vintage.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

outcomes_app = typer.Typer(help="Observed outcomes of past decisions.", no_args_is_help=True)


@outcomes_app.command("load")
def load_command(
    file: Annotated[
        Path,
        typer.Option(
            "--file",
            help="Outcomes (.csv/.json/.parquet): request_id or applicant_id, "
            "defaulted, observed_at[, loan_date].",
        ),
    ],
    actor: Annotated[
        str | None, typer.Option("--actor", help="Who loads them (default: the OS user).")
    ] = None,
) -> None:
    """Record observed defaults against decision ids (all rows or none)."""
    import getpass

    from rich.console import Console

    from greenscore.config import get_settings
    from greenscore.data.io import read_table
    from greenscore.monitoring.outcomes import AUDIT_ACTION, parse_outcomes
    from greenscore.security.audit import record_event
    from greenscore.security.pseudonym import subject_hash
    from greenscore.store import database
    from greenscore.store.outcomes import record_outcomes

    settings = get_settings()
    outcomes = parse_outcomes(read_table(file))
    result = record_outcomes(
        outcomes,
        source=file.name,
        pseudonym=lambda applicant: subject_hash(applicant, settings=settings),
        db=database(settings),
    )
    record_event(
        AUDIT_ACTION,
        actor=actor or getpass.getuser(),
        details={"file": file.name, "rows": len(outcomes), **result.to_dict()},
        settings=settings,
    )
    Console().print(
        f"{len(outcomes)} outcome(s) from {file.name}: {result.inserted} new, "
        f"{result.updated} updated by a later observation, {result.unchanged} unchanged",
        highlight=False,
    )


def register(app: typer.Typer) -> None:
    """Add the ``outcomes`` command group."""
    app.add_typer(outcomes_app, name="outcomes")
