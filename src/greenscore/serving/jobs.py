"""Asynchronous batch jobs: the job table, creating a job, and reading its status and results.

A job scores records sent with it or a stored file in the caller's own job input folder,
``<serving.job_input_dir>/<tenant>/`` (:func:`input_dir`): one tenant's staged files are
no other tenant's to score (a job of another lender's file handed back its PDs and, in
the reasons, its applicants' values).
Everything about a job is checked before anything is stored (one of records and file,
the file inside its folder and readable, the callback URL allowed, the caller's quota of
active jobs): a refused job leaves nothing behind. The input is then cut to the columns
the model reads plus the applicant id — names, e-mails, account numbers and any other
extra field are dropped — and kept in ``serving.job_chunk_rows``-row chunks as sealed
rows (:mod:`greenscore.privacy.sealed`): encrypted at rest, indexed by subject for
erasure, purged under the ``jobs`` retention target. Results are sealed the same way. A
stored input file is registered with the privacy registry (``job-file:<path in the input
folder>``), so an erasure removes its subjects' rows from the file too. The quota is
counted again in the transaction that inserts the job, under a lock
(:meth:`Database.serialised`), so concurrent posts of one caller cannot all pass it.

The worker that scores jobs is :mod:`greenscore.serving.job_worker`; callbacks are
delivered by :mod:`greenscore.serving.callbacks` from the ``callback_*`` columns here.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, overload
from urllib.parse import quote

import pandas as pd
from sqlalchemy import Connection, func, select

from greenscore.config import Settings
from greenscore.errors import ConfigError, DataError, NotFoundError, PrivacyError
from greenscore.logging import get_logger
from greenscore.models.bundle import ScoringBundle
from greenscore.privacy import sealed
from greenscore.security.pseudonym import subject_hashes
from greenscore.serving import outbound
from greenscore.serving.errors import (
    ConflictError,
    PayloadTooLargeError,
    RateLimitedError,
    ServiceUnavailableError,
)
from greenscore.serving.named_subjects import named_subjects
from greenscore.serving.schemas import LINKS_FIELD, links_field
from greenscore.store import Database, database
from greenscore.store.tables.serving import Job

log = get_logger(__name__)

QUEUED, RUNNING, DONE, FAILED = "queued", "running", "done", "failed"
SEALED_KIND = "jobs"
NO_JOB = "no job with id '{id}'"
NOT_FINISHED = "job '{id}' is {status}: results are ready when it is done"
BAD_FILE = "job file '{name}' must be a file inside your job input folder"
UNREADABLE_FILE = "job file '{name}' cannot be read as a table: {error}"
ONE_SOURCE = "a job needs exactly one of 'records' and 'file'"
NO_RECORDS = "a job needs at least one record"
EMPTY_FILE = "a job needs at least one record: job file '{name}' has no rows"
MISSING_COLUMNS = (
    "job file '{name}' lacks the served model's input column(s) {missing}: a missing column "
    "is not a missing value (send the column, empty where unknown)"
)
LINKS_NEED_FILE = "'relations_file' goes with 'file' (records send each applicant's own 'links')"
NO_LINKS = "the served model reads no borrower links: drop 'relations_file'"
NO_ID_FOR_LINKS = "the served model has no id column, so a relations file names no applicant"
TOO_MANY_ACTIVE = (
    "'{actor}' already has {n} jobs queued or running (serving.job_max_active_per_key); "
    "wait for one to finish"
)
TOO_MANY = "job of {n} records is over the limit of {limit} (serving.job_max_records)"
STORAGE_DOWN = "job storage is unavailable (encryption keys); the job was not created"
# Jobs end in seconds to minutes: a caller over its job quota may look again this soon.
_QUOTA_RETRY_SECONDS = 10.0

Validator = Callable[[Mapping[str, Any]], dict[str, Any]]


TABLE = Job.__table__


def now() -> datetime:
    """The current time in UTC (every job timestamp)."""
    return datetime.now(UTC)


@overload
def _aware(when: datetime) -> datetime: ...
@overload
def _aware(when: None) -> None: ...
def _aware(when: datetime | None) -> datetime | None:
    # SQLite hands timezone-aware columns back naive; they were stored in UTC.
    if when is None or when.tzinfo is not None:
        return when
    return when.replace(tzinfo=UTC)


def input_root(settings: Settings) -> Path:
    """The folder holding every tenant's job input folder."""
    return settings.serving.job_input_dir or settings.home / "inputs"


def input_dir(settings: Settings, tenant: str) -> Path:
    """The folder ``tenant``'s stored-file jobs read from: its id, percent-encoded (a
    token's tenant ``jwt:a/b`` is the folder ``jwt%3Aa%2Fb``), under :func:`input_root`."""
    return input_root(settings) / quote(tenant, safe="")


def resolve_input_file(settings: Settings, name: str, tenant: str) -> Path:
    """The stored file a job of ``tenant`` names, refused unless it lies inside the
    tenant's :func:`input_dir`.

    Raises
    ------
    DataError
        If the path leaves the folder or is not a file.
    """
    folder = input_dir(settings, tenant).resolve()
    try:
        path = (folder / name).resolve()
    except (OSError, ValueError) as exc:  # e.g. an embedded NUL byte
        raise DataError(BAD_FILE.format(name=name)) from exc
    if not path.is_relative_to(folder) or not path.is_file():
        raise DataError(BAD_FILE.format(name=name))
    return path


def frame_records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """A table's rows as dicts (missing values as None)."""
    return frame.astype(object).where(frame.notna(), None).to_dict("records")


def read_frame(path: Path) -> pd.DataFrame:
    """A stored table as read from its file.

    Raises
    ------
    DataError
        If the file cannot be read as a table.
    """
    from greenscore.data.io import read_table

    try:
        return read_table(path)
    except DataError as exc:
        # Named as the caller named it: where the service keeps its files is not theirs.
        raise DataError(exc.message.replace(str(path), f"job file '{path.name}'")) from exc
    except Exception as exc:  # each reader fails in its own way on a bad file
        raise DataError(UNREADABLE_FILE.format(name=path.name, error=type(exc).__name__)) from exc


def part_ref(job_id: str, side: str, k: int) -> str:
    """The sealed-unit reference of chunk ``k`` of a job's input (``in``) or results (``out``)."""
    return f"{job_id}/{side}/{k:05d}"


# ---------------------------------------------------------------------- creating
def create_job(
    settings: Settings,
    *,
    actor: str,
    keep: Sequence[str],
    required: Sequence[str] = (),
    id_column: str | None = None,
    records: list[dict[str, Any]] | None = None,
    file: str | None = None,
    relations_file: str | None = None,
    model: ScoringBundle | None = None,
    callback_url: str | None = None,
) -> dict[str, Any]:
    """Check a new job, store its input (model fields only, sealed) and return its status.

    Parameters
    ----------
    settings : Settings
    actor : str
        Who creates it (owner of the job).
    keep : sequence of str
        The fields kept from each record: the model's inputs and the applicant id.
    required : sequence of str
        The fields a record must have (as the request schema has them): a stored file
        without one of these columns is refused, not scored as if every value were missing.
    id_column : str, optional
        The applicant-id field (the subject of each row, for erasure).
    records, file : optional
        Exactly one: the records, or the name of a stored file in :func:`input_dir`.
    relations_file : str, optional
        With ``file``: a stored edge table of the applicants' borrower links (as
        ``greenscore score`` reads beside a file); each row is sent with every link that
        touches it, as its ``links`` field.
    model : ScoringBundle, optional
        The served model, which reads ``relations_file`` (its relational step's columns).
    callback_url : str, optional
        POSTed a summary when the job ends; checked by :func:`outbound.check_url`.

    Raises
    ------
    DataError
        Neither or both of records and file; a refused file or callback URL.
    PayloadTooLargeError
        If there are more than ``serving.job_max_records`` records (or file rows).
    RateLimitedError
        If the caller already has ``serving.job_max_active_per_key`` active jobs.
    ServiceUnavailableError
        If the encrypted store cannot be used (nothing is stored then).
    """
    s = settings.serving
    if (records is None) == (file is None):
        raise DataError(ONE_SOURCE)
    if callback_url is not None:
        outbound.check_url(callback_url, allow=outbound.AllowList(s.callback_allow_hosts))
    path = None
    if relations_file is not None and file is None:
        raise DataError(LINKS_NEED_FILE)
    if records is not None and not records:
        raise DataError(NO_RECORDS)
    if records is None:
        path = resolve_input_file(settings, file or "", actor)
        frame = read_frame(path)
        missing = [c for c in required if c not in frame.columns]
        if missing:
            raise DataError(MISSING_COLUMNS.format(name=file, missing=missing))
        if frame.empty:
            raise DataError(EMPTY_FILE.format(name=file))
        records = frame_records(frame)
    links_path = None
    if relations_file is not None:
        links_path = resolve_input_file(settings, relations_file, actor)
        _add_links(records, read_frame(links_path), id_column, model)
    if len(records) > s.job_max_records:
        raise PayloadTooLargeError(TOO_MANY.format(n=len(records), limit=s.job_max_records))
    db = database(settings)
    # Checked before the input is sealed, so a caller over its quota costs no encryption;
    # and again where the job is inserted, under a lock, so concurrent posts cannot pass it.
    with db.connect() as conn:
        _check_quota(actor, s.job_max_active_per_key, conn)
    fields = list(keep)
    rows = [{f: record.get(f) for f in fields} for record in records]
    job_id = uuid.uuid4().hex
    size = s.job_chunk_rows
    try:
        units = [
            sealed.Unit(
                ref=part_ref(job_id, "in", k // size),
                rows=part,
                subject_hashes=(
                    subject_hashes([r.get(id_column) for r in part], settings=settings)
                    if id_column
                    else None
                ),
                # Each link names another borrower: erasing them reaches this row too.
                mentions=named_subjects(part, id_name=id_column, settings=settings),
            )
            for k in range(0, len(rows), size)
            for part in [rows[k : k + size]]
        ]
        sealed.seal(SEALED_KIND, units, db=db)
    except PrivacyError as exc:
        log.error("job input not stored", extra={"error": str(exc)})
        raise ServiceUnavailableError(STORAGE_DOWN) from exc
    stamp = now()
    try:
        with db.serialised(f"jobs-quota:{actor}") as conn:
            _check_quota(actor, s.job_max_active_per_key, conn)
            conn.execute(
                TABLE.insert().values(
                    id=job_id,
                    status=QUEUED,
                    created_at=stamp,
                    updated_at=stamp,
                    actor=actor,
                    source="file" if file is not None else "records",
                    input_path=file or "",
                    total=len(rows),
                    done=0,
                    errors=0,
                    callback_url=callback_url,
                    callback_status="none",
                    callback_attempts=0,
                    chunk_rows=size,
                    id_column=id_column,
                )
            )
    except Exception:
        sealed.drop(SEALED_KIND, f"{job_id}/", db=db)
        raise
    folder = input_root(settings).resolve()
    if path is not None and id_column:
        _register_input(path, id_column, folder, db)
    if links_path is not None and model is not None:
        _register_input(links_path, ",".join(model.link_columns), folder, db)
    return get_job(job_id, db=db)


def _add_links(
    records: list[dict[str, Any]],
    edges: pd.DataFrame,
    id_column: str | None,
    model: ScoringBundle | None,
) -> None:
    """Give each record, as its ``links`` field, every link of ``edges`` touching it."""
    if model is None or not model.takes_links:
        raise DataError(NO_LINKS)
    if not id_column:
        raise DataError(NO_ID_FOR_LINKS)
    by_borrower = model.links_by_borrower(edges)
    for record in records:
        try:
            own = by_borrower.get(record.get(id_column), [])
        except TypeError:  # an unhashable id names no borrower
            own = []
        record[LINKS_FIELD] = links_field(own)


def _register_input(path: Path, id_column: str, folder: Path, db: Database) -> None:
    """Register a job's input file with the privacy registry, so that erasure and retention
    reach the subjects in it too (the file stays where the caller put it). It is named by
    its path under the input root (its tenant's folder first): two files of one name in two
    folders are two entries."""
    from greenscore.privacy.registry import register_dataset

    name = f"job-file:{path.relative_to(folder).as_posix()}"
    try:
        register_dataset(path, id_column=id_column, name=name, db=db)
    except ConfigError as exc:  # no id column in the file: its rows name no subject
        log.warning("job file not registered", extra={"file": path.name, "error": exc.message})


def _check_quota(actor: str, limit: int, conn: Connection) -> None:
    active = conn.execute(
        select(func.count())
        .select_from(TABLE)
        .where(TABLE.c.actor == actor, TABLE.c.status.in_((QUEUED, RUNNING)))
    ).scalar_one()
    if active >= limit:
        raise RateLimitedError(
            TOO_MANY_ACTIVE.format(actor=actor, n=active), retry_after=_QUOTA_RETRY_SECONDS
        )


# ---------------------------------------------------------------------- reading
def row(job_id: str, *, db: Database) -> Any:
    """A job's table row.

    Raises
    ------
    NotFoundError
        If there is no such job.
    """
    with db.connect() as conn:
        found = conn.execute(select(TABLE).where(TABLE.c.id == job_id)).one_or_none()
    if found is None:
        raise NotFoundError(NO_JOB.format(id=job_id))
    return found


def summary(job: Any) -> dict[str, Any]:
    """What a job's callback receives: its outcome, no applicant data."""
    return {
        "job_id": job.id,
        "status": job.status,
        "total": job.total,
        "done": job.done,
        "errors": job.errors,
        "results_url": f"/v1/jobs/{job.id}/results",
    }


def _status(job: Job) -> dict[str, Any]:
    return {
        "id": job.id,
        "status": job.status,
        "created_at": _aware(job.created_at).isoformat(),
        "updated_at": _aware(job.updated_at).isoformat(),
        "total": job.total,
        "done": job.done,
        "progress": 1.0 if job.total == 0 else job.done / job.total,
        "errors": job.errors,
        "error": job.error,
        "callback": {
            "url": job.callback_url,
            "status": job.callback_status,
            "attempts": job.callback_attempts,
            "last_error": job.callback_error,
        },
        "results_url": f"/v1/jobs/{job.id}/results",
        "actor": job.actor,
    }


def get_job(job_id: str, *, reader: str | None = None, db: Database) -> dict[str, Any]:
    """A job's status; ``reader`` (when given) must be the job's creator.

    Raises
    ------
    NotFoundError
        If there is no such job, or it is another caller's (never confirm it exists).
    """
    job = row(job_id, db=db)
    if reader is not None and job.actor != reader:
        raise NotFoundError(NO_JOB.format(id=job_id))
    return _status(job)


def chunk_size(job: Any, settings: Settings) -> int:
    """Rows per chunk of a job (the setting at its creation)."""
    return int(job.chunk_rows or settings.serving.job_chunk_rows)


def job_results(
    settings: Settings,
    job_id: str,
    *,
    offset: int = 0,
    limit: int = 1000,
    reader: str | None = None,
) -> dict[str, Any]:
    """One page of a finished job's result rows (an erased applicant's row says so).

    Raises
    ------
    NotFoundError
        If there is no such job (or it is another caller's), or its results were purged.
    ConflictError
        If the job has not finished.
    """
    db = database(settings)
    status = get_job(job_id, reader=reader, db=db)
    if status["status"] not in (DONE, FAILED):
        raise ConflictError(NOT_FINISHED.format(id=job_id, status=status["status"]))
    size = chunk_size(row(job_id, db=db), settings)
    rows: list[dict[str, Any]] = []
    k = offset // size
    while len(rows) < limit and k * size < status["done"]:
        part = sealed.unseal(SEALED_KIND, part_ref(job_id, "out", k), db=db)
        for i, result in enumerate(part):
            index = k * size + i
            if index >= offset and len(rows) < limit:
                rows.append({"row": index, **sealed.ERASED} if result == sealed.ERASED else result)
        k += 1
    end = offset + len(rows)
    return {
        "job_id": job_id,
        "status": status["status"],
        "offset": offset,
        "next_offset": end if end < status["done"] else None,
        "rows": rows,
    }


def wait_for(
    job_id: str, *, db: Database, timeout: float = 60.0, poll: float = 0.05
) -> dict[str, Any]:
    """Block until a job is done or failed (tests, CLI)."""
    deadline = time.monotonic() + timeout
    while True:
        status = get_job(job_id, db=db)
        if status["status"] in (DONE, FAILED) or time.monotonic() > deadline:
            return status
        time.sleep(poll)
