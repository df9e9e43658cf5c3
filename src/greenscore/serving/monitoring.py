"""Service metrics for Prometheus: traffic, latency SLA, errors, decisions, drift and energy.

Counters and histograms are updated per request (a few microseconds each). The SLA view
(p50/p95/p99 latency and throughput over the last ``serving.sla_window_seconds``) and the
population stability index of served probabilities of default against the model's
out-of-fold training PDs are computed only when ``/metrics`` is scraped. Each app gets
its own registry, so several apps in one process (tests) never share counts.
"""

from __future__ import annotations

import bisect
import threading
import time
from collections import deque
from collections.abc import Iterator
from typing import Any

import numpy as np
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily

from greenscore.config import ServingSettings
from greenscore.serving.resilience import STATE_CODES

LATENCY_BUCKETS = (
    0.001,
    0.002,
    0.004,
    0.006,
    0.008,
    0.012,
    0.016,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
)
_PSI_FLOOR = 1e-4  # empty bins would make the logarithm infinite
_MAX_WINDOW = 200_000


class LatencyWindow:
    """Request latencies of the last ``seconds``, for quantiles and throughput."""

    def __init__(self, seconds: float) -> None:
        self.seconds = float(seconds)
        self._items: deque[tuple[float, float]] = deque(maxlen=_MAX_WINDOW)
        self._lock = threading.Lock()

    def add(self, latency_s: float, now: float | None = None) -> None:
        """Record one request's latency."""
        self._items.append((time.monotonic() if now is None else now, latency_s))

    def snapshot(self, now: float | None = None) -> tuple[np.ndarray, float]:
        """Latencies inside the window and the window's length actually covered."""
        now = time.monotonic() if now is None else now
        with self._lock:
            while self._items and now - self._items[0][0] > self.seconds:
                self._items.popleft()
            items = list(self._items)
        if not items:
            return np.empty(0), self.seconds
        return np.array([v for _, v in items]), self.seconds


def psi(expected_edges: np.ndarray, counts: np.ndarray) -> float:
    """Population stability index of observed bin counts against equal-mass training bins."""
    total = counts.sum()
    if total == 0:
        return float("nan")
    actual = np.maximum(counts / total, _PSI_FLOOR)
    expected = np.full(len(counts), 1.0 / len(counts))
    return float(np.sum((actual - expected) * np.log(actual / expected)))


class PsiTracker:
    """Counts served PDs in the bins that split the training PDs into equal shares.

    Parameters
    ----------
    training_quantiles : list of float
        101 quantiles (0 %, 1 %, ..., 100 %) of out-of-fold PD at training.
    bins : int
        Number of equal-mass bins (10: deciles).
    """

    def __init__(self, training_quantiles: list[float], bins: int = 10) -> None:
        q = np.asarray(training_quantiles, dtype=float)
        positions = np.linspace(0, len(q) - 1, bins + 1)[1:-1]
        self.edges = np.interp(positions, np.arange(len(q)), q)
        self._edges = self.edges.tolist()
        self.counts = np.zeros(bins, dtype=np.int64)
        self._lock = threading.Lock()

    def add(self, pd_values: list[float]) -> None:
        """Count served probabilities of default."""
        # bisect on a list, not np.searchsorted: for a handful of values NumPy's call
        # overhead (and its release of the GIL) costs far more than the search.
        with self._lock:
            for value in pd_values:
                self.counts[bisect.bisect_right(self._edges, value)] += 1

    def value(self) -> float:
        """PSI of everything counted so far (NaN before the first prediction)."""
        with self._lock:
            counts = self.counts.copy()
        return psi(self.edges, counts)


class _ScrapeCollector:
    """Gauges computed at scrape time from the monitor's window and trackers."""

    def __init__(self, monitor: Monitor) -> None:
        self.monitor = monitor

    def collect(self) -> Iterator[GaugeMetricFamily]:
        m = self.monitor
        latencies, seconds = m.window.snapshot()
        sla = GaugeMetricFamily(
            "greenscore_latency_sla_seconds",
            f"request latency quantiles over the last {seconds:g} s",
            labels=["quantile"],
        )
        for q in (0.5, 0.95, 0.99):
            value = float(np.quantile(latencies, q)) if len(latencies) else float("nan")
            sla.add_metric([str(q)], value)
        yield sla
        target = GaugeMetricFamily(
            "greenscore_latency_sla_target_seconds", "p99 latency objective (serving.sla_p99_ms)"
        )
        target.add_metric([], m.settings.sla_p99_ms / 1000.0)
        yield target
        met = GaugeMetricFamily(
            "greenscore_latency_sla_met", "1 when the windowed p99 is within the objective"
        )
        p99 = float(np.quantile(latencies, 0.99)) if len(latencies) else 0.0
        met.add_metric([], 1.0 if p99 <= m.settings.sla_p99_ms / 1000.0 else 0.0)
        yield met
        rate = GaugeMetricFamily(
            "greenscore_throughput_requests_per_second", "requests per second over the window"
        )
        rate.add_metric([], len(latencies) / seconds if seconds > 0 else 0.0)
        yield rate
        drift = GaugeMetricFamily(
            "greenscore_prediction_psi",
            "population stability index of served PDs against out-of-fold training PDs",
            labels=["model", "version", "variant"],
        )
        for (model, version, variant), tracker in list(m.psi.items()):
            drift.add_metric([model, version, variant], tracker.value())
        yield drift
        circuit = GaugeMetricFamily(
            "greenscore_circuit_state",
            "primary model circuit: 0 closed, 1 half-open, 2 open",
            labels=["variant"],
        )
        for variant, breaker in list(m.breakers.items()):
            circuit.add_metric([variant], float(STATE_CODES[breaker.state]))
        yield circuit


class Monitor:
    """Every metric of one app, in its own registry.

    Parameters
    ----------
    settings : ServingSettings
    """

    def __init__(self, settings: ServingSettings) -> None:
        self.settings = settings
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter(
            "greenscore_requests", "HTTP requests", ["route", "method", "status"], registry=r
        )
        self.latency = Histogram(
            "greenscore_request_latency_seconds",
            "HTTP request latency",
            ["route"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.errors = Counter("greenscore_errors", "failures by kind", ["kind"], registry=r)
        self.predictions = Counter(
            "greenscore_predictions",
            "decisions made",
            ["model", "version", "variant", "decision"],
            registry=r,
        )
        self.fallbacks = Counter(
            "greenscore_fallbacks", "requests the fallback model answered", ["variant"], registry=r
        )
        self.model_info = Gauge(
            "greenscore_model_info",
            "models served (value 1)",
            ["model", "version", "variant", "role"],
            registry=r,
        )
        self.energy = Counter(
            "greenscore_energy_kwh",
            "estimated energy of scoring calls",
            ["model", "version"],
            registry=r,
        )
        self.co2 = Counter(
            "greenscore_co2_kg",
            "estimated CO2-eq of scoring calls",
            ["model", "version"],
            registry=r,
        )
        self.flags = Counter(
            "greenscore_input_flags", "inputs outside the training data", ["issue"], registry=r
        )
        self.rate_limited = Counter(
            "greenscore_rate_limited", "requests refused by the rate limit", registry=r
        )
        self.dead_letters = Counter(
            "greenscore_dead_letters", "requests kept for replay", ["kind"], registry=r
        )
        self.cache_hits = Counter("greenscore_cache_hits", "answers served from cache", registry=r)
        self.window = LatencyWindow(settings.sla_window_seconds)
        self.psi: dict[tuple[str, str, str], PsiTracker] = {}
        self.breakers: dict[str, Any] = {}
        r.register(_ScrapeCollector(self))

    def observe_request(self, route: str, method: str, status: int, latency_s: float) -> None:
        """Count one HTTP request and its latency."""
        self.requests.labels(route, method, str(status)).inc()
        self.latency.labels(route).observe(latency_s)
        if route.startswith("/v1/score"):
            self.window.add(latency_s)

    def on_deployment(self, deployment: Any) -> None:
        """Reset per-model gauges and drift trackers for a newly installed deployment."""
        self.model_info.clear()
        psi_trackers: dict[tuple[str, str, str], PsiTracker] = {}
        breakers = {}
        for variant in deployment.variants:
            model = variant.model
            self.model_info.labels(model.name, model.version, variant.label, "primary").set(1)
            if model.training_pd:
                psi_trackers[(model.name, model.version, variant.label)] = PsiTracker(
                    model.training_pd, self.settings.psi_bins
                )
            breakers[variant.label] = variant.breaker
        if deployment.fallback is not None:
            fb = deployment.fallback
            self.model_info.labels(fb.name, fb.version, "fallback", "fallback").set(1)
            if fb.training_pd:
                psi_trackers[(fb.name, fb.version, "fallback")] = PsiTracker(
                    fb.training_pd, self.settings.psi_bins
                )
        self.psi = psi_trackers
        self.breakers = breakers

    def observe_decisions(
        self,
        model: Any,
        variant: str,
        pds: list[float],
        decisions: list[str],
        energy_kwh: float,
        co2_kg: float,
    ) -> None:
        """Count decisions, feed the drift tracker and add the calls' energy."""
        for decision in decisions:
            self.predictions.labels(model.name, model.version, variant, decision).inc()
        tracker = self.psi.get((model.name, model.version, variant))
        if tracker is not None:
            tracker.add(pds)
        if energy_kwh == energy_kwh:
            self.energy.labels(model.name, model.version).inc(energy_kwh)
        if co2_kg == co2_kg:
            self.co2.labels(model.name, model.version).inc(co2_kg)

    def render(self) -> bytes:
        """The Prometheus text exposition of every metric."""
        return generate_latest(self.registry)
