"""Natural micro-batching on the event loop, and the writer thread callers wait for."""

from __future__ import annotations

import asyncio
import threading

import pytest

from greenscore.serving.batcher import LoopBatcher
from greenscore.serving.recorder import WriteBehind


def test_requests_queued_together_are_scored_together() -> None:
    batches: list[list[int]] = []

    def score(items: list[int]) -> list[object]:
        batches.append(list(items))
        return [ValueError(f"bad {i}") if i == 3 else i * 10 for i in items]

    async def run() -> list[object]:
        batcher = LoopBatcher(score, max_items=4)
        futures = [batcher.submit(i) for i in range(6)]
        results = await asyncio.gather(*futures, return_exceptions=True)
        assert batcher.batches == 2 and batcher.items == 6
        return results

    results = asyncio.run(run())
    assert batches == [[0, 1, 2, 3], [4, 5]]
    assert results[:3] == [0, 10, 20] and results[4:] == [40, 50]
    assert isinstance(results[3], ValueError)  # one bad item fails only itself


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


def test_callers_hear_only_after_their_batch_is_written_off_the_loop() -> None:
    written: list[list[object]] = []
    threads: set[str] = set()
    release = threading.Event()

    def write(items: list[object]) -> list[object]:
        threads.add(threading.current_thread().name)
        release.wait(5)
        written.append(list(items))
        return [f"written {i}" if not isinstance(i, BaseException) else i for i in items]

    writer = WriteBehind(write, failed=lambda items, exc: [exc] * len(items), name="test-writer")

    async def run() -> list[object]:
        batcher = LoopBatcher(lambda items: list(items), writer=writer, max_items=2)
        futures = [batcher.submit(i) for i in range(3)]
        await asyncio.sleep(0.05)
        # Scored, not yet written: nobody has an answer, and the loop is free meanwhile.
        assert not any(f.done() for f in futures)
        release.set()
        return await asyncio.wait_for(asyncio.gather(*futures), timeout=5)

    try:
        assert asyncio.run(run()) == ["written 0", "written 1", "written 2"]
    finally:
        writer.close()
    assert threads == {"test-writer"}
    assert sorted(x for batch in written for x in batch) == [0, 1, 2]
    # Batches queued while a write ran share the next transaction (a group commit).
    assert writer.commits <= 2 and writer.items == 3


def test_a_failed_write_answers_every_caller_with_what_failed_makes_of_it() -> None:
    kept: list[object] = []

    def write(items: list[int]) -> list[int]:
        raise OSError("disk full")

    def failed(items: list[int], exc: Exception) -> list[BaseException]:
        kept.extend(items)
        return [RuntimeError(f"kept {i}: {exc}") for i in items]

    writer = WriteBehind(write, failed=failed, name="test-writer-fails")

    async def run() -> list[object]:
        batcher = LoopBatcher(lambda items: list(items), writer=writer)
        futures = [batcher.submit(i) for i in range(2)]
        return await asyncio.wait_for(asyncio.gather(*futures, return_exceptions=True), timeout=5)

    try:
        results = asyncio.run(run())
    finally:
        writer.close()
    assert [str(r) for r in results] == ["kept 0: disk full", "kept 1: disk full"]
    assert kept == [0, 1] and writer.commits == 0
