"""One error family for the whole product.

Every failure a user can cause or fix is a :class:`GreenScoreError`. The CLI turns it into
a one-line message and a non-zero exit code; the API turns it into a 4xx JSON body.
Anything else that escapes is a bug and is treated as one.
"""

from __future__ import annotations


class GreenScoreError(Exception):
    """Base of every error GreenScore raises on purpose.

    Parameters
    ----------
    message : str
        One line naming what was wrong (column, row, field, file) and what was expected.
    """

    exit_code: int = 1
    http_status: int = 400

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class ConfigError(GreenScoreError):
    """Settings, a spec or a command line that cannot be used as given."""

    exit_code = 2


class DataError(GreenScoreError):
    """Input data that cannot be read or does not fit its spec."""

    exit_code = 2
    http_status = 422


class ModelError(GreenScoreError):
    """A model that cannot be fitted, loaded or asked to predict."""

    exit_code = 3
    http_status = 409


class NotFoundError(GreenScoreError):
    """A named thing (model, job, key, subject) that does not exist."""

    exit_code = 4
    http_status = 404


class AuthError(GreenScoreError):
    """Missing or invalid credentials."""

    exit_code = 5
    http_status = 401


class PermissionDeniedError(AuthError):
    """Valid credentials, but the role may not do this."""

    http_status = 403


class PrivacyError(GreenScoreError):
    """A privacy rule refused the action (budget spent, consent missing, key unusable)."""

    exit_code = 6
    http_status = 403
