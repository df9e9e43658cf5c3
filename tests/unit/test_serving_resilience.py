"""The circuit breaker: opens after repeated failures, tries one call after its wait, closes on success."""

from __future__ import annotations

from greenscore.serving.resilience import CircuitBreaker


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_opens_after_threshold_and_recovers_through_half_open() -> None:
    clock = Clock()
    breaker = CircuitBreaker(failures=3, reset_seconds=10, clock=clock)
    for _ in range(2):
        assert breaker.allow()
        breaker.record_failure()
    assert breaker.state == "closed"
    assert breaker.allow()
    breaker.record_failure()
    assert breaker.state == "open" and breaker.opened == 1
    assert not breaker.allow()
    clock.now = 10.0
    assert breaker.state == "half_open"
    assert breaker.allow()  # the one trial call
    assert not breaker.allow()  # no second call while the trial runs
    breaker.record_success()
    assert breaker.state == "closed" and breaker.allow()


def test_failed_trial_reopens_for_another_wait() -> None:
    clock = Clock()
    breaker = CircuitBreaker(failures=1, reset_seconds=5, clock=clock)
    breaker.record_failure()
    clock.now = 5.0
    assert breaker.allow()
    breaker.record_failure()
    assert breaker.state == "open" and breaker.opened == 2
    clock.now = 9.0
    assert not breaker.allow()
    clock.now = 10.0
    assert breaker.allow()


def test_success_resets_the_failure_count() -> None:
    breaker = CircuitBreaker(failures=2, reset_seconds=5, clock=Clock())
    breaker.record_failure()
    breaker.record_success()
    breaker.record_failure()
    assert breaker.state == "closed"
