"""Natural micro-batching on the event loop: requests queued in one loop turn are decided together.

Single-applicant requests arrive one by one, but the feature steps and the model are
vectorised: scoring eight rows costs little more than scoring one. A request adds its
applicant to the pending list and, if no run is scheduled, schedules one with
``loop.call_soon``. While a batch is being scored the loop cannot read sockets, so the
requests that arrive meanwhile are all parsed in the next turn and meet in the next batch:
batches grow with load by themselves, and a lone request is scored at once.

Scoring runs on the loop thread itself: the work is CPU-bound under the GIL either way,
and a thread hand-off costs a wake-up and a GIL switch in each direction. Writing does
not: a batch's outcomes then go to a :class:`~greenscore.serving.recorder.WriteBehind`
writer thread (the audit events must be committed before anyone is answered), and the
loop goes on with the next requests while the database works. Each request's future is
resolved when its batch comes back written.

``fn`` returns one outcome per item, a result or an exception instance, so one bad
request never fails the others.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import Any, Generic, TypeVar

from greenscore.logging import get_logger
from greenscore.serving.recorder import WriteBehind

log = get_logger(__name__)

T = TypeVar("T")
R = TypeVar("R")


class LoopBatcher(Generic[T, R]):
    """Batch items submitted from coroutines of one event loop.

    Parameters
    ----------
    fn : callable
        ``fn(items) -> outcomes``: one result or exception instance per item, same order.
    writer : WriteBehind, optional
        Where a batch's outcomes (results and exceptions alike) go to be written before
        the callers hear of them; its results are what the futures get.
    max_items : int
        Most items in one batch (the rest wait for the next turn).

    Attributes
    ----------
    batches, items : int
        Batches run and items scored (their ratio is the mean batch size).
    """

    def __init__(
        self,
        fn: Callable[[list[T]], Sequence[R | BaseException]],
        *,
        writer: WriteBehind[Any] | None = None,
        max_items: int = 64,
    ) -> None:
        self._fn = fn
        self._writer = writer
        self.max_items = max(1, int(max_items))
        self._pending: list[tuple[T, asyncio.Future]] = []
        self._scheduled = False
        self.batches = 0
        self.items = 0

    def submit(self, item: T) -> asyncio.Future:
        """Queue one item; await the future for its outcome (raises the item's exception).

        Must be called from a coroutine running on the loop that will score it.
        """
        loop = asyncio.get_running_loop()
        future: asyncio.Future = loop.create_future()
        self._pending.append((item, future))
        if not self._scheduled:
            self._scheduled = True
            loop.call_soon(self._run, loop)
        return future

    def _run(self, loop: asyncio.AbstractEventLoop) -> None:
        jobs = self._pending[: self.max_items]
        del self._pending[: self.max_items]
        self._scheduled = bool(self._pending)
        if self._scheduled:
            loop.call_soon(self._run, loop)
        live = [(item, future) for item, future in jobs if not future.cancelled()]
        if not live:
            return
        items = [item for item, _ in live]
        try:
            outcomes = list(self._fn(items))
        except Exception as exc:  # noqa: BLE001 - every waiting caller must hear of it
            log.error("batch failed", extra={"error": repr(exc)})
            outcomes = [exc] * len(items)
        self.batches += 1
        self.items += len(items)
        futures = [future for _, future in live]
        if self._writer is None:
            _resolve(futures, outcomes)
        else:
            self._writer.submit(outcomes, loop, lambda results: _resolve(futures, results))


def _resolve(futures: list[asyncio.Future], outcomes: Sequence[Any]) -> None:
    for future, outcome in zip(futures, outcomes, strict=True):
        if future.cancelled():
            continue
        if isinstance(outcome, BaseException):
            future.set_exception(outcome)
        else:
            future.set_result(outcome)
