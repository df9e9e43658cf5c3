"""The ``greenscore`` command line.

Each capability registers its commands from its own module in ``greenscore.commands``
(one ``register(app)`` function each), so this file only wires settings, logging and the
error policy: a :class:`GreenScoreError` becomes one line on stderr and its exit code,
never a traceback (``--debug`` shows one). Usage mistakes (a missing or unknown option, an
unknown command) are Click's own: the command's usage line, a ``--help`` hint, exit 2.

The same long option has the same short flag in every command (``-d/--data``,
``-m/--model``, ``-o/--out``, …; ``tests/integration/test_cli_usage.py`` walks the whole
command tree to hold that), and ``-h`` is ``--help`` everywhere.
"""

from __future__ import annotations

import functools
import importlib
import json
import os
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
import typer.main
from rich.console import Console

from greenscore.config import get_settings, load_settings, mask_url, use_settings
from greenscore.errors import GreenScoreError
from greenscore.logging import configure_logging
from greenscore.version import __version__

# Nothing GreenScore runs may call out: MLflow's telemetry is off before it is imported.
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("DO_NOT_TRACK", "true")

#: Passed down to every subcommand's context: ``-h`` works wherever ``--help`` does.
CONTEXT_SETTINGS = {"help_option_names": ["--help", "-h"]}

app = typer.Typer(
    name="greenscore",
    help="Build, explain, audit and serve credit-risk models, with their energy and CO2.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    context_settings=CONTEXT_SETTINGS,
)
config_app = typer.Typer(help="Inspect the effective settings.", no_args_is_help=True)
app.add_typer(config_app, name="config")

console = Console(stderr=True)
_state = {"debug": False}

#: Modules in greenscore.commands whose ``register(app)`` adds commands to the CLI.
COMMAND_MODULES: list[str] = [
    "train",
    "demo",
    "security",
    "data",
    "privacy",
    "explain",
    "serve",
    "db",
    "generate",
    "tracking",
    "scorecard",
    "monitor",
    "outcomes",
    "retrain",
    "synthesize",
    "carbon",
    "report",
    "dashboard",
    "federate",
    "compress",
    "documents",
    "search",
]


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"greenscore {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    config: Annotated[
        Path | None,
        typer.Option("--config", "-c", help="YAML settings file (or GREENSCORE_CONFIG)."),
    ] = None,
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks on errors.")] = False,
    version: Annotated[
        bool,
        typer.Option(
            "--version",
            "-V",
            help="Print the version and exit.",
            is_eager=True,
            callback=_print_version,
        ),
    ] = False,
) -> None:
    _state["debug"] = debug
    if config is not None:
        use_settings(load_settings(config))
    settings = get_settings()
    configure_logging("DEBUG" if debug else settings.log_level)
    from greenscore.privacy.at_rest import install_dataset_reader

    install_dataset_reader()  # every data command reads encrypted files in place


@config_app.command("show")
def config_show(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of YAML.")] = False,
) -> None:
    """Print the settings (defaults, then the YAML file, then GREENSCORE_* env).

    What is configured is shown as configured (``tracking.uri: null`` means "the
    default"); the ``effective`` section says what that resolves to: the home folder,
    the database, MLflow's tracking and registry URIs and artifact root (passwords masked).
    """
    from greenscore.tracking.mlflow_run import artifact_root

    settings = get_settings()
    data = settings.public_dict()
    data["effective"] = {
        "home": str(settings.home.resolve()),
        "database_url": mask_url(settings.db_url),
        "tracking_uri": mask_url(settings.tracking_uri),
        "registry_uri": mask_url(settings.tracking_uri),
        "artifact_root": artifact_root(settings),
    }
    if as_json:
        typer.echo(json.dumps(data, indent=2))
    else:
        import yaml

        typer.echo(yaml.safe_dump(data, sort_keys=False))


for _name in COMMAND_MODULES:
    importlib.import_module(f"greenscore.commands.{_name}").register(app)


@functools.cache
def _command() -> Any:
    """The Click command behind the app, built once per process (it takes ~0.1 s)."""
    return typer.main.get_command(app)


def main(args: list[str] | None = None) -> None:
    """Entry point of the ``greenscore`` console script (``args`` default to ``sys.argv``)."""
    try:
        # Standalone mode: Click prints usage errors with the command's usage line and
        # exits 2, prints help for a bare group, and exits with a typer.Exit's code.
        # (Typer 0.29 raises its own vendored Click's exceptions, which an
        # ``isinstance(exc, click.ClickException)`` check here used to miss: every usage
        # error became "internal error", exit 70.)
        _command().main(args=args, prog_name="greenscore")
    except GreenScoreError as exc:
        if _state["debug"]:
            console.print_exception()
        console.print(f"[red]error:[/red] {exc.message}", highlight=False, soft_wrap=True)
        sys.exit(exc.exit_code)
    except Exception as exc:
        if _state["debug"]:
            raise
        console.print(f"[red]internal error:[/red] {type(exc).__name__}: {exc}", highlight=False)
        console.print("run again with --debug for the traceback")
        sys.exit(70)


if __name__ == "__main__":
    main()
