"""Token-bucket rate limits: in-process, and shared through the real Redis server."""

from __future__ import annotations

import asyncio
import os
import uuid

import pytest

from greenscore.config import ServingSettings
from greenscore.serving.ratelimit import (
    InProcessRateLimiter,
    RedisRateLimiter,
    make_rate_limiter,
)

REDIS_URL = "redis://127.0.0.1:6379/15"


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_bucket_allows_a_burst_then_refills_at_the_rate() -> None:
    clock = Clock()
    limiter = InProcessRateLimiter(per_minute=60, burst=3, clock=clock)
    assert [limiter.take("k").allowed for _ in range(4)] == [True, True, True, False]
    refused = limiter.take("k")
    assert not refused.allowed and 0.9 < refused.retry_after <= 1.0
    assert limiter.take("other").allowed  # buckets are per key
    clock.now += 1.0
    assert limiter.take("k").allowed and not limiter.take("k").allowed
    clock.now += 100.0
    assert sum(limiter.take("k").allowed for _ in range(10)) == 3  # never more than the burst


def test_a_batch_takes_a_token_per_applicant_all_or_none() -> None:
    clock = Clock()
    limiter = InProcessRateLimiter(per_minute=600, burst=100, clock=clock)  # 10 per second
    assert limiter.take("k", 60).allowed  # 40 left
    refused = limiter.take("k", 50)
    assert not refused.allowed and refused.remaining == 40  # nothing taken
    assert refused.retry_after == pytest.approx(1.0)  # 10 more tokens at 10/s
    assert limiter.take("k", 40).allowed and not limiter.take("k").allowed
    clock.now += 1.0
    assert limiter.take("k", 10).allowed


def test_settings_choose_the_backend() -> None:
    assert isinstance(make_rate_limiter(ServingSettings()), InProcessRateLimiter)
    limiter = make_rate_limiter(ServingSettings(redis_url=REDIS_URL))
    assert isinstance(limiter, RedisRateLimiter)
    asyncio.run(limiter.close())


def _redis_available() -> bool:
    import redis

    try:
        return bool(redis.Redis.from_url(REDIS_URL, socket_connect_timeout=0.5).ping())
    except redis.RedisError:
        return False


def test_redis_bucket_is_shared_and_atomic() -> None:
    if not _redis_available():
        if os.environ.get("GREENSCORE_REQUIRE_SERVICES") == "1":
            pytest.fail(f"Redis is required at {REDIS_URL}")
        pytest.skip(f"Redis not reachable at {REDIS_URL}")
    key = f"test-{uuid.uuid4().hex}"

    async def run() -> list[bool]:
        a = RedisRateLimiter(REDIS_URL, per_minute=6, burst=5, prefix="greenscore:test:")
        b = RedisRateLimiter(REDIS_URL, per_minute=6, burst=5, prefix="greenscore:test:")
        try:
            # Two "workers" hitting one bucket concurrently: exactly the burst gets through.
            results = await asyncio.gather(*[(a if i % 2 else b).hit(key) for i in range(12)])
            refused = [r for r in results if not r.allowed]
            assert refused and all(9.0 < r.retry_after <= 10.0 for r in refused)
            return [r.allowed for r in results]
        finally:
            await a.close()
            await b.close()

    allowed = asyncio.run(run())
    assert sum(allowed) == 5


def test_redis_bucket_counts_applicants() -> None:
    if not _redis_available():
        if os.environ.get("GREENSCORE_REQUIRE_SERVICES") == "1":
            pytest.fail(f"Redis is required at {REDIS_URL}")
        pytest.skip(f"Redis not reachable at {REDIS_URL}")
    key = f"test-{uuid.uuid4().hex}"

    async def run() -> list:
        limiter = RedisRateLimiter(REDIS_URL, per_minute=60, burst=100, prefix="greenscore:test:")
        try:
            return [await limiter.hit(key, cost) for cost in (70, 40, 30)]
        finally:
            await limiter.close()

    first, second, third = asyncio.run(run())
    assert first.allowed and not second.allowed and third.allowed
    assert 9.0 < second.retry_after <= 11.0  # 10 more tokens at 1 per second
