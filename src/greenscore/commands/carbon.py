"""``greenscore carbon``: grid intensity, carbon budgets and carbon-aware scheduling.

* ``carbon intensity`` -- the configured (or given) region's annual factor with its source,
  and the next hours from the intensity provider.
* ``carbon budget set|list|delete`` -- budgets per project, model or team; ``list`` shows
  each one's use in its current period and the alerts fired.
* ``carbon schedule`` -- place a deferrable job in the cleanest window before its deadline
  and record it; ``carbon jobs`` lists placements; ``carbon due`` prints the ids of the jobs
  whose start has come (for cron or a systemd timer to start them).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Annotated

import typer

carbon_app = typer.Typer(
    help="Grid carbon intensity, carbon budgets, carbon-aware scheduling.", no_args_is_help=True
)
budget_app = typer.Typer(help="Carbon budgets per project, model or team.", no_args_is_help=True)
carbon_app.add_typer(budget_app, name="budget")

BAD_DEADLINE = (
    "--deadline must be a duration such as 90m, 24h or 2d, or an ISO date-time, got '{value}'"
)
_DURATION = re.compile(r"^(\d+(?:\.\d+)?)([mhd])$")


class Scope(StrEnum):
    """What a budget limits."""

    project = "project"
    model = "model"
    team = "team"


class BudgetPeriod(StrEnum):
    """How often a budget starts again."""

    month = "month"
    quarter = "quarter"
    year = "year"
    total = "total"


class JobKind(StrEnum):
    """Kinds of deferrable work."""

    training = "training"
    batch_scoring = "batch_scoring"
    federated_round = "federated_round"
    other = "other"


def parse_deadline(value: str, now: datetime) -> datetime:
    """``24h``-style durations from ``now``, or an ISO date-time (naive taken as UTC).

    Raises
    ------
    typer.BadParameter
        Naming the option and the accepted forms.
    """
    found = _DURATION.match(value.strip())
    if found:
        unit = {"m": "minutes", "h": "hours", "d": "days"}[found[2]]
        return now + timedelta(**{unit: float(found[1])})
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(
            BAD_DEADLINE.format(value=value), param_hint="--deadline"
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


@carbon_app.command("intensity")
def intensity_command(
    country: Annotated[
        str | None, typer.Option("--country", help="ISO alpha-3 (default energy.country_iso_code).")
    ] = None,
    region: Annotated[
        str | None, typer.Option("--region", help="Region within the country.")
    ] = None,
    hours: Annotated[int, typer.Option("--hours", min=1, max=168, help="Hours to show.")] = 24,
) -> None:
    """Show a region's grid carbon intensity: annual factor with source, then hour by hour."""
    from rich.console import Console
    from rich.table import Table

    from greenscore.config import get_settings
    from greenscore.sustainability.intensity import (
        grid_factor,
        provider_from_settings,
        region_factor,
    )

    settings = get_settings()
    typed = region
    if country is None:
        country, region = settings.energy.country_iso_code, region or settings.energy.region
    if typed:
        # A region typed here must be in the table: a misspelt one (californa) is refused
        # with the close matches, not answered with the country's figure.
        factor = region_factor(country, typed)
    else:
        factor = grid_factor(country, region)
        if region and factor.region is None:
            Console(stderr=True).print(
                f"warning: region '{region}' (energy.region) is not in the grid table; "
                f"showing the {factor.name} figure",
                highlight=False,
            )
    provider = provider_from_settings(settings)
    points = provider.forecast(country=country, region=region, start=datetime.now(UTC), hours=hours)
    console = Console()
    console.print(factor.citation, highlight=False)
    console.print(f"source: {factor.source}", highlight=False)
    table = Table("hour (UTC)", "gCO2e/kWh", "kind", title=f"{provider.name} provider")
    for p in points:
        table.add_row(f"{p.start:%Y-%m-%d %H:%M}", f"{p.g_co2e_per_kwh:.1f}", p.kind)
    console.print(table)


@budget_app.command("set")
def budget_set(
    scope: Annotated[Scope, typer.Option("--scope", help="What the budget limits.")],
    name: Annotated[str, typer.Option("--name", help="The project, model or team name.")],
    limit_kg: Annotated[float, typer.Option("--limit-kg", help="kg CO2e allowed per period.")],
    period: Annotated[
        BudgetPeriod, typer.Option("--period", help="Budget period.")
    ] = BudgetPeriod.quarter,
) -> None:
    """Add a carbon budget; alerts fire once at each of sustainability.alert_thresholds."""
    from rich.console import Console

    from greenscore.sustainability.budgets import budget_status, set_budget

    budget = set_budget(scope=scope.value, name=name, limit_kg=limit_kg, period=period.value)
    # What the ledger already holds for it this period: alerts fire when work is recorded,
    # so a budget set below its use would otherwise say nothing until the next training.
    status = next(s for s in budget_status() if s.budget.id == budget.id)
    over = " (over its limit)" if status.share >= 1 else ""
    Console(stderr=True).print(
        f"{scope.value} {name}: {status.used_kg:.4g} of {budget.limit_kg:.4g} kg CO2e used in "
        f"{status.period.key} ({status.share:.0%}){over}",
        highlight=False,
        soft_wrap=True,
    )
    typer.echo(budget.id)


@budget_app.command("list")
def budget_list(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Every budget with its use in the current period and the alerts it fired."""
    import json

    from rich.console import Console
    from rich.table import Table

    from greenscore.sustainability.budgets import budget_status

    statuses = budget_status()
    if as_json:
        typer.echo(json.dumps([s.to_dict() for s in statuses], indent=2))
        return
    if not statuses:
        typer.echo(
            "no carbon budgets (greenscore carbon budget set --scope ... --name ... --limit-kg ...)"
        )
        return
    table = Table("id", "scope", "name", "period", "used kg", "limit kg", "share", "fired")
    for s in statuses:
        b = s.budget
        table.add_row(
            b.id,
            b.scope,
            b.name,
            s.period.key,
            f"{s.used_kg:.4g}",
            f"{b.limit_kg:.4g}",
            f"{s.share:.0%}",
            ", ".join(f"{t:.0%}" for t in s.fired) or "-",
        )
    Console(width=160).print(table)


@budget_app.command("delete")
def budget_delete(
    budget_id: Annotated[str, typer.Option("--id", help="Budget id (from 'carbon budget list').")],
) -> None:
    """Remove a budget (its fired alerts stay as history)."""
    from greenscore.store.sustainability import delete_budget

    delete_budget(budget_id)
    typer.echo(f"deleted {budget_id}")


@carbon_app.command("schedule")
def schedule_command(
    job: Annotated[str, typer.Option("--job", help="What the job is (a name to recognise it by).")],
    duration_hours: Annotated[
        float, typer.Option("--duration-hours", min=0.01, help="Expected run time in hours.")
    ],
    deadline: Annotated[
        str, typer.Option("--deadline", help="Finish by: 90m, 24h, 2d from now, or ISO date-time.")
    ],
    kind: Annotated[JobKind, typer.Option("--kind", help="Kind of work.")] = JobKind.training,
    kwh: Annotated[
        float | None, typer.Option("--kwh", min=0, help="Expected energy (for the saving in kg).")
    ] = None,
) -> None:
    """Place a deferrable job in the lowest-intensity window before its deadline."""
    from rich.console import Console

    from greenscore.sustainability.scheduler import DeferrableJob, schedule

    now = datetime.now(UTC)
    placement, row = schedule(
        DeferrableJob(job, kind.value, duration_hours, parse_deadline(deadline, now), kwh), now=now
    )
    saving = f", {placement.saving_kg:.4g} kg CO2e" if placement.saving_kg is not None else ""
    when = "now" if placement.runs_now else f"{placement.start:%Y-%m-%d %H:%M} UTC"
    console = Console(stderr=True)
    console.print(
        f"{job}: start {when} at {placement.intensity_planned:.1f} gCO2e/kWh (now "
        f"{placement.intensity_now:.1f}): saves {placement.saving_share:.0%}{saving}; "
        f"{placement.source}",
        highlight=False,
    )
    if placement.late_hours > 0:
        console.print(
            f"warning: {duration_hours:g} h of work cannot end by the deadline; started now, "
            f"it ends {placement.late_hours:.1f} h after it",
            highlight=False,
            soft_wrap=True,
        )
    typer.echo(row.id)


@carbon_app.command("jobs")
def jobs_command() -> None:
    """Placed jobs with their planned start and saving."""
    from rich.console import Console
    from rich.table import Table

    from greenscore.store.sustainability import scheduled

    table = Table(
        "id",
        "job",
        "kind",
        "start (UTC)",
        "deadline (UTC)",
        "g now",
        "g planned",
        "saving kg",
        "status",
    )
    for j in scheduled():
        table.add_row(
            j.id,
            j.job,
            j.kind,
            f"{j.planned_start:%Y-%m-%d %H:%M}",
            f"{j.deadline:%Y-%m-%d %H:%M}",
            f"{j.intensity_now:.1f}",
            f"{j.intensity_planned:.1f}",
            f"{j.saving_kg:.4g}" if j.saving_kg is not None else "-",
            j.status,
        )
    Console(width=180).print(table)


@carbon_app.command("due")
def due_command(
    mark_started: Annotated[
        bool, typer.Option("--mark-started", help="Mark the printed jobs started.")
    ] = False,
) -> None:
    """Print 'id kind job' of each placed job whose start has come (for a runner to start)."""
    from greenscore.store.sustainability import set_scheduled_status
    from greenscore.sustainability.scheduler import due

    for j in due():
        typer.echo(f"{j.id}\t{j.kind}\t{j.job}")
        if mark_started:
            set_scheduled_status(j.id, "started")


def register(app: typer.Typer) -> None:
    """Add the ``carbon`` command group."""
    app.add_typer(carbon_app, name="carbon")
