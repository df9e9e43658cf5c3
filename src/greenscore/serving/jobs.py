"""Asynchronous batch jobs: stored in the database, run by a worker thread, survive restarts.

A job scores records sent with it (saved to ``HOME/jobs/<id>/input.jsonl``) or a stored
file under ``serving.job_input_dir``. The worker claims a job in the database, scores it
``serving.job_chunk_rows`` rows at a time through the scoring service (each decision
audited like a real-time one) and writes each chunk's results to its own file before it
records the progress, so a job interrupted by a stop or a crash resumes at the first
chunk not yet saved: on a clean stop the job goes back to the queue at once, after a crash
it is taken over when its worker's heartbeat is older than ``serving.job_lease_seconds``.
Every input row has a result row, an error naming the field when it could not be scored;
no row is dropped.

When a job ends, its callback URL (if any) is POSTed a summary, retried with exponential
backoff up to ``serving.callback_attempts`` times; each attempt and the last error are
recorded, and a pending callback is also resumed after a restart.
"""

from __future__ import annotations

import json
import math
import os
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import DateTime, Integer, String, Text, or_, select, update
from sqlalchemy.orm import Mapped, mapped_column

from greenscore.config import Settings
from greenscore.errors import DataError, NotFoundError
from greenscore.logging import get_logger
from greenscore.serving._db import engine, writing
from greenscore.serving.errors import ConflictError
from greenscore.store import Base

log = get_logger(__name__)

QUEUED, RUNNING, DONE, FAILED = "queued", "running", "done", "failed"
NO_JOB = "no job with id '{id}'"
NOT_YOURS = "job '{id}' belongs to another caller"
NOT_FINISHED = "job '{id}' is {status}: results are ready when it is done"
BAD_FILE = "job file '{name}' must be a file inside the job input folder {folder}"
_PART = "part-{k:05d}.jsonl"

Validator = Callable[[Mapping[str, Any]], dict[str, Any]]


class Job(Base):
    """One batch job."""

    __tablename__ = "serving_jobs"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    status: Mapped[str] = mapped_column(String(20), index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    actor: Mapped[str] = mapped_column(String(200))
    source: Mapped[str] = mapped_column(String(20))
    input_path: Mapped[str] = mapped_column(Text)
    total: Mapped[int] = mapped_column(Integer)
    done: Mapped[int] = mapped_column(Integer, default=0)
    errors: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    callback_url: Mapped[str | None] = mapped_column(Text, nullable=True)
    callback_status: Mapped[str] = mapped_column(String(20), default="none")
    callback_attempts: Mapped[int] = mapped_column(Integer, default=0)
    callback_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    worker: Mapped[str | None] = mapped_column(String(64), nullable=True)
    heartbeat_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


_T = Job.__table__


def _now() -> datetime:
    return datetime.now(UTC)


def _aware(when: datetime | None) -> datetime | None:
    # SQLite hands timezone-aware columns back naive; they were stored in UTC.
    if when is None or when.tzinfo is not None:
        return when
    return when.replace(tzinfo=UTC)


def jobs_dir(settings: Settings) -> Path:
    """Where job inputs and results live: ``HOME/jobs``."""
    return settings.home / "jobs"


def input_dir(settings: Settings) -> Path:
    """The folder stored-file jobs may read from."""
    return settings.serving.job_input_dir or settings.home / "inputs"


def resolve_input_file(settings: Settings, name: str) -> Path:
    """The stored file a job names, refused unless it lies inside :func:`input_dir`.

    Raises
    ------
    DataError
        If the path leaves the folder or is not a file.
    """
    folder = input_dir(settings).resolve()
    path = (folder / name).resolve()
    if not path.is_relative_to(folder) or not path.is_file():
        raise DataError(BAD_FILE.format(name=name, folder=folder))
    return path


# ---------------------------------------------------------------------- creating and reading
def create_job(
    settings: Settings,
    *,
    actor: str,
    records: list[dict[str, Any]] | None = None,
    file: str | None = None,
    callback_url: str | None = None,
) -> dict[str, Any]:
    """Store a new job (its records saved to a file) and return its status.

    Raises
    ------
    DataError
        If neither or both of ``records`` and ``file`` are given, or the file is refused.
    """
    if (records is None) == (file is None):
        raise DataError("a job needs exactly one of 'records' and 'file'")
    job_id = uuid.uuid4().hex
    folder = jobs_dir(settings) / job_id
    folder.mkdir(parents=True, exist_ok=True)
    if records is not None:
        path = folder / "input.jsonl"
        tmp = path.with_suffix(".tmp")
        with tmp.open("w", encoding="utf-8") as fh:
            for record in records:
                fh.write(json.dumps(record, default=str) + "\n")
        os.replace(tmp, path)
        source, total = "records", len(records)
    else:
        path = resolve_input_file(settings, file or "")
        source, total = "file", len(_read_file(path))
    now = _now()
    with writing() as conn:
        conn.execute(
            _T.insert().values(
                id=job_id,
                status=QUEUED,
                created_at=now,
                updated_at=now,
                actor=actor,
                source=source,
                input_path=str(path),
                total=total,
                done=0,
                errors=0,
                callback_url=callback_url,
                callback_status="pending" if callback_url else "none",
                callback_attempts=0,
            )
        )
    return get_job(job_id)


def _row(job_id: str) -> Any:
    with engine().connect() as conn:
        row = conn.execute(select(_T).where(_T.c.id == job_id)).one_or_none()
    if row is None:
        raise NotFoundError(NO_JOB.format(id=job_id))
    return row


def _status(row: Any) -> dict[str, Any]:
    return {
        "id": row.id,
        "status": row.status,
        "created_at": _aware(row.created_at).isoformat(),
        "updated_at": _aware(row.updated_at).isoformat(),
        "total": row.total,
        "done": row.done,
        "progress": 1.0 if row.total == 0 else row.done / row.total,
        "errors": row.errors,
        "error": row.error,
        "callback": {
            "url": row.callback_url,
            "status": row.callback_status,
            "attempts": row.callback_attempts,
            "last_error": row.callback_error,
        },
        "results_url": f"/v1/jobs/{row.id}/results",
        "actor": row.actor,
    }


def get_job(job_id: str, *, reader: str | None = None) -> dict[str, Any]:
    """A job's status; ``reader`` (when given) must be the job's creator.

    Raises
    ------
    NotFoundError
        If there is no such job, or it is another caller's (never confirm it exists).
    """
    row = _row(job_id)
    if reader is not None and row.actor != reader:
        raise NotFoundError(NO_JOB.format(id=job_id))
    return _status(row)


def job_results(
    settings: Settings,
    job_id: str,
    *,
    offset: int = 0,
    limit: int = 1000,
    reader: str | None = None,
) -> dict[str, Any]:
    """One page of a finished job's result rows.

    Raises
    ------
    NotFoundError
        If there is no such job (or it is another caller's).
    ConflictError
        If the job has not finished.
    """
    status = get_job(job_id, reader=reader)
    if status["status"] not in (DONE, FAILED):
        raise ConflictError(NOT_FINISHED.format(id=job_id, status=status["status"]))
    rows: list[dict[str, Any]] = []
    folder = jobs_dir(settings) / job_id
    index = 0
    chunk = settings.serving.job_chunk_rows
    first_part = offset // chunk
    index = first_part * chunk
    k = first_part
    while len(rows) < limit:
        part = folder / _PART.format(k=k)
        if not part.exists():
            break
        with part.open(encoding="utf-8") as fh:
            for line in fh:
                if index >= offset and len(rows) < limit:
                    rows.append(json.loads(line))
                index += 1
        k += 1
    end = offset + len(rows)
    return {
        "job_id": job_id,
        "status": status["status"],
        "offset": offset,
        "next_offset": end if end < status["done"] else None,
        "rows": rows,
    }


# ---------------------------------------------------------------------- reading inputs
def _read_file(path: Path) -> list[dict[str, Any]]:
    from greenscore.data.io import read_table

    frame = read_table(path)
    frame = frame.astype(object).where(frame.notna(), None)
    return frame.to_dict("records")


def _input_rows(row: Any) -> list[dict[str, Any]]:
    path = Path(row.input_path)
    if row.source == "records":
        with path.open(encoding="utf-8") as fh:
            return [json.loads(line) for line in fh if line.strip()]
    return _read_file(path)


def _chunks(rows: list[dict[str, Any]], size: int, start: int) -> Iterator[tuple[int, list]]:
    for k in range(start, math.ceil(len(rows) / size)):
        yield k, rows[k * size : (k + 1) * size]


# ---------------------------------------------------------------------- the worker
class JobWorker:
    """The thread that runs queued jobs and delivers their callbacks.

    Parameters
    ----------
    settings : Settings
    decide : callable
        ``decide(payloads, actor=..., route=...) -> outcomes`` (the scoring service's
        ``decide_payloads``).
    validate : callable
        Applicant dict -> validated dict; raises ``pydantic.ValidationError``.
    post : callable, optional
        ``post(url, json_body) -> status code`` for callbacks; default an httpx POST.
    """

    def __init__(
        self,
        settings: Settings,
        *,
        decide: Callable[..., list[Any]],
        validate: Validator,
        post: Callable[[str, dict[str, Any]], int] | None = None,
    ) -> None:
        self.settings = settings
        self._decide = decide
        self._validate = validate
        self._post = post or self._http_post
        self.worker_id = f"{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None

    # -------------------------------------------------------------- lifecycle
    def start(self) -> None:
        """Start the worker thread."""
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, daemon=True, name="greenscore-jobs")
        self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        """Stop after the current chunk; an unfinished job goes back to the queue."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

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

    def run_once(self) -> bool:
        """Run one claimable job or callback; False when there was nothing to do."""
        job = self._claim(
            (_T.c.status == QUEUED) | ((_T.c.status == RUNNING) & self._stale()),
            RUNNING,
        )
        if job is not None:
            self._process(job)
            return True
        job = self._claim(
            _T.c.status.in_((DONE, FAILED))
            & (_T.c.callback_status == "pending")
            & or_(_T.c.worker.is_(None), self._stale()),
            None,
        )
        if job is not None:
            self._deliver(job)
            return True
        return False

    def _stale(self) -> Any:
        lease = timedelta(seconds=self.settings.serving.job_lease_seconds)
        return or_(_T.c.heartbeat_at.is_(None), _T.c.heartbeat_at < _now() - lease)

    def _claim(self, condition: Any, status: str | None) -> Any:
        with engine().connect() as conn:
            candidate = conn.execute(
                select(_T.c.id).where(condition).order_by(_T.c.created_at).limit(1)
            ).first()
        if candidate is None:
            return None
        values: dict[str, Any] = {"worker": self.worker_id, "heartbeat_at": _now()}
        if status is not None:
            values.update(status=status, updated_at=_now())
        with writing() as conn:
            # The same condition again: two workers racing for one job, only one wins.
            claimed = conn.execute(
                update(_T).where(_T.c.id == candidate.id, condition).values(**values)
            ).rowcount
        return _row(candidate.id) if claimed == 1 else None

    # -------------------------------------------------------------- scoring
    def _process(self, job: Any) -> None:
        try:
            rows = _input_rows(job)
        except Exception as exc:  # noqa: BLE001 - an unreadable input fails the job, visibly
            self._finish(job.id, FAILED, error=f"cannot read the job input: {exc}")
            return
        size = self.settings.serving.job_chunk_rows
        folder = jobs_dir(self.settings) / job.id
        folder.mkdir(parents=True, exist_ok=True)
        errors = job.errors if job.done else 0
        for k, chunk in _chunks(rows, size, job.done // size):
            if self._stop.is_set():
                self._update(job.id, status=QUEUED, worker=None, heartbeat_at=None)
                return
            lines, bad = self._score_chunk(job, chunk, k * size)
            part = folder / _PART.format(k=k)
            tmp = part.with_suffix(".tmp")
            tmp.write_text("".join(json.dumps(x, default=str) + "\n" for x in lines), "utf-8")
            os.replace(tmp, part)
            errors += bad
            self._update(
                job.id, done=min(len(rows), (k + 1) * size), errors=errors, heartbeat_at=_now()
            )
        self._finish(job.id, DONE)

    def _score_chunk(self, job: Any, chunk: list[dict[str, Any]], start: int) -> tuple[list, int]:
        results: list[dict[str, Any] | None] = [None] * len(chunk)
        valid: list[dict[str, Any]] = []
        where: list[int] = []
        for i, record in enumerate(chunk):
            try:
                valid.append(self._validate(record))
                where.append(i)
            except Exception as exc:  # noqa: BLE001 - pydantic names the field; kept per row
                results[i] = {"row": start + i, "error": _validation_message(exc)}
        outcomes = self._decide(valid, actor=job.actor, route=f"/v1/jobs/{job.id}") if valid else []
        for i, outcome in zip(where, outcomes, strict=True):
            if isinstance(outcome, BaseException):
                results[i] = {
                    "row": start + i,
                    "error": {"error": type(outcome).__name__, "detail": str(outcome)},
                }
            else:
                results[i] = {"row": start + i, **outcome.to_dict()}
        bad = sum(1 for r in results if r is not None and "error" in r)
        return results, bad

    def _update(self, job_id: str, **values: Any) -> None:
        with writing() as conn:
            conn.execute(update(_T).where(_T.c.id == job_id).values(updated_at=_now(), **values))

    def _finish(self, job_id: str, status: str, error: str | None = None) -> None:
        pending = _row(job_id).callback_status == "pending"
        # Keep the claim while the callback is delivered, so no other worker sends it too.
        self._update(
            job_id,
            status=status,
            error=error,
            worker=self.worker_id if pending else None,
            heartbeat_at=_now() if pending else None,
        )
        if pending:
            self._deliver(_row(job_id))

    # -------------------------------------------------------------- callbacks
    def _deliver(self, job: Any) -> None:
        s = self.settings.serving
        body = {
            "job_id": job.id,
            "status": job.status,
            "total": job.total,
            "done": job.done,
            "errors": job.errors,
            "results_url": f"/v1/jobs/{job.id}/results",
        }
        attempts = job.callback_attempts
        while attempts < s.callback_attempts:
            if attempts:
                delay = s.callback_backoff_seconds * 2 ** (attempts - 1)
                if self._stop.wait(delay):
                    self._update(job.id, worker=None, heartbeat_at=None)
                    return
            attempts += 1
            try:
                code = self._post(job.callback_url, body)
                error = None if 200 <= code < 300 else f"HTTP {code}"
            except Exception as exc:  # noqa: BLE001 - any transport failure is one failed try
                error = f"{type(exc).__name__}: {exc}"
            if error is None:
                self._update(
                    job.id,
                    callback_status="delivered",
                    callback_attempts=attempts,
                    callback_error=None,
                    worker=None,
                    heartbeat_at=None,
                )
                return
            log.warning(
                "job callback failed", extra={"job": job.id, "attempt": attempts, "error": error}
            )
            self._update(
                job.id, callback_attempts=attempts, callback_error=error, heartbeat_at=_now()
            )
        self._update(job.id, callback_status="failed", worker=None, heartbeat_at=None)

    def _http_post(self, url: str, body: dict[str, Any]) -> int:
        import httpx

        timeout = self.settings.serving.callback_timeout_seconds
        return httpx.post(url, json=body, timeout=timeout).status_code


def _validation_message(exc: Exception) -> dict[str, Any]:
    errors = getattr(exc, "errors", None)
    if callable(errors):
        first = errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ())) or "record"
        return {"error": "ValidationError", "detail": f"field '{where}': {first.get('msg')}"}
    return {"error": type(exc).__name__, "detail": str(exc)}


def wait_for(job_id: str, *, timeout: float = 60.0, poll: float = 0.05) -> dict[str, Any]:
    """Block until a job is done or failed (tests, CLI)."""
    deadline = time.monotonic() + timeout
    while True:
        status = get_job(job_id)
        if status["status"] in (DONE, FAILED) or time.monotonic() > deadline:
            return status
        time.sleep(poll)
