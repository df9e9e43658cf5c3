"""Writes decisions durably: a micro-batch's audit events and prediction rows in one transaction.

The keyed audit chain is the record of a decision, and a caller must never see a
decision the regulator's log missed. So a decision is answered only after its audit
event is committed, and its prediction-store row (what contests, subject-access requests
and erasure look up) commits in the same transaction (:func:`record_decisions`): both or
neither.

Real-time requests do this off the event loop (:class:`WriteBehind`): one writer thread
takes the decided micro-batches in the order the loop queued them and writes every batch
waiting at that moment in one transaction (a group commit: the busier the service, the
more decisions share a commit), then hands each batch back to the loop, which answers its
callers. Meanwhile the loop goes on reading, validating and scoring the next requests.
Batches and jobs write from their own threads with :func:`record_decisions` directly; a
job writes its chunk's results and progress in the same transaction (``also``), so a
chunk is decided, audited and saved exactly once, or not at all.
"""

from __future__ import annotations

import asyncio
import queue
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from sqlalchemy import Connection

from greenscore.config import Settings
from greenscore.logging import get_logger
from greenscore.privacy.lineage import insert_scored
from greenscore.security.audit import AuditEvent, record_events
from greenscore.store.predictions import insert_predictions

log = get_logger(__name__)

T = TypeVar("T")


def prediction_row(
    *,
    request_id: str,
    subject_hash: str | None,
    model_name: str,
    model_version: str,
    input_hash: str,
    decision: str,
    probability: float,
    payload: dict[str, Any] | None = None,
    tenant: str | None = None,
) -> dict[str, Any]:
    """One prediction-store row (``tenant``: who owns the decision; the subject hashed once)."""
    return {
        "request_id": request_id,
        "subject_hash": subject_hash,
        "model_name": model_name,
        "model_version": str(model_version),
        "input_hash": input_hash,
        "decision": decision,
        "probability": float(probability),
        "payload": payload,
        "tenant": tenant,
    }


class Withdrawn(Exception):  # noqa: N818 - a decision withdrawn, not a failure to report
    """Raised by an ``also`` writer to roll its batch back with nothing kept.

    The batch's decisions are neither stored nor turned into dead letters: whoever asked
    for them no longer wants them (a job whose lease another worker took over), and the
    error reaches that caller as it is.
    """


def record_decisions(
    events: Sequence[AuditEvent],
    rows: Sequence[dict[str, Any]],
    *,
    settings: Settings,
    also: Callable[[Connection], object] | None = None,
) -> list[int]:
    """Append the audit events and insert the prediction rows and their subjects' ``scored``
    lineage in one transaction (in the settings' database).

    ``also(conn)``, when given, runs last in that transaction: what it writes (a job
    chunk's results and progress) commits with the decisions, or nothing does. It may
    raise :class:`Withdrawn` to roll the batch back.

    Returns
    -------
    list of int
        The events' ids in the audit chain.

    Raises
    ------
    Exception
        Whatever the database raises; nothing of the batch is stored then.
    """
    if not events and not rows:
        return []

    def with_events(conn: Connection) -> None:
        insert_predictions(conn, rows)
        insert_scored(conn, rows)  # lineage: which model scored which subject
        if also is not None:
            also(conn)

    return record_events(list(events), also=with_events, settings=settings)


@dataclass
class _Job(Generic[T]):
    items: list[T]
    loop: asyncio.AbstractEventLoop
    done: Callable[[list[Any]], None]


class WriteBehind(Generic[T]):
    """A writer thread for an event loop: ``write`` runs there, callbacks run on the loop.

    Parameters
    ----------
    write : callable
        ``write(items) -> results``: one result per item, same order, all in one
        transaction; raises if the transaction fails.
    failed : callable
        ``failed(items, error) -> results``: what the items of a failed write become
        (called on the writer thread; it may store them elsewhere, a dead-letter table).
    name : str
        The thread's name.

    Attributes
    ----------
    commits : int
        Successful calls of ``write`` (transactions); ``items / commits`` is the mean
        number of decisions per commit.
    items : int
    """

    def __init__(
        self,
        write: Callable[[list[T]], Sequence[Any]],
        *,
        failed: Callable[[list[T], Exception], Sequence[Any]],
        name: str,
    ) -> None:
        self._write = write
        self._failed = failed
        self._name = name
        self._queue: queue.SimpleQueue[_Job[T] | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()
        self.commits = 0
        self.items = 0

    def submit(
        self,
        items: list[T],
        loop: asyncio.AbstractEventLoop,
        done: Callable[[list[Any]], None],
    ) -> None:
        """Queue items; ``done(results)`` is called on ``loop`` once they are written."""
        if self._thread is None:
            self._start()
        self._queue.put(_Job(items, loop, done))

    def _start(self) -> None:
        with self._start_lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
                self._thread.start()

    def close(self, timeout: float = 10.0) -> None:
        """Write what is queued, then stop the thread."""
        thread = self._thread
        if thread is not None:
            self._queue.put(None)
            thread.join(timeout)
            self._thread = None

    def _run(self) -> None:
        while True:
            job = self._queue.get()
            if job is None:
                return
            jobs = [job]
            stop = False
            while True:  # everything queued meanwhile joins this transaction
                try:
                    more = self._queue.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    stop = True
                    break
                jobs.append(more)
            self._commit(jobs)
            if stop:
                return

    def _commit(self, jobs: list[_Job[T]]) -> None:
        items = [item for job in jobs for item in job.items]
        try:
            results = list(self._write(items))
            self.commits += 1
            self.items += len(items)
        except Exception as exc:  # noqa: BLE001 - the callers hear of it through `failed`
            if len(jobs) > 1:
                # One bad batch must not fail the others it was grouped with: write apart.
                for job in jobs:
                    self._commit([job])
                return
            log.error("decisions not written", extra={"error": repr(exc), "n": len(items)})
            results = list(self._failed(items, exc))
        start = 0
        for job in jobs:
            part = results[start : start + len(job.items)]
            start += len(job.items)
            try:
                job.loop.call_soon_threadsafe(job.done, part)
            except RuntimeError:  # the loop closed (shutdown): nobody is waiting any more
                log.warning("decisions written after their loop closed", extra={"n": len(part)})
