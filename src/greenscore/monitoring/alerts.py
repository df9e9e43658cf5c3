"""Alerts from a monitoring run, and where they go: the log, a webhook, Prometheus.

Alerts describe *now*: the latest window with enough rows to be judged (or all rows when
there are no windows) for drift and data quality, and every flagged vintage for
performance. Earlier windows stay in the report, not in the alerts.

Sinks are small objects with a ``send(alerts, context)`` method. The webhook sink posts
through a function its caller gives it, so this package never reaches into the service's
outbound client: the command line hands it ``greenscore.serving.outbound.post_json`` with
the SSRF checks and allow-list of ``monitoring.webhook_allow_hosts``. A sink that fails is
logged and reported, never allowed to lose the report.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Protocol

from greenscore.config import MonitoringSettings
from greenscore.logging import get_logger
from greenscore.monitoring.drift import ACT, WATCH

log = get_logger(__name__)

WARNING, CRITICAL = "warning", "critical"
SCORE = "score"


@dataclass(frozen=True)
class Alert:
    """One finding that needs a person's attention.

    Attributes
    ----------
    kind : ``feature_psi``, ``score_psi``, ``data_quality`` or ``auc_drop``.
    severity : ``warning`` or ``critical``.
    subject : the column, ``score``, or the vintage.
    window : the window or vintage it was seen in (``all`` for the whole period).
    value, threshold : the figure and the threshold it crossed.
    message : one readable line.
    """

    kind: str
    severity: str
    subject: str
    window: str
    value: float | None
    threshold: float | None
    message: str

    @property
    def evidence(self) -> str:
        """A stable name of the finding (what a retraining request is deduplicated on)."""
        return f"{self.kind}:{self.window}:{self.subject}"

    def to_dict(self) -> dict[str, Any]:
        """Plain data for JSON."""
        return {**asdict(self), "evidence": self.evidence}


def latest_judged(report: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """The window alerts describe: the newest judged one, else the whole period."""
    for window in reversed(report.get("windows") or []):
        if window["judged"]:
            return window["label"], window
    return "all", report["overall"]


def drift_alerts(report: dict[str, Any], *, settings: MonitoringSettings) -> list[Alert]:
    """Score PSI, feature PSI and data-quality alerts of a :func:`drift_report`."""
    label, snap = latest_judged(report)
    if not snap["judged"]:
        return []
    alerts = []
    score = snap.get("score")
    if score is not None and score["band"] in (WATCH, ACT):
        act = score["band"] == ACT
        threshold = settings.psi_act if act else settings.psi_watch
        alerts.append(
            Alert(
                kind="score_psi",
                severity=CRITICAL if act else WARNING,
                subject=SCORE,
                window=label,
                value=score["psi"],
                threshold=threshold,
                message=f"PD distribution shifted in {label}: PSI {score['psi']:.3f} "
                f"({score['band']} band, from {threshold:g})",
            )
        )
    for name in snap["flagged"]:
        column = snap["columns"][name]
        act = column["band"] == ACT
        threshold = settings.psi_act if act else settings.psi_watch
        alerts.append(
            Alert(
                kind="feature_psi",
                severity=CRITICAL if act else WARNING,
                subject=name,
                window=label,
                value=column["psi"],
                threshold=threshold,
                message=f"'{name}' shifted in {label}: CSI {column['psi']:.3f} "
                f"({column['band']} band, from {threshold:g})",
            )
        )
    limits = {
        "missing_rate": settings.missing_rate_increase,
        "range": settings.out_of_range_share,
        "unseen": settings.unseen_share,
        "non_numeric": 0.0,
    }
    figures = {
        "missing_rate": "missing_increase",
        "range": "out_of_range_share",
        "unseen": "unseen_share",
        "non_numeric": "non_numeric",
    }
    for finding in snap["quality"]:
        name, check = finding["column"], finding["check"]
        value = snap["columns"][name]["quality"].get(figures[check])
        alerts.append(
            Alert(
                kind="data_quality",
                severity=WARNING,
                subject=name,
                window=label,
                value=None if value is None else float(value),
                threshold=limits[check],
                message=f"'{name}' failed the {check.replace('_', ' ')} check in {label} "
                f"({value:.4g} against {limits[check]:g})",
            )
        )
    return alerts


def performance_alerts(performance: dict[str, Any]) -> list[Alert]:
    """One critical alert per vintage whose AUC fell (see :mod:`.performance`)."""
    return [
        Alert(
            kind="auc_drop",
            severity=CRITICAL,
            subject=flag["vintage"],
            window=flag["vintage"],
            value=flag["value"],
            threshold=flag["baseline"],
            message=f"AUC of vintage {flag['vintage']} fell to {flag['value']:.3f} "
            f"(interval {flag['interval'][0]:.3f}-{flag['interval'][1]:.3f}) from the "
            f"baseline {flag['baseline']:.3f}",
        )
        for flag in performance.get("flags", [])
    ]


# ---------------------------------------------------------------------- sinks
class Sink(Protocol):
    """Somewhere alerts go."""

    name: str

    def send(self, alerts: Sequence[Alert], context: dict[str, Any]) -> None:
        """Deliver the alerts (``context``: the model and the run)."""


class LogSink:
    """Alerts as log records (critical as errors, warnings as warnings), with their fields."""

    name = "log"

    def send(self, alerts: Sequence[Alert], context: dict[str, Any]) -> None:
        for alert in alerts:
            level = log.error if alert.severity == CRITICAL else log.warning
            level(alert.message, extra={"alert": alert.to_dict(), **context})


class WebhookSink:
    """Alerts POSTed as one JSON document through ``post(body) -> HTTP status``.

    Parameters
    ----------
    post : callable
        Sends the body and returns the status code; raises on a transport failure. The
        caller binds the URL and the outbound checks.
    """

    name = "webhook"

    def __init__(self, post: Callable[[dict[str, Any]], int]) -> None:
        self.post = post

    def send(self, alerts: Sequence[Alert], context: dict[str, Any]) -> None:
        if not alerts:
            return
        status = self.post({**context, "alerts": [a.to_dict() for a in alerts]})
        if not 200 <= status < 300:
            raise RuntimeError(f"the webhook answered HTTP {status}")


class PrometheusSink:
    """Gauges of the latest drift, performance and alert counts in a Prometheus registry.

    ``greenscore_monitor_psi{model,column}`` (``column="score"`` for the PD),
    ``greenscore_monitor_auc{model,vintage}`` and ``greenscore_monitor_alerts{model,kind,
    severity}``. The service registers this sink's registry with its own (item 4 of issue
    17); the command line writes it to ``monitoring.prometheus_textfile`` for the node
    exporter's textfile collector.
    """

    name = "prometheus"

    def __init__(self, registry: Any | None = None) -> None:
        from prometheus_client import CollectorRegistry, Gauge

        self.registry = registry if registry is not None else CollectorRegistry()
        self.psi = Gauge(
            "greenscore_monitor_psi",
            "population stability index of the latest judged window",
            ["model", "column"],
            registry=self.registry,
        )
        self.auc = Gauge(
            "greenscore_monitor_auc",
            "AUC of each vintage with observed outcomes",
            ["model", "vintage"],
            registry=self.registry,
        )
        self.alerts = Gauge(
            "greenscore_monitor_alerts",
            "alerts raised by the latest monitoring run",
            ["model", "kind", "severity"],
            registry=self.registry,
        )
        self._drift: dict[str, Any] | None = None
        self._performance: dict[str, Any] | None = None

    def observe(
        self, drift: dict[str, Any] | None = None, performance: dict[str, Any] | None = None
    ) -> None:
        """Remember the run's figures; :meth:`send` sets the gauges with the model's label."""
        self._drift, self._performance = drift, performance

    def send(self, alerts: Sequence[Alert], context: dict[str, Any]) -> None:
        model = str(context.get("model", ""))
        if self._drift is not None:
            _, snap = latest_judged(self._drift)
            if snap.get("score") is not None:
                self.psi.labels(model, SCORE).set(snap["score"]["psi"])
            for name, column in snap["columns"].items():
                if column["psi"] is not None:
                    self.psi.labels(model, name).set(column["psi"])
        for vintage in (self._performance or {}).get("vintages", []):
            if vintage["auc"] is not None:
                self.auc.labels(model, vintage["vintage"]).set(vintage["auc"])
        counts: dict[tuple[str, str], int] = {}
        for alert in alerts:
            counts[(alert.kind, alert.severity)] = counts.get((alert.kind, alert.severity), 0) + 1
        for (kind, severity), count in counts.items():
            self.alerts.labels(model, kind, severity).set(count)

    def write(self, path: Path) -> None:
        """Write the registry in the text exposition format (atomically, as the collector needs)."""
        from prometheus_client import write_to_textfile

        path.parent.mkdir(parents=True, exist_ok=True)
        write_to_textfile(str(path), self.registry)


def dispatch(
    alerts: Sequence[Alert], sinks: Sequence[Sink], context: dict[str, Any]
) -> dict[str, str]:
    """Send alerts to every sink; returns ``{sink: "sent" | "failed: why"}``."""
    outcome = {}
    for sink in sinks:
        try:
            sink.send(alerts, context)
            outcome[sink.name] = "sent"
        except Exception as exc:  # noqa: BLE001 - one sink failing must not stop the others
            log.error("alert sink failed", extra={"sink": sink.name, "error": repr(exc)})
            outcome[sink.name] = f"failed: {type(exc).__name__}: {exc}"
    return outcome
