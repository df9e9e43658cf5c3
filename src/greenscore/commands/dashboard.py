"""``greenscore dashboard``: the sustainability dashboard (Dash) in the browser.

Reads MLflow runs, the GreenScore database and, when ``sustainability.metrics_url`` is set,
the scoring service's metrics. On a loopback address it opens without login; on any other
address an operator token is needed (``--login/--no-login`` overrides). Inside the API it
is at ``/dashboard`` when ``sustainability.dashboard_in_api`` is set.
"""

from __future__ import annotations

from typing import Annotated

import typer


def dashboard_command(
    host: Annotated[
        str, typer.Option("--host", help="Address to listen on (loopback by default).")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=1, max=65535, help="Port.")] = 8050,
    login: Annotated[
        bool | None,
        typer.Option(
            "--login/--no-login",
            help="Require an operator token (default: only off loopback).",
        ),
    ] = None,
) -> None:
    """Serve the energy, carbon and ESG dashboard (Ctrl-C stops it)."""
    from greenscore.sustainability.dashboard.mount import is_loopback, serve_dashboard

    needs = (not is_loopback(host)) if login is None else login
    typer.echo(
        f"GreenScore dashboard on http://{host}:{port}/"
        + (" (operator login: greenscore tokens issue --user NAME --totp CODE)" if needs else ""),
        err=True,
    )
    serve_dashboard(host=host, port=port, login=login)


def register(app: typer.Typer) -> None:
    """Add ``dashboard`` to the CLI."""
    app.command("dashboard")(dashboard_command)
