"""``greenscore db``: the database schema's migrations — upgrade, downgrade, current, history.

Every command that uses the database upgrades it on first use (so do ``serve`` and
``train``); ``db upgrade`` does it on purpose, e.g. as a deployment step before the new
release's pods start. A downgrade that would lose data refuses and changes nothing.
"""

from __future__ import annotations

from typing import Annotated

import typer

db_app = typer.Typer(help="Database schema migrations.", no_args_is_help=True)

NONE = "none (an empty database, or one made by release 0.1.0)"


def _engine():  # noqa: ANN202 - a SQLAlchemy Engine; imported late to keep --help fast
    from greenscore.config import get_settings
    from greenscore.store import database_url, engine_for

    return engine_for(database_url(get_settings()))


@db_app.command("upgrade")
def upgrade_command(
    revision: Annotated[
        str, typer.Option("--revision", help="Revision to reach (default: the newest).")
    ] = "head",
) -> None:
    """Bring the database to a revision of the schema (default: this release's)."""
    from greenscore.store import migrate

    engine = _engine()
    before = migrate.current(engine)
    now = migrate.upgrade(engine, revision)
    typer.echo(f"database at revision {now} (was {before or NONE})")


@db_app.command("downgrade")
def downgrade_command(
    revision: Annotated[str, typer.Argument(help="Revision to go back to ('base': none).")],
) -> None:
    """Take the schema back to an earlier revision (refused if that would lose data)."""
    from greenscore.store import migrate

    engine = _engine()
    before = migrate.current(engine)
    now = migrate.downgrade(engine, revision)
    typer.echo(f"database at revision {now or 'base'} (was {before or NONE})")


@db_app.command("current")
def current_command() -> None:
    """Print the database's schema revision."""
    from greenscore.store import migrate

    found = migrate.current(_engine())
    newest = migrate.head()
    typer.echo(f"{found or NONE}{' (newest)' if found == newest else f'; newest is {newest}'}")


@db_app.command("history")
def history_command() -> None:
    """List the schema revisions, oldest first."""
    from greenscore.store import migrate

    for rev in migrate.history():
        typer.echo(f"{rev.revision}  {rev.description.splitlines()[0]}")


def register(app: typer.Typer) -> None:
    """Add the ``db`` command group."""
    app.add_typer(db_app, name="db")
