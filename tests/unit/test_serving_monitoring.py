"""Service metrics: windowed latency quantiles, drift (PSI) of served PDs, the exposition."""

from __future__ import annotations

import numpy as np

from greenscore.config import ServingSettings
from greenscore.serving.monitoring import LatencyWindow, Monitor, PsiTracker, psi


def test_latency_window_keeps_only_recent_requests() -> None:
    window = LatencyWindow(seconds=10)
    window.add(1.0, now=0.0)
    for k in range(100):
        window.add(0.001 * (k + 1), now=5.0)
    values, _ = window.snapshot(now=12.0)
    assert len(values) == 100 and np.quantile(values, 0.99) < 0.1


def test_psi_is_small_for_the_training_distribution_and_large_when_shifted() -> None:
    rng = np.random.default_rng(0)
    training = rng.beta(2, 8, 20000)
    tracker = PsiTracker(np.quantile(training, np.linspace(0, 1, 101)).tolist(), bins=10)
    tracker.add(rng.beta(2, 8, 5000).tolist())
    assert tracker.value() < 0.02
    shifted = PsiTracker(np.quantile(training, np.linspace(0, 1, 101)).tolist(), bins=10)
    shifted.add(rng.beta(5, 5, 5000).tolist())
    assert shifted.value() > 0.5
    assert np.isnan(psi(tracker.edges, np.zeros(10)))


def test_exposition_has_the_service_metrics() -> None:
    monitor = Monitor(ServingSettings(sla_p99_ms=8))
    monitor.observe_request("/v1/score", "POST", 200, 0.004)
    monitor.observe_request("/v1/score", "POST", 200, 0.020)
    text = monitor.render().decode()
    for name in (
        'greenscore_requests_total{method="POST",route="/v1/score",status="200"} 2.0',
        "greenscore_request_latency_seconds_bucket",
        'greenscore_latency_sla_seconds{quantile="0.99"}',
        "greenscore_latency_sla_target_seconds 0.008",
        "greenscore_latency_sla_met 0.0",
        "greenscore_throughput_requests_per_second",
    ):
        assert name in text, name
