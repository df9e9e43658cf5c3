"""Natural micro-batching: one thread scores together whatever requests are queued.

Single-applicant requests arrive one by one, but the feature steps and the model are
vectorised: scoring eight rows costs little more than scoring one. The worker takes the
first queued request, adds every request already waiting (up to ``max_items``; optionally
waiting ``max_wait_s`` for more), and runs them as one batch. At low load a request is
scored alone at once (no added latency); under load batches grow by themselves.

The function given to the batcher returns one outcome per item, a result or an exception,
so one bad request never fails the others.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from typing import Any, Generic, TypeVar

from greenscore.logging import get_logger

log = get_logger(__name__)

T = TypeVar("T")
R = TypeVar("R")
_STOP = object()


class MicroBatcher(Generic[T, R]):
    """Run ``fn`` over batches of queued items in one background thread.

    Parameters
    ----------
    fn : callable
        ``fn(items) -> outcomes``: one result or exception instance per item, same order.
    max_items : int
        Most items in one batch.
    max_wait_s : float
        How long to wait for more items after the first (0: take only what is queued).
    name : str
        Thread name.

    Attributes
    ----------
    batches, items : int
        Batches run and items scored (their ratio is the mean batch size).
    """

    def __init__(
        self,
        fn: Callable[[list[T]], Sequence[R | BaseException]],
        *,
        max_items: int = 64,
        max_wait_s: float = 0.0,
        name: str = "greenscore-batcher",
    ) -> None:
        self._fn = fn
        self.max_items = max(1, int(max_items))
        self.max_wait_s = max(0.0, float(max_wait_s))
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._name = name
        self._thread: threading.Thread | None = None
        self.batches = 0
        self.items = 0

    def start(self) -> None:
        """Start the worker thread (idempotent)."""
        if self._thread is None or not self._thread.is_alive():
            self._thread = threading.Thread(target=self._run, daemon=True, name=self._name)
            self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Finish the queued work and end the thread."""
        if self._thread is None:
            return
        self._queue.put(_STOP)
        self._thread.join(timeout)
        self._thread = None

    def submit(self, items: list[T]) -> Future[list[R]]:
        """Queue items scored together with others; the future gives their outcomes.

        The future's result is a list of results; if any item failed, the future raises
        that item's exception instead (submit one item per request for per-request errors).
        """
        future: Future[list[R]] = Future()
        self._queue.put((items, future))
        return future

    def _collect(self, first: tuple[list[T], Future]) -> tuple[list[tuple[list[T], Future]], bool]:
        jobs = [first]
        count = len(first[0])
        deadline = time.monotonic() + self.max_wait_s
        while count < self.max_items:
            try:
                if self.max_wait_s > 0:
                    left = deadline - time.monotonic()
                    if left <= 0:
                        break
                    job = self._queue.get(timeout=left)
                else:
                    job = self._queue.get_nowait()
            except queue.Empty:
                break
            if job is _STOP:
                return jobs, True
            jobs.append(job)
            count += len(job[0])
        return jobs, False

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is _STOP:
                return
            jobs, stop = self._collect(first)
            items = [item for batch, _ in jobs for item in batch]
            try:
                outcomes = list(self._fn(items))
            except BaseException as exc:  # noqa: BLE001 - every waiting caller must hear of it
                outcomes = [exc] * len(items)
            self.batches += 1
            self.items += len(items)
            start = 0
            for batch, future in jobs:
                mine = outcomes[start : start + len(batch)]
                start += len(batch)
                if not future.set_running_or_notify_cancel():
                    continue
                failed = next((o for o in mine if isinstance(o, BaseException)), None)
                if failed is not None:
                    future.set_exception(failed)
                else:
                    future.set_result(mine)
            if stop:
                return
