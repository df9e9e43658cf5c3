"""What every ``/v1`` route documents: its error answers, all of one shape."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from pydantic import BaseModel

from greenscore.serving.schemas import ErrorResponse, ValidationErrorResponse

_SHAPE: dict[str, Any] = {"model": ErrorResponse}

#: Error answers of an authenticated, rate-limited route. A 422 is either a field that
#: failed validation (FastAPI's shape, ``detail[].loc`` names it) or an input the service
#: cannot use (``error``, ``detail``).
ERRORS: dict[int | str, dict[str, Any]] = {
    400: {
        **_SHAPE,
        "description": "the body could not be read as JSON text (not UTF-8, or not JSON)",
    },
    401: {**_SHAPE, "description": "missing, invalid or expired credentials"},
    403: {
        **_SHAPE,
        "description": "the caller's role may not do this (or, scoring, the applicant has not "
        "given the consent privacy.require_consent asks for)",
    },
    408: {**_SHAPE, "description": "the body did not arrive within serving.body_timeout_seconds"},
    413: {**_SHAPE, "description": "body or batch over the configured limit"},
    415: {
        **_SHAPE,
        "description": "the body is not JSON (Content-Type) or is compressed (Content-Encoding)",
    },
    422: {
        "model": ValidationErrorResponse | ErrorResponse,
        "description": "a field is missing or invalid, or an input cannot be used",
    },
    429: {**_SHAPE, "description": "rate limit exceeded; see the Retry-After header"},
    503: {
        **_SHAPE,
        "description": "a fault of the service, not the caller's (no model could answer, a "
        "store or a setting missing); the request was kept for replay",
    },
}

#: Answers of routes that name a stored thing.
NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {**_SHAPE, "description": "no such thing (or not the caller's)"},
    409: {**_SHAPE, "description": "not possible in its current state"},
}


_Route = TypeVar("_Route", bound=Callable[..., Any])


def body_model(model: type[BaseModel]) -> Callable[[_Route], _Route]:
    """Give a route's ``body`` parameter a request model built at run time.

    The applicant models are made per deployment (``pydantic.create_model``), so a route's
    source cannot name them; it declares ``body`` as a :class:`~pydantic.BaseModel` (or a
    Protocol of the fields it reads), which is what a type checker sees, and this decorator,
    placed under the route decorator, hands FastAPI the real model to validate and document.
    """

    def give(route: _Route) -> _Route:
        route.__annotations__["body"] = model
        return route

    return give
