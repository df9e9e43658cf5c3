"""Live serving figures, read from the scoring service's Prometheus metrics.

The service (:mod:`greenscore.serving.monitoring`) exposes latency quantiles over its SLA
window, throughput, decisions by model and band, the PSI of served PDs against training,
and the energy and CO2e of scoring. The dashboard reads them from the text the service's
``/metrics`` returns: fetched from ``sustainability.metrics_url`` (with
``sustainability.metrics_token``), or handed in directly when the dashboard runs inside
the API. Parsing uses ``prometheus_client``'s own parser.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from greenscore.config import Settings, get_settings
from greenscore.logging import get_logger

log = get_logger(__name__)

MetricsSource = Callable[[], str]


@dataclass
class ServiceSnapshot:
    """The service's figures at one scrape (``available`` False when there is no service).

    Attributes
    ----------
    latency_ms : p50, p95 and p99 over the SLA window (milliseconds).
    throughput_rps : requests per second over the window.
    decisions : count per (model, decision).
    psi : PSI of served PDs per model.
    energy_kwh, co2_kg : of all scoring since the service started.
    note : why it is unavailable, or where it came from.
    """

    available: bool
    note: str
    latency_ms: dict[str, float] = field(default_factory=dict)
    throughput_rps: float = math.nan
    decisions: dict[tuple[str, str], float] = field(default_factory=dict)
    psi: dict[str, float] = field(default_factory=dict)
    energy_kwh: float = 0.0
    co2_kg: float = 0.0

    @property
    def total_decisions(self) -> float:
        """Decisions of every model and band."""
        return float(sum(self.decisions.values()))

    def to_dict(self) -> dict[str, Any]:
        """Plain data for JSON (decision keys joined as ``model/decision``)."""
        data = dict(self.__dict__)
        data["decisions"] = {f"{m}/{d}": v for (m, d), v in self.decisions.items()}
        return data


def parse_metrics(text: str, *, note: str = "") -> ServiceSnapshot:
    """A :class:`ServiceSnapshot` from Prometheus text exposition."""
    from prometheus_client.parser import text_string_to_metric_families

    snap = ServiceSnapshot(available=True, note=note)
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            name, labels, value = sample.name, sample.labels, float(sample.value)
            if name == "greenscore_latency_sla_seconds" and not math.isnan(value):
                snap.latency_ms[f"p{round(float(labels['quantile']) * 100)}"] = value * 1000.0
            elif name == "greenscore_throughput_requests_per_second":
                snap.throughput_rps = value
            elif name == "greenscore_predictions_total":
                key = (labels.get("model", ""), labels.get("decision", ""))
                snap.decisions[key] = snap.decisions.get(key, 0.0) + value
            elif name == "greenscore_prediction_psi" and not math.isnan(value):
                snap.psi[f"{labels.get('model', '')}:{labels.get('version', '')}"] = value
            elif name == "greenscore_energy_kwh_total":
                snap.energy_kwh += value
            elif name == "greenscore_co2_kg_total":
                snap.co2_kg += value
    return snap


def url_source(url: str, token: str | None = None, *, timeout: float = 3.0) -> MetricsSource:
    """A source that GETs ``url`` (the service's ``/metrics``) with an optional bearer token."""

    def fetch() -> str:
        import httpx

        headers = {"Authorization": f"Bearer {token}"} if token else {}
        response = httpx.get(url, headers=headers, timeout=timeout)
        response.raise_for_status()
        return response.text

    return fetch


def source_from_settings(settings: Settings | None = None) -> MetricsSource | None:
    """The configured ``sustainability.metrics_url`` as a source, or None."""
    sus = (settings or get_settings()).sustainability
    if not sus.metrics_url:
        return None
    token = sus.metrics_token.get_secret_value() if sus.metrics_token else None
    return url_source(sus.metrics_url, token)


def snapshot(source: MetricsSource | None) -> ServiceSnapshot:
    """Scrape ``source`` once; an unreachable service is a snapshot saying so, not an error."""
    if source is None:
        return ServiceSnapshot(
            available=False,
            note="no scoring service configured (set sustainability.metrics_url, or open "
            "the dashboard inside the API)",
        )
    try:
        return parse_metrics(source(), note="live from the scoring service")
    except Exception as exc:  # noqa: BLE001 - the dashboard shows why, and keeps working
        log.warning("service metrics unavailable", extra={"error": repr(exc)})
        return ServiceSnapshot(available=False, note=f"scoring service unreachable: {exc}")
