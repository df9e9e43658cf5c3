"""Schemathesis hooks for tests/e2e/test_schemathesis_api.py (not a test module).

Loaded by ``st run`` through ``SCHEMATHESIS_HOOKS``. Before every request (every phase:
examples, coverage, fuzzing, stateful) it

- sends the credential of the role the operation needs (a scorer API key for scoring,
  jobs and contests; an analyst key for the review queue; an admin token with a second
  factor for ``/v1/admin``), so generated cases reach the handlers instead of stopping at
  401/403, and
- points every string ``callback_url`` at the test's own loopback receiver, the only
  host the server under test allows callbacks to: a generated URL must never make the
  server (or its resolver) reach another host.

The credentials and the receiver's URL come from the environment the test sets.
"""

from __future__ import annotations

import os
from typing import Any

import schemathesis

_CALLBACK_URL = os.environ["GS_FUZZ_CALLBACK_URL"]
_AUTH = {
    "scorer": {"X-API-Key": os.environ["GS_FUZZ_SCORER_KEY"]},
    "analyst": {"X-API-Key": os.environ["GS_FUZZ_ANALYST_KEY"]},
    "admin": {"Authorization": f"Bearer {os.environ['GS_FUZZ_ADMIN_TOKEN']}"},
}
_CREDENTIAL_HEADERS = ("x-api-key", "authorization")


def _role(path: str) -> str | None:
    if path.startswith("/v1/admin"):
        return "admin"
    if path.startswith("/v1/review-queue"):
        return "analyst"
    if path.startswith("/v1/"):
        return "scorer"
    return None  # health and metrics: no credential


@schemathesis.hook
def before_call(context: Any, case: Any, kwargs: dict[str, Any]) -> None:
    role = _role(case.operation.path)
    headers = {
        k: v for k, v in (case.headers or {}).items() if k.lower() not in _CREDENTIAL_HEADERS
    }
    if role is not None:
        headers.update(_AUTH[role])
    case.headers = headers
    body = case.body
    if isinstance(body, dict) and isinstance(body.get("callback_url"), str):
        body["callback_url"] = _CALLBACK_URL
