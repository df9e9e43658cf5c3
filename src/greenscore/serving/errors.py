"""The service's own members of the GreenScore error family, each with its HTTP status."""

from __future__ import annotations

from greenscore.errors import GreenScoreError


class ServiceUnavailableError(GreenScoreError):
    """No model could answer, or a store the service needs is down (503)."""

    http_status = 503
    exit_code = 7


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
