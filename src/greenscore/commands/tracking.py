"""``greenscore mlflow ui``: MLflow's own web UI over the home folder's tracking store.

GreenScore keeps its runs and registered models in the home folder (by default
``sqlite:///<home>/mlflow.db`` with artifacts in ``<home>/mlartifacts``). MLflow's own
``mlflow ui``, run bare, would open (and create) ``./mlflow.db`` in the current folder
instead, so this command starts it with the store, registry and artifact root that
``greenscore config show`` prints under ``effective``.
"""

from __future__ import annotations

import os
import subprocess
import sys
from typing import Annotated

import typer

mlflow_app = typer.Typer(
    help="MLflow's UI over GreenScore's runs and model registry.", no_args_is_help=True
)


def mlflow_ui_args(*, host: str, port: int) -> list[str]:
    """The ``mlflow ui`` command line for the effective settings (without the interpreter)."""
    from greenscore.config import get_settings
    from greenscore.tracking.mlflow_run import artifact_root, tracking_uri

    settings = get_settings()
    uri = tracking_uri(settings)
    args = ["ui", "--backend-store-uri", uri, "--registry-store-uri", uri]
    root = artifact_root(settings)
    if root is not None:
        # Experiments GreenScore created already name this root; the server reads the
        # files there itself rather than proxying them (which would default to ./mlartifacts).
        args += ["--default-artifact-root", root, "--no-serve-artifacts"]
    # One worker: a local UI has one user, and uvicorn's supervisor killed workers whose
    # MLflow import outlasted its 5 s health check on a busy machine.
    return [*args, "--host", host, "--port", str(port), "--workers", "1"]


@mlflow_app.command("ui")
def mlflow_ui(
    port: Annotated[int, typer.Option("--port", help="Port of the UI.", min=1, max=65535)] = 5000,
    host: Annotated[
        str, typer.Option("--host", help="Address to listen on (loopback by default).")
    ] = "127.0.0.1",
) -> None:
    """Run MLflow's web UI on the home folder's runs and registry (Ctrl-C stops it)."""
    args = mlflow_ui_args(host=host, port=port)
    typer.echo(f"MLflow UI on http://{host}:{port} over {args[2]}", err=True)
    env = {**os.environ, "MLFLOW_DISABLE_TELEMETRY": "true", "DO_NOT_TRACK": "true"}
    try:
        code = subprocess.call([sys.executable, "-m", "mlflow", *args], env=env)
    except KeyboardInterrupt:
        code = 0  # the server got the same Ctrl-C and stops on its own
    if code:
        raise typer.Exit(code)


def register(app: typer.Typer) -> None:
    """Add the ``mlflow`` command group."""
    app.add_typer(mlflow_app, name="mlflow")
