"""Carbon budgets per project, model and team: the ledger, alerts once per threshold, refusal.

Every measured piece of work is recorded in the carbon ledger
(:mod:`greenscore.store.sustainability`) with its kWh, its kg CO2e and the grid factor used.
A budget limits the kg CO2e one project, model or team may spend in a month, quarter, year
or in total. When recorded usage takes a budget past a threshold of
``sustainability.alert_thresholds`` (80 % and 100 % by default) the alert fires exactly
once for that budget, period and threshold -- a unique row in ``carbon_budget_alerts``
decides, so concurrent processes cannot both fire it -- and goes to the sinks of
:mod:`greenscore.monitoring.alerts`: the log, the webhook (when the caller binds one) and
Prometheus (gauges of use per budget, written to ``sustainability.prometheus_textfile``).

Before training, :func:`check_training_budget` compares an estimate (from the kWh per row
and fit the ledger has measured for each model, :func:`estimate_training_kwh`) with what
each affected budget has left; with ``sustainability.budget_mode = "refuse"`` a training
that would exceed one is refused with :class:`CarbonBudgetExceeded`.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from greenscore.config import Settings, get_settings
from greenscore.errors import ConfigError, GreenScoreError
from greenscore.logging import get_logger
from greenscore.monitoring.alerts import (
    CRITICAL,
    WARNING,
    Alert,
    LogSink,
    PrometheusSink,
    Sink,
    WebhookSink,
    dispatch,
)
from greenscore.store import sustainability as ledger
from greenscore.sustainability.intensity import GridFactor, co2_kg, configured_factor
from greenscore.sustainability.periods import BUDGET_PERIODS, Period, budget_period

log = get_logger(__name__)

SCOPES = ("project", "model", "team")
ALERT_KIND = "carbon_budget"
BAD_SCOPE = "budget scope must be one of {allowed}, got '{scope}'"
BAD_LIMIT = "budget limit must be a positive number of kg CO2e, got {limit}"
BAD_THRESHOLDS = "sustainability.alert_thresholds must be shares above 0, got {values}"
WOULD_EXCEED = (
    "training refused: its estimated {estimate_kg:.4g} kg CO2e ({estimate_kwh:.4g} kWh at "
    "{factor}) would take the {period} budget of {scope} '{name}' to {after_kg:.4g} of "
    "{limit_kg:.4g} kg CO2e ({key}); raise the budget or set sustainability.budget_mode to warn"
)


class CarbonBudgetExceeded(GreenScoreError):
    """Work refused because it would exceed a carbon budget (``budget_mode = "refuse"``)."""

    exit_code = 7
    http_status = 409


# ---------------------------------------------------------------------- budgets
def set_budget(
    *, scope: str, name: str, limit_kg: float, period: str = "quarter", url: str | None = None
) -> ledger.CarbonBudget:
    """Add a budget of ``limit_kg`` kg CO2e per ``period`` for a project, model or team.

    Raises
    ------
    ConfigError
        If the scope, period or limit is not valid, or the budget exists already.
    """
    if scope not in SCOPES:
        raise ConfigError(BAD_SCOPE.format(allowed=", ".join(SCOPES), scope=scope))
    if period not in BUDGET_PERIODS:
        budget_period(period, datetime.now(UTC))  # raises with the allowed periods
    if isinstance(limit_kg, bool) or not math.isfinite(float(limit_kg)) or float(limit_kg) <= 0:
        raise ConfigError(BAD_LIMIT.format(limit=limit_kg))
    return ledger.add_budget(scope=scope, name=name, period=period, limit_kg=limit_kg, url=url)


def _matches(budget: ledger.CarbonBudget, row: Any) -> bool:
    value = {"project": row.project, "team": row.team, "model": row.model}[budget.scope]
    return value == budget.name


@dataclass
class BudgetStatus:
    """Where one budget stands in one period.

    Attributes
    ----------
    budget : the budget row.
    period : the period (key, start, end).
    used_kg : kg CO2e recorded against it in the period.
    share : ``used_kg / limit_kg``.
    series : ``(time, cumulative kg)`` after each matching ledger row (the burn-down).
    fired : thresholds that have fired in this period.
    """

    budget: ledger.CarbonBudget
    period: Period
    used_kg: float
    share: float
    series: list[tuple[datetime, float]] = field(default_factory=list)
    fired: list[float] = field(default_factory=list)

    @property
    def remaining_kg(self) -> float:
        """kg CO2e left (negative when over)."""
        return self.budget.limit_kg - self.used_kg

    def to_dict(self) -> dict[str, Any]:
        """Plain data for JSON."""
        b = self.budget
        return {
            "id": b.id,
            "scope": b.scope,
            "name": b.name,
            "period": b.period,
            "period_key": self.period.key,
            "limit_kg": b.limit_kg,
            "used_kg": self.used_kg,
            "remaining_kg": self.remaining_kg,
            "share": self.share,
            "fired": self.fired,
            "series": [[t.isoformat(), kg] for t, kg in self.series],
        }


def budget_status(
    *, at: datetime | None = None, period: Period | None = None, url: str | None = None
) -> list[BudgetStatus]:
    """Every budget's use in the period containing ``at`` (default now), or in ``period``.

    With ``period`` (a report's quarter, say) a budget is measured over the budget period
    that contains the report period's last moment.
    """
    when = at or datetime.now(UTC)
    if period is not None and period.end is not None:
        when = period.end - timedelta(microseconds=1)
    rows = ledger.usage(url=url)
    alerts = ledger.fired_alerts(limit=10_000, url=url)
    out = []
    for budget in ledger.budgets(url=url):
        span = budget_period(budget.period, when)
        used, series = 0.0, []
        for row in rows:
            if _matches(budget, row) and span.contains(row.recorded_at):
                used += row.co2_kg
                series.append((_aware(row.recorded_at), used))
        fired = sorted(
            a.threshold for a in alerts if a.budget_id == budget.id and a.period_key == span.key
        )
        out.append(BudgetStatus(budget, span, used, used / budget.limit_kg, series, fired))
    return out


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


# ---------------------------------------------------------------------- sinks
class BudgetGauges:
    """Prometheus gauges of every budget's use, beside the monitor's alert counts.

    ``greenscore_carbon_budget_used_kg``, ``greenscore_carbon_budget_limit_kg`` and
    ``greenscore_carbon_budget_used_ratio`` with labels ``scope``, ``name``, ``period``;
    alerts counted in ``greenscore_monitor_alerts{kind="carbon_budget"}`` by the reused
    :class:`~greenscore.monitoring.alerts.PrometheusSink`.
    """

    name = "prometheus"

    def __init__(self, textfile: Path | None = None) -> None:
        from prometheus_client import Gauge

        self.textfile = textfile
        self.alerts = PrometheusSink()
        self.registry = self.alerts.registry
        labels = ["scope", "name", "period"]
        self.used = Gauge(
            "greenscore_carbon_budget_used_kg",
            "kg CO2e used in the budget's current period",
            labels,
            registry=self.registry,
        )
        self.limit = Gauge(
            "greenscore_carbon_budget_limit_kg",
            "kg CO2e a budget allows per period",
            labels,
            registry=self.registry,
        )
        self.ratio = Gauge(
            "greenscore_carbon_budget_used_ratio",
            "share of the budget used (1 = all of it)",
            labels,
            registry=self.registry,
        )

    def observe(self, statuses: Iterable[BudgetStatus]) -> None:
        """Set the gauges from budget statuses."""
        for s in statuses:
            labels = (s.budget.scope, s.budget.name, s.period.key)
            self.used.labels(*labels).set(s.used_kg)
            self.limit.labels(*labels).set(s.budget.limit_kg)
            self.ratio.labels(*labels).set(s.share)

    def send(self, alerts: Sequence[Alert], context: dict[str, Any]) -> None:
        """Count the alerts and write the registry to the textfile, if one is set."""
        self.alerts.send(alerts, context)
        if self.textfile is not None:
            self.alerts.write(self.textfile)


def default_sinks(
    settings: Settings | None = None, *, post_webhook: Callable[[dict[str, Any]], int] | None = None
) -> list[Sink]:
    """Log, the webhook (when ``post_webhook`` is given) and the Prometheus gauges."""
    settings = settings or get_settings()
    sinks: list[Sink] = [LogSink()]
    if post_webhook is not None:
        sinks.append(WebhookSink(post_webhook))
    sinks.append(BudgetGauges(settings.sustainability.prometheus_textfile))
    return sinks


def _thresholds(settings: Settings) -> list[float]:
    values = sorted(set(settings.sustainability.alert_thresholds))
    if not values or values[0] <= 0:
        raise ConfigError(BAD_THRESHOLDS.format(values=values))
    return values


# ---------------------------------------------------------------------- recording
@dataclass
class Recorded:
    """What recording one piece of work did: the ledger row (None if already recorded),
    the alerts it fired and where they went."""

    usage: ledger.CarbonUsage | None
    alerts: list[Alert]
    delivery: dict[str, str]


def record_usage(
    *,
    source_key: str,
    kind: str,
    kwh: float,
    model: str | None = None,
    run_id: str | None = None,
    rows: int | None = None,
    fits: int | None = None,
    recorded_at: datetime | None = None,
    factor: GridFactor | None = None,
    sinks: Sequence[Sink] | None = None,
    settings: Settings | None = None,
) -> Recorded:
    """Add one measured piece of work to the ledger and fire the thresholds it crosses.

    Parameters
    ----------
    source_key : str
        Unique name of the work (``train:<run id>:<model>``); recording it again adds nothing.
    kind : str
        ``training``, ``tuning``, ``scoring`` or ``federated``.
    kwh : float
        Measured energy.
    model, run_id, rows, fits : optional
        What it was; ``rows`` and ``fits`` let later trainings be estimated from it.
    factor : GridFactor, optional
        Grid factor for the CO2e (default: the configured location's).
    sinks : optional
        Where alerts go (default :func:`default_sinks`, without a webhook).

    Returns
    -------
    Recorded
    """
    settings = settings or get_settings()
    factor = factor or configured_factor(settings)
    thresholds = _thresholds(settings)
    row = ledger.add_usage(
        {
            "source_key": source_key,
            "recorded_at": recorded_at or datetime.now(UTC),
            "kind": kind,
            "project": settings.sustainability.project,
            "team": settings.sustainability.team,
            "model": model,
            "run_id": run_id,
            "kwh": float(kwh),
            "co2_kg": co2_kg(kwh, factor),
            "g_co2e_per_kwh": factor.g_co2e_per_kwh,
            "factor_source": factor.citation,
            "rows": rows,
            "fits": fits,
        }
    )
    if row is None:
        return Recorded(None, [], {})
    statuses = budget_status(at=row.recorded_at)
    fired = []
    for status in statuses:
        if not _matches(status.budget, row):
            continue
        for threshold in thresholds:
            if status.share < threshold:
                break
            alert = _alert(status, threshold, factor)
            claimed = ledger.claim_alert(
                {
                    "budget_id": status.budget.id,
                    "period_key": status.period.key,
                    "threshold": threshold,
                    "fired_at": datetime.now(UTC),
                    "used_kg": status.used_kg,
                    "limit_kg": status.budget.limit_kg,
                    "usage_id": row.id,
                    "message": alert.message,
                }
            )
            if claimed:
                status.fired.append(threshold)
                fired.append(alert)
    sinks = list(sinks) if sinks is not None else default_sinks(settings)
    for sink in sinks:
        if isinstance(sink, BudgetGauges):
            sink.observe(statuses)
    context = {"model": f"carbon:{settings.sustainability.project}", "kind": ALERT_KIND}
    return Recorded(row, fired, dispatch(fired, sinks, context))


def _alert(status: BudgetStatus, threshold: float, factor: GridFactor) -> Alert:
    b = status.budget
    return Alert(
        kind=ALERT_KIND,
        severity=CRITICAL if threshold >= 1.0 else WARNING,
        subject=f"{b.scope}:{b.name}",
        window=status.period.key,
        value=status.share,
        threshold=threshold,
        message=f"carbon budget of {b.scope} '{b.name}' passed {threshold:.0%} in "
        f"{status.period.key}: {status.used_kg:.4g} of {b.limit_kg:.4g} kg CO2e used "
        f"({status.share:.0%}; CO2e at {factor.citation})",
    )


def training_kwh(summary: dict[str, Any]) -> tuple[float, int]:
    """Total kWh of one model's training in a run and the number of fits it took.

    ``total_energy_kwh`` when the run records it (it includes the tuning search);
    otherwise every cross-validation fit (``energy_kwh`` is their mean) plus the final fit.
    """
    folds = int(summary.get("n_folds") or 0)
    fits = folds + 1
    if summary.get("total_energy_kwh") is not None:
        return float(summary["total_energy_kwh"]), fits
    return float(summary["energy_kwh"]) * folds + float(
        summary.get("final_energy_kwh") or 0.0
    ), fits


def record_training(
    metrics: dict[str, Any],
    *,
    run_id: str | None,
    rows: int,
    sinks: Sequence[Sink] | None = None,
    settings: Settings | None = None,
) -> list[Recorded]:
    """Record each model of a finished ``train`` (its ``metrics.json`` data) in the ledger.

    Called by :func:`greenscore.workflows.train.train` after tracking; a run without an
    MLflow id is keyed by a fresh id (so it is recorded once, by the one call).
    """
    import uuid

    key = run_id or f"local-{uuid.uuid4().hex}"
    out = []
    for name, summary in metrics.get("models", {}).items():
        kwh, fits = training_kwh(summary)
        if not math.isfinite(kwh):
            log.warning("training energy not measured; not charged", extra={"model": name})
            continue
        out.append(
            record_usage(
                source_key=f"train:{key}:{name}",
                kind="training",
                kwh=kwh,
                model=name,
                run_id=run_id,
                rows=int(rows),
                fits=fits,
                sinks=sinks,
                settings=settings,
            )
        )
    return out


# ---------------------------------------------------------------------- before training
@dataclass
class Estimate:
    """Expected energy of a training, and what it is based on."""

    kwh: float | None
    basis: str
    per_model: dict[str, float] = field(default_factory=dict)


def estimate_training_kwh(
    models: Sequence[str], *, rows: int, fits: int, url: str | None = None
) -> Estimate:
    """Expected kWh of training ``models`` on ``rows`` rows with ``fits`` fits each.

    From the ledger's measured trainings: the median kWh per row and fit of each model
    (a model never trained here takes the median of all models). None without history.
    """
    history: dict[str, list[float]] = {}
    for row in ledger.usage(url=url):
        if row.kind == "training" and row.rows and row.fits and row.model and row.kwh > 0:
            history.setdefault(row.model, []).append(row.kwh / (row.rows * row.fits))
    if not history:
        return Estimate(None, "no measured training in the carbon ledger yet")
    everything = statistics.median([v for values in history.values() for v in values])
    per_model, parts = {}, []
    for name in models:
        values = history.get(name)
        per = statistics.median(values) if values else everything
        per_model[name] = per * rows * fits
        parts.append(
            f"{name}: {per:.3g} kWh per row-fit ({len(values)} measured)"
            if values
            else f"{name}: {per:.3g} kWh per row-fit (median of all models; none measured)"
        )
    basis = "; ".join(parts) + f"; x {rows} rows x {fits} fits"
    return Estimate(sum(per_model.values()), basis, per_model)


@dataclass
class BudgetCheck:
    """Whether a training fits its budgets: each affected budget before and after."""

    estimate_kwh: float | None
    estimate_kg: float | None
    factor: GridFactor
    over: list[dict[str, Any]]
    budgets: list[dict[str, Any]]

    @property
    def ok(self) -> bool:
        """True when no budget would be exceeded (or nothing could be estimated)."""
        return not self.over


def check_training_budget(
    estimate_kwh: float | Estimate | None,
    *,
    models: Sequence[str] = (),
    settings: Settings | None = None,
    at: datetime | None = None,
) -> BudgetCheck:
    """Compare a training's estimated carbon with what its budgets have left.

    Parameters
    ----------
    estimate_kwh : float, Estimate or None
        Expected energy (e.g. :func:`estimate_training_kwh`, whose per-model parts are
        charged to model budgets); None checks nothing.
    models : names of the models to be trained (their model budgets apply).
    settings : Settings, optional
    at : when the training runs (default now).

    Returns
    -------
    BudgetCheck

    Raises
    ------
    CarbonBudgetExceeded
        With ``sustainability.budget_mode = "refuse"`` when a budget would be exceeded.
    """
    settings = settings or get_settings()
    per_model: dict[str, float] = {}
    if isinstance(estimate_kwh, Estimate):
        per_model = estimate_kwh.per_model
        estimate_kwh = estimate_kwh.kwh
    factor = configured_factor(settings)
    if estimate_kwh is None:
        return BudgetCheck(None, None, factor, [], [])
    estimate_kg = co2_kg(estimate_kwh, factor)
    sus = settings.sustainability
    charged = {("project", sus.project), ("team", sus.team)} | {("model", m) for m in models}
    rows, over = [], []
    for status in budget_status(at=at):
        b = status.budget
        if (b.scope, b.name) not in charged:
            continue
        # A model budget is charged that model's part when the estimate has parts; a bare
        # total is charged whole (the cautious reading).
        part = per_model.get(b.name) if b.scope == "model" else None
        after = status.used_kg + (co2_kg(part, factor) if part is not None else estimate_kg)
        row = {**status.to_dict(), "after_kg": after}
        row.pop("series")
        rows.append(row)
        if after > b.limit_kg:
            over.append(row)
    check = BudgetCheck(estimate_kwh, estimate_kg, factor, over, rows)
    if over:
        first = over[0]
        message = WOULD_EXCEED.format(
            estimate_kg=estimate_kg,
            estimate_kwh=estimate_kwh,
            factor=factor.citation,
            period=first["period"],
            scope=first["scope"],
            name=first["name"],
            after_kg=first["after_kg"],
            limit_kg=first["limit_kg"],
            key=first["period_key"],
        )
        if sus.budget_mode == "refuse":
            raise CarbonBudgetExceeded(message)
        log.warning(message.replace("training refused: ", "training goes ahead although "))
    return check
