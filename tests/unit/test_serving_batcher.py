"""Natural micro-batching on the event loop: concurrent requests meet in one batch."""

from __future__ import annotations

import asyncio

import pytest

from greenscore.serving.batcher import LoopBatcher


def test_requests_queued_together_are_scored_together() -> None:
    batches: list[list[int]] = []
    after: list[int] = []

    def score(items: list[int]) -> list[object]:
        batches.append(list(items))
        return [ValueError(f"bad {i}") if i == 3 else i * 10 for i in items]

    async def run() -> list[object]:
        batcher = LoopBatcher(
            score, after=lambda outcomes: after.append(len(outcomes)), max_items=4
        )
        futures = [batcher.submit(i) for i in range(6)]
        results = await asyncio.gather(*futures, return_exceptions=True)
        await asyncio.sleep(0)
        assert batcher.batches == 2 and batcher.items == 6
        return results

    results = asyncio.run(run())
    assert batches == [[0, 1, 2, 3], [4, 5]]
    assert results[:3] == [0, 10, 20] and results[4:] == [40, 50]
    assert isinstance(results[3], ValueError)  # one bad item fails only itself
    assert after == [4, 2]


def test_a_failing_batch_fails_every_waiting_request() -> None:
    def broken(items: list[int]) -> list[int]:
        raise RuntimeError("model crashed")

    async def run() -> None:
        batcher = LoopBatcher(broken)
        with pytest.raises(RuntimeError, match="model crashed"):
            await batcher.submit(1)

    asyncio.run(run())


def test_a_lone_request_is_scored_at_once() -> None:
    async def run() -> int:
        batcher = LoopBatcher(lambda items: [i + 1 for i in items])
        return await asyncio.wait_for(batcher.submit(41), timeout=1)

    assert asyncio.run(run()) == 42
