"""The batch-job worker: a thread that claims jobs in the database and scores them chunk by chunk.

The worker claims a job (a lease: worker id and heartbeat) and scores one sealed input
chunk at a time through the scoring service, each decision audited like a real-time one.
A chunk is done exactly once: its decisions' audit events and prediction rows, its sealed
result rows and the job's progress commit in one transaction (the scoring service's
``also`` hook), so a job interrupted by a stop or a crash (SIGKILL included) resumes at
the first chunk not committed, and no decision is ever audited that no result row names.
That transaction is fenced: it commits only while this worker still holds the job and
the job's progress is where the chunk began, so a worker whose lease was taken over
meanwhile stores nothing of its chunk (:class:`~greenscore.serving.recorder.Withdrawn`).
A chunk with no decision to write (every row refused or erased, or the decisions'
transaction failed and became dead letters) saves its results in a fenced transaction of
its own. On a clean stop the job goes back to the queue at once; after a crash it is
taken over when its worker's heartbeat is older than ``serving.job_lease_seconds``.
Every input row has a result row — a decision, an error naming the field, or ``erased``
for an applicant erased meanwhile — so no row is dropped.

Fair share: after each chunk, if another caller has a job waiting, the running job goes
back to the queue (keeping its progress) and the longest-waiting job is claimed next, so
one caller's long jobs take turns with everyone else's instead of holding the worker.

When a job ends with a callback URL, the worker only queues the delivery
(:func:`greenscore.serving.callbacks.schedule`); a :class:`CallbackSender` thread of its
own delivers it, so a failing or slow receiver never delays scoring.
"""

from __future__ import annotations

import os
import threading
import uuid
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from sqlalchemy import Connection, exists, or_, select, update

from greenscore.config import Settings, require_secrets
from greenscore.errors import NotFoundError
from greenscore.logging import get_logger
from greenscore.privacy import sealed
from greenscore.security.pseudonym import subject_hashes
from greenscore.serving import callbacks
from greenscore.serving.jobs import (
    DONE,
    FAILED,
    QUEUED,
    RUNNING,
    SEALED_KIND,
    TABLE,
    Validator,
    chunk_size,
    now,
    part_ref,
    row,
)
from greenscore.serving.named_subjects import without_erased_links
from greenscore.serving.recorder import Withdrawn
from greenscore.store import database

log = get_logger(__name__)

INPUT_GONE = "the job's input is gone (purged by retention, or stored by an older release)"
TAKEN_OVER = "job '{id}' chunk {k} not saved: another worker holds the job now"


class JobWorker:
    """The thread that runs queued jobs, with its callback sender beside it.

    Parameters
    ----------
    settings : Settings
    decide : callable
        ``decide(payloads, actor=..., route=..., also=...) -> outcomes`` (the scoring
        service's ``decide_payloads``): ``also(answers)`` returns what to write in the
        decisions' transaction, and may raise ``Withdrawn`` there.
    validate : callable
        Applicant dict -> validated dict; raises ``pydantic.ValidationError``.
    post : callable, optional
        ``post(url, json_body) -> status code`` for callbacks (tests); default a checked,
        address-pinned POST (:func:`greenscore.serving.outbound.post_json`).

    Attributes
    ----------
    callbacks : CallbackSender
        Started and stopped with the worker.

    Raises
    ------
    ConfigError
        Outside local and test use, when a required secret is not set (naming each).
    """

    def __init__(
        self,
        settings: Settings,
        *,
        decide: Callable[..., list[Any]],
        validate: Validator,
        post: callbacks.Poster | None = None,
    ) -> None:
        require_secrets(settings)  # a worker never generates one outside local and test use
        self.settings = settings
        self.db = database(settings)
        self._decide = decide
        self._validate = validate
        self.callbacks = callbacks.CallbackSender(settings, post=post)
        self.worker_id = f"{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None

    # -------------------------------------------------------------- lifecycle
    def start(self) -> None:
        """Start the worker thread and the callback sender."""
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, daemon=True, name="greenscore-jobs")
        self._thread.start()
        self.callbacks.start()

    def stop(self, timeout: float = 30.0) -> None:
        """Stop after the current chunk; an unfinished job goes back to the queue."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
        self.callbacks.stop(timeout)

    def wake(self) -> None:
        """Look for work now (a job was just created)."""
        self._wake.set()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                worked = self.run_once()
            except Exception as exc:  # noqa: BLE001 - the worker must outlive one bad job
                log.error("job worker error", extra={"error": repr(exc)})
                worked = False
            if not worked:
                self._wake.wait(self.settings.serving.job_poll_seconds)
                self._wake.clear()

    # -------------------------------------------------------------- claiming
    def _claimable(self) -> Any:
        lease = timedelta(seconds=self.settings.serving.job_lease_seconds)
        stale = or_(TABLE.c.heartbeat_at.is_(None), TABLE.c.heartbeat_at < now() - lease)
        return (TABLE.c.status == QUEUED) | ((TABLE.c.status == RUNNING) & stale)

    def _claim(self) -> Any:
        condition = self._claimable()
        with self.db.connect() as conn:
            # Longest-waiting first: a job put back for fair share waits behind the others.
            candidate = conn.execute(
                select(TABLE.c.id).where(condition).order_by(TABLE.c.updated_at).limit(1)
            ).first()
        if candidate is None:
            return None
        with self.db.begin() as conn:
            # The same condition again: two workers racing for one job, only one wins.
            claimed = conn.execute(
                update(TABLE)
                .where(TABLE.c.id == candidate.id, condition)
                .values(status=RUNNING, worker=self.worker_id, heartbeat_at=now(), updated_at=now())
            ).rowcount
        return row(candidate.id, db=self.db) if claimed == 1 else None

    def run_once(self) -> bool:
        """Run one claimable job (until it ends or yields its turn); False if there was none."""
        job = self._claim()
        if job is None:
            return False
        self._process(job)
        return True

    def _others_waiting(self, actor: str) -> bool:
        with self.db.connect() as conn:
            return bool(
                conn.execute(
                    select(exists().where(TABLE.c.status == QUEUED, TABLE.c.actor != actor))
                ).scalar()
            )

    # -------------------------------------------------------------- scoring
    def _process(self, job: Any) -> None:
        size = chunk_size(job, self.settings)
        chunks = -(-job.total // size)
        errors = job.errors if job.done else 0
        for k in range(job.done // size, chunks):
            if self._stop.is_set() or (k > job.done // size and self._others_waiting(job.actor)):
                self._update(job.id, status=QUEUED, worker=None, heartbeat_at=None)
                return
            try:
                rows = sealed.unseal(SEALED_KIND, part_ref(job.id, "in", k), db=self.db)
            except NotFoundError:
                self._finish(job, FAILED, error=INPUT_GONE)
                return
            try:
                errors = self._run_chunk(job, k, size, rows, errors)
            except Withdrawn as exc:
                log.warning("job chunk withdrawn", extra={"job": job.id, "error": str(exc)})
                return
        self._finish(job, DONE)

    def _run_chunk(self, job: Any, k: int, size: int, rows: list[Any], errors: int) -> int:
        """Decide, audit and save chunk ``k`` exactly once; the job's error count after it.

        Raises
        ------
        Withdrawn
            If another worker holds the job now (nothing of the chunk is stored).
        """
        start = k * size
        results, valid, where, notes = self._validated(rows, start)
        hashes = (
            subject_hashes(
                [r.get(job.id_column) if isinstance(r, dict) else None for r in rows],
                settings=self.settings,
            )
            if job.id_column
            else None
        )
        bad: list[int] = []

        def save(answers: list[Any]) -> Callable[[Connection], None]:
            # Called before the decisions' transaction (encrypting here, not under its lock);
            # the function returned runs inside it.
            filled = _filled(results, where, answers, start, notes)
            bad.append(_errors(filled))
            return self._saver(job, k, size, filled, hashes, errors + bad[-1])

        route = f"/v1/jobs/{job.id}"
        answers = self._decide(valid, actor=job.actor, route=route, also=save) if valid else []
        current = row(job.id, db=self.db)
        if current.worker != self.worker_id:
            raise Withdrawn(TAKEN_OVER.format(id=job.id, k=k))
        if current.done > start:  # committed with the chunk's decisions
            return errors + bad[-1]
        # No decision was written (none to write, or their transaction failed and they
        # became dead letters): the results and progress are saved on their own.
        filled = _filled(results, where, answers, start, notes)
        with self.db.begin() as conn:
            self._saver(job, k, size, filled, hashes, errors + _errors(filled))(conn)
        return errors + _errors(filled)

    def _saver(
        self,
        job: Any,
        k: int,
        size: int,
        results: list[Any],
        hashes: list[str | None] | None,
        errors: int,
    ) -> Callable[[Connection], None]:
        """Chunk ``k``'s results sealed now, and the writer that stores them and the job's
        progress in a caller's transaction, fenced on this worker's lease and the chunk's
        start (a chunk is never saved twice, nor by a worker that lost the job)."""
        unit = sealed.Unit(ref=part_ref(job.id, "out", k), rows=results, subject_hashes=hashes)
        prepared = sealed.prepare(SEALED_KIND, [unit])
        start, stamp = k * size, now()

        def write(conn: Connection) -> None:
            moved = conn.execute(
                update(TABLE)
                .where(
                    TABLE.c.id == job.id,
                    TABLE.c.worker == self.worker_id,
                    TABLE.c.status == RUNNING,
                    TABLE.c.done == start,
                )
                .values(
                    done=min(job.total, start + size),
                    errors=errors,
                    heartbeat_at=stamp,
                    updated_at=stamp,
                )
            ).rowcount
            if moved != 1:
                raise Withdrawn(TAKEN_OVER.format(id=job.id, k=k))
            sealed.write(conn, prepared)

        return write

    def _validated(
        self, chunk: list[Any], start: int
    ) -> tuple[
        list[dict[str, Any] | None], list[dict[str, Any]], list[int], dict[int, dict[str, Any]]
    ]:
        """The chunk's result rows known before deciding (erased, refused by validation),
        the valid records to decide, where each one's result goes, and what to add to a
        result (``links_erased``: the record's links to borrowers erased since it came,
        scored without them)."""
        results: list[dict[str, Any] | None] = [None] * len(chunk)
        valid: list[dict[str, Any]] = []
        where: list[int] = []
        notes: dict[int, dict[str, Any]] = {}
        for i, record in enumerate(chunk):
            if record == sealed.ERASED:
                results[i] = {"row": start + i, **sealed.ERASED}
                continue
            record, erased = without_erased_links(record)
            if erased:
                notes[i] = {"links_erased": erased}
            try:
                valid.append(self._validate(record))
                where.append(i)
            except Exception as exc:  # noqa: BLE001 - pydantic names the field; kept per row
                results[i] = {"row": start + i, "error": _validation_message(exc)}
        return results, valid, where, notes

    def _update(self, job_id: str, **values: Any) -> bool:
        """Set ``values`` on the job if this worker still holds it (a worker whose lease
        lapsed must not put back or end a job another worker has taken over); whether it
        did."""
        with self.db.begin() as conn:
            return (
                conn.execute(
                    update(TABLE)
                    .where(TABLE.c.id == job_id, TABLE.c.worker == self.worker_id)
                    .values(updated_at=now(), **values)
                ).rowcount
                == 1
            )

    def _finish(self, job: Any, status: str, error: str | None = None) -> None:
        values: dict[str, Any] = {
            "status": status,
            "error": error,
            "worker": None,
            "heartbeat_at": None,
        }
        if job.callback_url:
            values.update(callback_status=callbacks.PENDING, callback_next_at=now())
        if not self._update(job.id, **values):
            log.warning("job taken over before it ended", extra={"job": job.id})
            return
        if job.callback_url:
            self.callbacks.wake()


def _filled(
    known: list[dict[str, Any] | None],
    where: list[int],
    answers: list[Any],
    start: int,
    notes: dict[int, dict[str, Any]],
) -> list[dict[str, Any] | None]:
    """The chunk's result rows: the known ones, and each decided record's answer (with
    its notes)."""
    results = list(known)
    for i, outcome in zip(where, answers, strict=True):
        if isinstance(outcome, BaseException):
            answer = {"error": {"error": type(outcome).__name__, "detail": str(outcome)}}
        else:
            answer = outcome.to_dict()
        results[i] = {"row": start + i, **answer, **notes.get(i, {})}
    return results


def _errors(results: list[dict[str, Any] | None]) -> int:
    return sum(1 for r in results if r is not None and "error" in r)


def _validation_message(exc: Exception) -> dict[str, Any]:
    errors = getattr(exc, "errors", None)
    if callable(errors):
        first = errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ())) or "record"
        return {"error": "ValidationError", "detail": f"field '{where}': {first.get('msg')}"}
    return {"error": type(exc).__name__, "detail": str(exc)}
