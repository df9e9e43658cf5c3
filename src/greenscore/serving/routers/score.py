"""Real-time scoring: ``POST /v1/score`` (one applicant) and ``POST /v1/score/batch``.

The applicant model is built from the served model at start-up, so this router is made
by a function. (No postponed annotations in this module: FastAPI must see the built
model class itself in the endpoint signatures.)
"""

import functools
import json
from typing import Any, Protocol

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, Field, SkipValidation, ValidationError, create_model

from greenscore.errors import DataError
from greenscore.serving.deps import BatchScorer, Gate, Scorer, Service, take_tokens
from greenscore.serving.errors import PayloadTooLargeError
from greenscore.serving.ownership import tenant_of
from greenscore.serving.routers.common import ERRORS, body_model
from greenscore.serving.schemas import BatchResponse, ErrorResponse, ScoreResponse
from greenscore.serving.service import ScoringService

INVALID_APPLICANT = "field '{field}': {msg}"
TOO_MANY = (
    "batch of {n} applicants is over the limit of {limit} "
    "(serving.max_batch, and serving.rate_limit_burst: a batch takes a token per applicant)"
)


class BatchItem(BaseModel):
    """The outcome for one applicant of a batch: a decision, or why there is none."""

    index: int
    status: int = Field(description="HTTP status this applicant alone would have had")
    result: ScoreResponse | None = None
    error: ErrorResponse | None = None


class BatchResult(BatchResponse):
    """Decisions on every applicant of a batch, in request order."""

    errors: int
    results: list[BatchItem]  # type: ignore[assignment]


def _json(body: Any, status: int = 200) -> Response:
    # The body is built from plain Python values: dumping it directly skips a second
    # validation pass through the response model (which is still what /docs shows).
    return Response(
        json.dumps(body, separators=(",", ":")), status_code=status, media_type="application/json"
    )


def _validated(applicant: type[BaseModel], raw: Any) -> dict[str, Any] | DataError:
    """One batch applicant as the single-applicant route reads it, or why it cannot be."""
    try:
        return applicant.model_validate(raw).model_dump(by_alias=True)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ())) or "applicant"
        return DataError(INVALID_APPLICANT.format(field=where, msg=first.get("msg")))


class _BatchBody(Protocol):
    """What a route reads of the batch request model built in :func:`build_router`."""

    applicants: list[Any]


def build_router(applicant: type[BaseModel]) -> APIRouter:
    """The scoring routes for an applicant model.

    Parameters
    ----------
    applicant : type[BaseModel]
        From :func:`greenscore.serving.schemas.applicant_model`.
    """
    router = APIRouter(prefix="/v1", tags=["scoring"])
    # Each applicant is validated on its own in the route: one bad applicant is that item's
    # 422, not the batch's (the schema still documents the applicant model). A type built
    # from a class made at run time, which a type checker cannot follow.
    applicants_type: Any = list[SkipValidation[applicant]]  # type: ignore[valid-type]
    batch_model = create_model(
        "BatchRequest",
        applicants=(
            applicants_type,
            Field(..., min_length=1, description="applicants to score"),
        ),
    )

    @router.post(
        "/score",
        response_model=ScoreResponse,
        operation_id="score_applicant",
        summary="Score one applicant",
        responses=ERRORS,
    )
    @body_model(applicant)
    async def score(body: BaseModel, principal: Scorer, request: Request) -> Any:
        """Probability of default, points, decision and, for reviews and declines, the
        principal reasons; audited under the returned ``request_id``."""
        # The service from the app's state, not as a dependency: each dependency costs the
        # hot path a level of FastAPI's per-request solving (deps.authenticate).
        service: ScoringService = request.app.state.service
        item = service.item(
            body.model_dump(by_alias=True),
            actor=principal.id,
            request_id=request.state.request_id,
            route="/v1/score",
            tenant=tenant_of(principal),
        )
        outcome = await service.submit(item)
        return _json(outcome.to_dict())

    @router.post(
        "/score/batch",
        response_model=BatchResult,
        operation_id="score_batch",
        summary="Score a batch of applicants",
        responses=ERRORS,
    )
    @body_model(batch_model)
    async def score_batch(
        body: _BatchBody, principal: BatchScorer, service: Service, gate: Gate, request: Request
    ) -> Any:
        """Up to ``serving.max_batch`` applicants; one result (or error) per applicant,
        in order. Takes one rate-limit token per applicant. Runs beside, not in front of,
        real-time requests, on the batch threads, one batch of a caller at a time."""
        applicants = body.applicants
        s = service.settings.serving
        if len(applicants) > min(s.max_batch, s.rate_limit_burst):
            raise PayloadTooLargeError(
                TOO_MANY.format(n=len(applicants), limit=min(s.max_batch, s.rate_limit_burst))
            )
        await take_tokens(request, principal, len(applicants))
        checked = [_validated(applicant, a) for a in applicants]
        valid = [c for c in checked if not isinstance(c, DataError)]
        tenant = tenant_of(principal)
        decided = await gate.run(
            tenant,
            functools.partial(service.decide_payloads, tenant=tenant),
            valid,
            actor=principal.id,
            route="/v1/score/batch",
        )
        it = iter(decided)
        outcomes = [c if isinstance(c, DataError) else next(it) for c in checked]
        results = []
        for index, outcome in enumerate(outcomes):
            if isinstance(outcome, BaseException):
                status = getattr(outcome, "http_status", 500)
                results.append(
                    {
                        "index": index,
                        "status": status,
                        "result": None,
                        "error": {
                            "error": type(outcome).__name__,
                            "detail": str(outcome),
                            "request_id": None,
                        },
                    }
                )
            else:
                results.append(
                    {"index": index, "status": 200, "result": outcome.to_dict(), "error": None}
                )
        errors = sum(1 for r in results if r["error"] is not None)
        return _json({"count": len(results), "errors": errors, "results": results})

    return router
