"""Batch jobs: ``POST /v1/jobs``, ``GET /v1/jobs/{id}`` and ``GET /v1/jobs/{id}/results``.

Built by a function because a job's records use the served applicant model. (No
postponed annotations here: FastAPI must see the built model class itself.)

Jobs are not counted in the per-key applicants-per-minute bucket (a job of 100,000
records could never fit a burst): creating one takes one token like any call, and jobs
have their own quota instead — at most ``serving.job_max_active_per_key`` queued or
running per key, ``serving.job_max_records`` records each — and are scored by one worker
thread per process that takes turns between callers chunk by chunk.
"""

from typing import Any, Protocol

from fastapi import APIRouter, Query, Request, status
from pydantic import AnyHttpUrl, BaseModel, Field, create_model

from greenscore.serving import jobs
from greenscore.serving.deps import Db, JobCreator, JobReader, Service
from greenscore.serving.ownership import tenant_of
from greenscore.serving.routers.common import ERRORS, NOT_FOUND, body_model
from greenscore.serving.schemas import JobResults, JobStatus

# Analysts and admins read every job; a scorer reads the jobs it created.
_READ_ALL = frozenset({"analyst", "admin"})


class _JobBody(Protocol):
    """What a route reads of the job request model built in :func:`build_router`."""

    records: list[BaseModel] | None
    file: str | None
    relations_file: str | None
    callback_url: AnyHttpUrl | None


def _stored_file(description: str) -> tuple[Any, Any]:
    """A request field naming a file in the caller's job input folder (optional)."""
    # No control characters (a NUL byte cannot be in a path).
    field = Field(
        None, min_length=1, max_length=1024, pattern=r"^[^\x00-\x1f\x7f]+$", description=description
    )
    return (str | None, field)


def build_router(applicant: type[BaseModel]) -> APIRouter:
    """The job routes for an applicant model."""
    router = APIRouter(prefix="/v1/jobs", tags=["jobs"])
    # What a job keeps of each record: the model's inputs and the applicant id, by name.
    keep = [field.alias or name for name, field in applicant.model_fields.items()]
    # ... and what each must have: a stored file must have these columns.
    required = [
        field.alias or name for name, field in applicant.model_fields.items() if field.is_required()
    ]
    # A type built from a class made at run time, which a type checker cannot follow.
    records_type: Any = list[applicant] | None  # type: ignore[valid-type]
    job_request = create_model(
        "JobRequest",
        records=(
            records_type,
            Field(None, min_length=1, description="applicants to score (or give 'file')"),
        ),
        file=_stored_file(
            "a stored file (CSV, JSON, Parquet) in your job input folder (the operator "
            "stages it in HOME/inputs/<your key id>/; no other caller's)"
        ),
        relations_file=_stored_file(
            "with 'file', a stored edge table of the applicants' borrower links (the "
            "relations file the model was trained with, for the new applicants): each "
            "applicant is scored with every link touching it"
        ),
        callback_url=(
            AnyHttpUrl | None,
            Field(
                None,
                description="POSTed a summary when the job ends (retried with backoff); "
                "public addresses only, unless serving.callback_allow_hosts names the host; "
                "no credentials in the URL; redirects are not followed",
            ),
        ),
    )

    @router.post(
        "",
        response_model=JobStatus,
        status_code=status.HTTP_202_ACCEPTED,
        operation_id="create_job",
        summary="Start a batch job",
        responses=ERRORS,
    )
    @body_model(job_request)
    def create_job(
        body: _JobBody, principal: JobCreator, service: Service, request: Request
    ) -> Any:
        """Queue records (or a stored file) for scoring; poll the job or wait for its callback.

        Only the model's input fields and the applicant id are kept (encrypted); any other
        field of a record is dropped before anything is stored."""
        settings = service.settings
        records = None
        if body.records is not None:
            records = [r.model_dump(by_alias=True) for r in body.records]
        created = jobs.create_job(
            settings,
            actor=tenant_of(principal),
            keep=keep,
            required=required,
            id_column=service.store.deployment.primary.model.id_name,
            records=records,
            file=body.file,
            relations_file=body.relations_file,
            model=service.store.deployment.primary.model.bundle,
            callback_url=str(body.callback_url) if body.callback_url else None,
        )
        worker = getattr(request.app.state, "job_worker", None)
        if worker is not None:
            worker.wake()
        return created

    @router.get(
        "/{job_id}",
        response_model=JobStatus,
        operation_id="get_job",
        summary="A job's status and progress",
        responses={**ERRORS, **NOT_FOUND},
    )
    def get_job(job_id: str, principal: JobReader, db: Db) -> Any:
        """Status, progress (rows done of total), errors and callback delivery."""
        reader = None if principal.role in _READ_ALL else tenant_of(principal)
        return jobs.get_job(job_id, reader=reader, db=db)

    @router.get(
        "/{job_id}/results",
        response_model=JobResults,
        operation_id="get_job_results",
        summary="A finished job's results",
        responses={**ERRORS, **NOT_FOUND},
    )
    def get_job_results(
        job_id: str,
        principal: JobReader,
        service: Service,
        offset: int = Query(0, ge=0),
        limit: int = Query(1000, ge=1, le=10_000),
    ) -> Any:
        """One row per input record, in order: the decision, or the error that stopped it."""
        reader = None if principal.role in _READ_ALL else tenant_of(principal)
        return jobs.job_results(service.settings, job_id, offset=offset, limit=limit, reader=reader)

    return router
