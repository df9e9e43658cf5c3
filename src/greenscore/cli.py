"""The ``greenscore`` command line.

Each capability registers its commands from its own module in ``greenscore.commands``
(one ``register(app)`` function each), so this file only wires settings, logging and the
error policy: a :class:`GreenScoreError` becomes one line on stderr and its exit code,
never a traceback (``--debug`` shows one).
"""

from __future__ import annotations

import importlib
import json
import os
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from greenscore.config import get_settings, load_settings, use_settings
from greenscore.errors import GreenScoreError
from greenscore.logging import configure_logging

# Nothing GreenScore runs may call out: MLflow's telemetry is off before it is imported.
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("DO_NOT_TRACK", "true")
# OpenMP threads (LightGBM, PyTorch) that spin while waiting made steps 20-30x slower when the
# 2 cores were shared; passive waiting must be set before either library loads.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

app = typer.Typer(
    name="greenscore",
    help="Build, explain, audit and serve credit-risk models, with their energy and CO2.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
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
    "generate",
]


@app.callback()
def _root(
    config: Annotated[
        Path | None, typer.Option("--config", help="YAML settings file (or GREENSCORE_CONFIG).")
    ] = None,
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks on errors.")] = False,
) -> None:
    _state["debug"] = debug
    if config is not None:
        use_settings(load_settings(config))
    settings = get_settings()
    configure_logging("DEBUG" if debug else settings.log_level)


@config_app.command("show")
def config_show(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of YAML.")] = False,
) -> None:
    """Print the effective settings (defaults, then the YAML file, then GREENSCORE_* env)."""
    data = get_settings().public_dict()
    if as_json:
        typer.echo(json.dumps(data, indent=2))
    else:
        import yaml

        typer.echo(yaml.safe_dump(data, sort_keys=False))


for _name in COMMAND_MODULES:
    importlib.import_module(f"greenscore.commands.{_name}").register(app)


def main() -> None:
    """Entry point of the ``greenscore`` console script."""
    try:
        # Without standalone mode click returns (not raises) the code of a typer.Exit.
        code = app(standalone_mode=False)
        if isinstance(code, int) and code != 0:
            sys.exit(code)
    except GreenScoreError as exc:
        if _state["debug"]:
            console.print_exception()
        console.print(f"[red]error:[/red] {exc.message}", highlight=False, soft_wrap=True)
        sys.exit(exc.exit_code)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except (typer.Abort, KeyboardInterrupt):
        console.print("aborted")
        sys.exit(130)
    except Exception as exc:  # click usage errors come through here in standalone_mode=False
        import click

        if isinstance(exc, click.ClickException):
            exc.show()
            sys.exit(exc.exit_code)
        if _state["debug"]:
            raise
        console.print(f"[red]internal error:[/red] {type(exc).__name__}: {exc}", highlight=False)
        console.print("run again with --debug for the traceback")
        sys.exit(70)


if __name__ == "__main__":
    main()
