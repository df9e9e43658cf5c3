"""Writes scored requests to the prediction store in the background, many per transaction.

The hash-chained audit event is the record of a decision and is written before the
caller gets an answer. The prediction-store row (what contests, subject-access requests
and erasure look up) follows from this thread, which commits whatever has queued up
in one transaction: under load that is many rows per commit instead of one disk wait per
request. Readers that need the newest rows (a contest right after its decision, a
shutdown) call :meth:`PredictionRecorder.flush` first.
"""

from __future__ import annotations

import queue
import threading
from typing import Any

from greenscore.logging import get_logger

log = get_logger(__name__)

_STOP = object()
#: Most rows committed in one transaction.
MAX_ROWS = 500


class PredictionRecorder:
    """Background writer for :func:`greenscore.store.predictions.record_predictions`.

    Attributes
    ----------
    written, failed : int
        Rows committed, and rows whose transaction failed (logged with request ids).
    """

    def __init__(self) -> None:
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._pending = 0
        self._cond = threading.Condition()
        self._thread: threading.Thread | None = None
        self.written = 0
        self.failed = 0

    def start(self) -> None:
        """Start the writer thread (idempotent)."""
        if self._thread is None or not self._thread.is_alive():
            self._thread = threading.Thread(
                target=self._run, daemon=True, name="greenscore-recorder"
            )
            self._thread.start()

    def add(self, row: dict[str, Any]) -> None:
        """Queue one prediction (keys as ``record_prediction``'s arguments)."""
        with self._cond:
            self._pending += 1
        self._queue.put(row)

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until every queued row is committed (or failed); False on timeout."""
        with self._cond:
            return self._cond.wait_for(lambda: self._pending == 0, timeout=timeout)

    def stop(self, timeout: float = 10.0) -> None:
        """Commit what is queued and end the thread."""
        if self._thread is None:
            return
        self._queue.put(_STOP)
        self._thread.join(timeout)
        self._thread = None

    def _run(self) -> None:
        from greenscore.store.predictions import record_predictions

        while True:
            first = self._queue.get()
            stop = first is _STOP
            rows = [] if stop else [first]
            while len(rows) < MAX_ROWS:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is _STOP:
                    stop = True
                    break
                rows.append(item)
            if rows:
                try:
                    record_predictions(rows)
                    self.written += len(rows)
                except Exception as exc:  # noqa: BLE001 - the audit log still holds them
                    self.failed += len(rows)
                    log.error(
                        "prediction rows not stored",
                        extra={
                            "request_ids": [r.get("request_id") for r in rows][:20],
                            "error": repr(exc),
                        },
                    )
                with self._cond:
                    self._pending -= len(rows)
                    self._cond.notify_all()
            if stop:
                return
