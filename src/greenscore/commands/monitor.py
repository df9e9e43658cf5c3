"""``greenscore monitor``: drift, data quality and performance of a model in use.

``--current FILE`` compares a file of recent applications with the reference (a file, or
what the model bundle stores); ``--from-store`` reads what the service scored (the
applicants it sampled per window, with their PDs; its PDs alone where it sampled none) and
the outcomes loaded against its decisions. Alerts go to the log, ``monitoring.webhook_url``
and Prometheus; an AUC drop (or a PD shift in the act band) files one training job. The
report is ``monitor.json`` and ``monitor.html`` in ``--out``.
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer


class WindowChoice(StrEnum):
    """Calendar windows the monitor can cut the current data into."""

    day = "day"
    week = "week"
    month = "month"


def _webhook(settings: Any) -> Any:
    """``post(body) -> status`` to the configured webhook through the SSRF-checked client."""
    if settings.monitoring.webhook_url is None:
        return None
    from greenscore.serving.outbound import AllowList, post_json

    url = settings.monitoring.webhook_url.get_secret_value()
    allow = AllowList(settings.monitoring.webhook_allow_hosts)
    timeout = settings.monitoring.webhook_timeout_seconds

    def post(body: dict[str, Any]) -> int:
        return post_json(url, body, allow=allow, timeout=timeout)

    return post


def monitor_command(
    model: Annotated[
        str,
        typer.Option(
            "--model", "-m", help="Bundle folder or registry URI (models:/NAME@champion)."
        ),
    ],
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder for monitor.html and .json.")],
    reference: Annotated[
        str | None,
        typer.Option(
            "--reference",
            help="Reference applications (e.g. the training file); default: what the model "
            "stores (ranges, levels, training PDs).",
        ),
    ] = None,
    current: Annotated[
        str | None, typer.Option("--current", help="Current applications file to monitor.")
    ] = None,
    from_store: Annotated[
        bool,
        typer.Option(
            "--from-store",
            help="Monitor what the service scored (sampled applicants, PDs) and the outcomes "
            "loaded, instead of a file.",
        ),
    ] = False,
    window: Annotated[
        WindowChoice | None,
        typer.Option("--window", help="Also report per calendar window (by the time column)."),
    ] = None,
    retrain: Annotated[
        bool,
        typer.Option(
            "--retrain/--no-retrain", help="File a training job when an alert calls for one."
        ),
    ] = True,
) -> None:
    """Monitor a model: PSI/CSI, KS, Wasserstein, data quality, performance, alerts."""
    import getpass

    from rich.console import Console

    from greenscore.commands.explain import load_model
    from greenscore.config import get_settings
    from greenscore.workflows.monitor import MonitorRequest, run_monitor

    settings = get_settings()
    request = MonitorRequest(
        model=model,
        out=out,
        reference=reference,
        current=current,
        from_store=from_store,
        window=window.value if window is not None else None,
        retrain=retrain,
    )
    if (current is None) == (not from_store):
        from greenscore.workflows.monitor import ONE_SOURCE

        raise typer.BadParameter(ONE_SOURCE, param_hint="--current / --from-store")
    report = run_monitor(
        request,
        settings=settings,
        bundle=load_model(model),
        post_webhook=_webhook(settings),
        actor=f"monitor:{getpass.getuser()}",
    )
    console = Console()
    overall = report["drift"]["overall"]
    latest = next(
        (w for w in reversed(report["drift"].get("windows") or []) if w["judged"]), overall
    )
    score = latest.get("score")
    if score is not None:
        console.print(f"score PSI {score['psi']:.3f} ({score['band']})", highlight=False)
    if latest["flagged"]:
        console.print(
            f"shifted in {latest.get('label', 'all')}: " + ", ".join(latest["flagged"]),
            markup=False,
            highlight=False,
            soft_wrap=True,
        )
    for alert in report["alerts"]:
        console.print(
            f"[{alert['severity']}] {alert['message']}",
            markup=False,
            highlight=False,
            soft_wrap=True,
        )
    retraining = report["retraining"]
    if retraining is not None:
        state = "filed" if retraining["created"] else "already filed"
        console.print(f"training job {retraining['job_id']} {state}", highlight=False)
    console.print(
        f"{len(report['alerts'])} alert(s); report: {report['files']['html']}", highlight=False
    )


def register(app: typer.Typer) -> None:
    """Add ``monitor`` to the GreenScore CLI."""
    app.command("monitor")(monitor_command)
