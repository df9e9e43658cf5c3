"""``greenscore serve`` (the scoring API under uvicorn) and ``greenscore dlq list|replay``."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Annotated

import typer

dlq_app = typer.Typer(help="Requests no model could answer, kept for replay.", no_args_is_help=True)


def _absolute(uri: str | None) -> str | None:
    """A model folder given relative to where ``serve`` started, as an absolute path: the
    service records it with each dead letter, and ``greenscore dlq replay`` runs from
    anywhere (a relative one failed there: "no model bundle at train1/model")."""
    if uri is None or not Path(uri).exists():  # a registry URI is no path
        return uri
    return str(Path(uri).resolve())


def serve(
    model: Annotated[
        str | None,
        typer.Option(
            "--model",
            "-m",
            help="Model: a bundle folder, models:/NAME/VERSION or models:/NAME@ALIAS.",
        ),
    ] = None,
    fallback: Annotated[
        str | None, typer.Option(help="Model that answers when the primary fails.")
    ] = None,
    ab: Annotated[
        str | None, typer.Option(help="A/B split, e.g. 'models:/m/1:0.9,models:/m/2:0.1'.")
    ] = None,
    host: Annotated[str | None, typer.Option(help="Address (default serving.host).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (default serving.port).")] = None,
    workers: Annotated[
        int | None, typer.Option(help="Worker processes (default serving.workers).", min=1)
    ] = None,
) -> None:
    """Serve the scoring API (TLS 1.3 when serving.tls_cert and serving.tls_key are set).

    Outside local and test use (``environment``) it refuses to start unless the audit
    pepper, the JWT secret and the master key are configured, naming each one missing.

    With more than one worker, each worker process reads its settings from the
    environment (GREENSCORE_* and GREENSCORE_CONFIG), and rate limits are per worker
    unless serving.redis_url is set.
    """
    import uvicorn

    from greenscore.config import get_settings, require_secrets
    from greenscore.errors import ConfigError
    from greenscore.security.tls import uvicorn_ssl_kwargs
    from greenscore.store import database

    settings = get_settings()
    # Outside local and test use: one line naming every secret missing (exit 2), before
    # any worker starts, rather than the first request that needs one failing.
    require_secrets(settings)
    # Before any worker starts: one clear line if the database cannot be reached or is
    # newer than this release, and one upgrade (workers then find the schema current).
    database(settings)
    s = settings.serving
    model = _absolute(model or s.model)
    fallback = _absolute(fallback)
    ab = ab or s.ab
    if ab:
        from greenscore.serving.deployment import parse_split

        ab = ",".join(f"{_absolute(uri)}:{weight:g}" for uri, weight in parse_split(ab))
    if not model and not ab:
        raise ConfigError("no model to serve: pass --model (or --ab), or set serving.model")
    n_workers = workers or s.workers
    tls = uvicorn_ssl_kwargs(settings)
    common = {
        "host": host or s.host,
        "port": port or s.port,
        "log_level": settings.log_level.lower(),
        "access_log": False,  # per-request lines cost throughput; /metrics counts requests
        # httptools with a deadline and a size limit on request headers (slow clients).
        "http": "greenscore.serving.http_protocol:GuardedHttpToolsProtocol",
        **tls,
    }
    scheme = "https" if tls else "http"
    typer.echo(
        f"serving {ab or model} on {scheme}://{common['host']}:{common['port']} "
        f"({n_workers} worker{'s' if n_workers > 1 else ''}); docs at /docs",
        err=True,
    )
    if n_workers == 1:
        from greenscore.serving.app import create_app

        app = create_app(settings, model=model, fallback=fallback, ab=ab)
        uvicorn.run(app, **common)
        return
    # Worker processes build their own app from the environment.
    for name, value in (("MODEL", model), ("FALLBACK", fallback), ("AB", ab)):
        if value:
            os.environ[f"GREENSCORE_SERVING__{name}"] = value
    uvicorn.run("greenscore.serving.app:create_app", factory=True, workers=n_workers, **common)


@dlq_app.command("list")
def dlq_list(
    status: Annotated[str, typer.Option(help="pending, replayed, failed or all.")] = "pending",
    limit: Annotated[int, typer.Option(min=1)] = 100,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """List dead letters, oldest first."""
    from greenscore.config import get_settings
    from greenscore.serving.dlq import list_dead_letters
    from greenscore.store import database

    letters = list_dead_letters(
        status=None if status == "all" else status, limit=limit, db=database(get_settings())
    )
    if as_json:
        typer.echo(json.dumps(letters, indent=2))
        return
    if not letters:
        typer.echo(f"no {status} dead letters")
        return
    for x in letters:
        typer.echo(
            f"{x['id']:>6}  {x['created_at']}  {x['status']:<9} {x['kind']:<6} "
            f"request {x['request_id']}  model {x['model'] or '-'}  {x['error']}"
        )


@dlq_app.command("replay")
def dlq_replay(
    ids: Annotated[
        list[int] | None, typer.Argument(help="Dead-letter ids (default: all pending).")
    ] = None,
    model: Annotated[
        str | None,
        typer.Option("--model", "-m", help="Score with this model instead of the recorded one."),
    ] = None,
) -> None:
    """Score dead letters again and record their decisions (exit 1 if any failed)."""
    from greenscore.config import get_settings
    from greenscore.serving.replay import replay

    report = replay(get_settings(), ids=ids or None, model=model)
    for entry in report:
        if entry["status"] == "replayed":
            decided = ", ".join(d["decision"] for d in entry["decisions"])
            typer.echo(f"{entry['id']}: replayed request {entry['request_id']} -> {decided}")
        else:
            typer.echo(f"{entry['id']}: failed: {entry['error']}", err=True)
    if not report:
        typer.echo("no pending dead letters")
    if any(e["status"] != "replayed" for e in report):
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    """Add ``serve`` and the ``dlq`` command group."""
    app.command("serve")(serve)
    app.add_typer(dlq_app, name="dlq")
