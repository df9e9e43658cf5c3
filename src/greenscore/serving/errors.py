"""The service's own members of the GreenScore error family, and whose fault an error is.

A request is answered 4xx only for the caller's own mistake about what they sent or who
they are: a field that cannot be used, an unknown id, credentials, a role, a rate, a size
or a state conflict (:data:`CALLERS_MISTAKES`). Any other failure — a setting or a key
missing on the server, a model that cannot predict, a store that is down, a bug — is the
service's, whichever class it has: the request is kept as a dead letter and the caller
gets 503 (see :mod:`greenscore.serving.app`). A route that means a 4xx for something else
converts it where it happens (the model reload turns a refused URI into a
:class:`ConflictError`).
"""

from __future__ import annotations

from greenscore.errors import AuthError, DataError, GreenScoreError, NotFoundError


class ServiceUnavailableError(GreenScoreError):
    """No model could answer, or a store the service needs is down (503).

    Parameters
    ----------
    message : str
    kept : bool
        True when the request is already in the dead-letter table (the scoring service
        keeps each applicant it could not answer before raising this); the error
        handler then does not keep it a second time.
    """

    http_status = 503
    exit_code = 7

    def __init__(self, message: str, *, kept: bool = False) -> None:
        super().__init__(message)
        self.kept = kept


class BadRequestError(GreenScoreError):
    """A request the service cannot act on as sent, beyond its schema (400)."""

    http_status = 400


class PayloadTooLargeError(GreenScoreError):
    """A body or batch over the configured limits (413)."""

    http_status = 413


class RateLimitedError(GreenScoreError):
    """Too many requests from one caller (429, with Retry-After)."""

    http_status = 429

    def __init__(self, message: str, *, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class ConflictError(GreenScoreError):
    """The action conflicts with the current state of what it acts on (409)."""

    http_status = 409


#: The errors that are the caller's mistake about their own request, answered with their
#: 4xx status; every other error raised while serving is the service's fault (503).
CALLERS_MISTAKES: tuple[type[GreenScoreError], ...] = (
    DataError,
    NotFoundError,
    AuthError,  # PermissionDeniedError too
    RateLimitedError,
    PayloadTooLargeError,
    ConflictError,
    BadRequestError,
)


def callers_mistake(error: BaseException) -> bool:
    """Whether ``error`` is the caller's mistake (a 4xx), not a fault of the service."""
    return isinstance(error, CALLERS_MISTAKES)
