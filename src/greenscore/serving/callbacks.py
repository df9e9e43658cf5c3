"""Job callbacks: their own thread and persisted retry schedule, apart from scoring.

When a job with a callback URL ends, the job worker marks its callback ``pending`` and
due now (``callback_next_at``) and wakes a :class:`CallbackSender`. The sender claims a
due callback (a lease on the job row, so two processes never send one callback twice),
makes **one** attempt, and either marks it delivered or schedules the next attempt
``serving.callback_backoff_seconds * 2**(attempt-1)`` later; after
``serving.callback_attempts`` failures it is failed. No thread sleeps through a backoff,
so a receiver that fails or hangs delays only its own retries, never a job's scoring,
and the schedule, being in the database, survives a restart.

Each attempt goes through :func:`greenscore.serving.outbound.post_json`, which checks the
URL again after DNS resolution and connects to the checked address. What went wrong
(connection refused, a timeout, an HTTP status, a refused address) is logged on the
server only: the job status says just that delivery failed, so a callback cannot be used
to probe which hosts and ports answer inside the server's network.
"""

from __future__ import annotations

import os
import threading
import uuid
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from sqlalchemy import or_, select, update

from greenscore.config import Settings
from greenscore.logging import get_logger
from greenscore.serving import outbound
from greenscore.serving.jobs import DONE, FAILED, TABLE, now, row, summary
from greenscore.store import database

log = get_logger(__name__)

PENDING, DELIVERED = "pending", "delivered"
RETRYING = "callback attempt {n} failed; retrying"
GAVE_UP = "callback delivery failed after {n} attempts"

Poster = Callable[[str, dict[str, Any]], int]


class CallbackSender:
    """The thread that delivers due callbacks, one attempt per claim.

    Parameters
    ----------
    settings : Settings
    post : callable, optional
        ``post(url, body) -> status code``; default :func:`outbound.post_json` with the
        settings' allow-list and timeout. Raising counts as a failed attempt.
    """

    def __init__(self, settings: Settings, *, post: Poster | None = None) -> None:
        self.settings = settings
        self.db = database(settings)
        self._allow = outbound.AllowList(settings.serving.callback_allow_hosts)
        self._post = post or self._http_post
        self.worker_id = f"{os.getpid()}-cb-{uuid.uuid4().hex[:8]}"
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None

    # -------------------------------------------------------------- lifecycle
    def start(self) -> None:
        """Start the delivery thread."""
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, daemon=True, name="greenscore-callbacks")
        self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        """Stop after the attempt in flight (its outcome is recorded)."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def wake(self) -> None:
        """Look for due callbacks now (a job just ended)."""
        self._wake.set()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                worked = self.run_once()
            except Exception as exc:  # noqa: BLE001 - the sender must outlive one bad row
                log.error("callback sender error", extra={"error": repr(exc)})
                worked = False
            if not worked:
                self._wake.wait(self.settings.serving.job_poll_seconds)
                self._wake.clear()

    # -------------------------------------------------------------- delivering
    def _due(self) -> Any:
        lease = timedelta(seconds=self.settings.serving.job_lease_seconds)
        stamp = now()
        return (
            TABLE.c.status.in_((DONE, FAILED))
            & (TABLE.c.callback_status == PENDING)
            # None: queued by a release before the schedule existed; due at once.
            & or_(TABLE.c.callback_next_at.is_(None), TABLE.c.callback_next_at <= stamp)
            & or_(TABLE.c.worker.is_(None), TABLE.c.heartbeat_at < stamp - lease)
        )

    def _claim(self) -> Any:
        due = self._due()
        with self.db.connect() as conn:
            candidate = conn.execute(
                select(TABLE.c.id).where(due).order_by(TABLE.c.callback_next_at).limit(1)
            ).first()
        if candidate is None:
            return None
        with self.db.begin() as conn:
            # The same condition again: of two senders racing for one callback, one wins.
            won = conn.execute(
                update(TABLE)
                .where(TABLE.c.id == candidate.id, due)
                .values(worker=self.worker_id, heartbeat_at=now())
            ).rowcount
        return row(candidate.id, db=self.db) if won == 1 else None

    def run_once(self) -> bool:
        """Make one attempt at one due callback; False when none was due."""
        job = self._claim()
        if job is None:
            return False
        s = self.settings.serving
        attempt = job.callback_attempts + 1
        try:
            code = self._post(job.callback_url, summary(job))
            error = None if 200 <= code < 300 else f"HTTP {code}"
        except Exception as exc:  # noqa: BLE001 - a transport failure or refusal is one failed try
            error = f"{type(exc).__name__}: {exc}"
        values: dict[str, Any] = {
            "callback_attempts": attempt,
            "worker": None,
            "heartbeat_at": None,
        }
        if error is None:
            values.update(callback_status=DELIVERED, callback_error=None, callback_next_at=None)
        else:
            log.warning(
                "job callback failed",
                extra={"job": job.id, "attempt": attempt, "error": error[:500]},
            )
            if attempt >= s.callback_attempts:
                values.update(
                    callback_status=FAILED,
                    callback_error=GAVE_UP.format(n=attempt),
                    callback_next_at=None,
                )
            else:
                delay = s.callback_backoff_seconds * 2 ** (attempt - 1)
                values.update(
                    callback_error=RETRYING.format(n=attempt),
                    callback_next_at=now() + timedelta(seconds=delay),
                )
        with self.db.begin() as conn:
            conn.execute(update(TABLE).where(TABLE.c.id == job.id).values(**values))
        return True

    def _http_post(self, url: str, body: dict[str, Any]) -> int:
        return outbound.post_json(
            url, body, allow=self._allow, timeout=self.settings.serving.callback_timeout_seconds
        )
