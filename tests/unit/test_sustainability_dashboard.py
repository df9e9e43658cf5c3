"""Dashboard pieces without a browser: service metrics parsing, periods, the page policy."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from greenscore.config import ServingSettings
from greenscore.sustainability import serving_metrics as sm
from greenscore.sustainability.dashboard.app import chosen_period, period_options
from greenscore.sustainability.dashboard.gate import page_headers
from greenscore.sustainability.dashboard.mount import is_loopback


def test_service_metrics_are_read_from_the_services_own_exposition() -> None:
    from greenscore.serving.monitoring import Monitor

    monitor = Monitor(ServingSettings())
    for latency in (0.002, 0.004, 0.010):
        monitor.observe_request("/v1/score", "POST", 200, latency)
    monitor.predictions.labels("pd", "3", "primary", "approve").inc(5)
    monitor.predictions.labels("pd", "3", "primary", "decline").inc(2)
    monitor.co2.labels("pd", "3").inc(0.001)
    snap = sm.parse_metrics(monitor.render().decode(), note="test")
    assert snap.available and snap.total_decisions == 7
    assert snap.decisions[("pd", "decline")] == 2
    assert snap.latency_ms["p50"] == pytest.approx(4.0)
    assert 2.0 <= snap.latency_ms["p99"] <= 10.0
    assert snap.throughput_rps > 0 and snap.co2_kg == pytest.approx(0.001)


def test_an_unreachable_service_is_a_snapshot_that_says_so() -> None:
    def broken() -> str:
        raise ConnectionError("refused")

    snap = sm.snapshot(broken)
    assert not snap.available and "unreachable: refused" in snap.note
    assert not sm.snapshot(None).available


def test_period_picker_offers_all_time_quarters_and_the_year() -> None:
    options = [o["value"] for o in period_options(datetime(2026, 12, 3, tzinfo=UTC))]
    assert options == ["all", "2026-Q4", "2026-Q3", "2026-Q2", "2026-Q1", "2026"]
    assert chosen_period("all").start is None
    assert chosen_period("2026-Q3").end == datetime(2026, 10, 1, tzinfo=UTC)


def test_page_policy_allows_only_own_scripts_and_the_bootstrap_hash() -> None:
    headers = dict(page_headers(["'sha256-abc'"], tls=True))
    policy = headers[b"content-security-policy"].decode()
    assert "script-src 'self' 'sha256-abc';" in policy and "frame-ancestors 'none'" in policy
    assert headers[b"cache-control"] == b"no-store" and b"strict-transport-security" in headers


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("::1", True),
        ("localhost", True),
        ("0.0.0.0", False),
        ("example.org", False),
    ],
)
def test_loopback_hosts(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


def test_deadline_forms() -> None:
    import typer

    from greenscore.commands.carbon import parse_deadline

    now = datetime(2026, 12, 3, 12, tzinfo=UTC)
    assert parse_deadline("24h", now) == now + timedelta(hours=24)
    assert parse_deadline("90m", now) == now + timedelta(minutes=90)
    assert parse_deadline("2026-12-04T06:00", now) == datetime(2026, 12, 4, 6, tzinfo=UTC)
    with pytest.raises(typer.BadParameter, match="--deadline must be a duration"):
        parse_deadline("tomorrow", now)
