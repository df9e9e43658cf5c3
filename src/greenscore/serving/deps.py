"""Dependencies of the API routes: who is calling, may they, are they within their rate, and the service.

Credentials come as ``X-API-Key: gs_<id>_<secret>`` or ``Authorization: Bearer <jwt>``
(both declared as OpenAPI security schemes). Missing or invalid credentials answer 401, a
role without the permission 403, a caller over its rate 429 with ``Retry-After`` (every
call takes one token of the caller's bucket, except a batch, which takes one per
applicant once its size is known: :func:`take_tokens`). The
checks are ``async``: a verified key or token is cached by the security core, so the
common case does no I/O on the event loop (a cache miss costs one indexed query).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, Request, Security
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from greenscore.config import Settings
from greenscore.errors import AuthError
from greenscore.security.api_keys import verify_key
from greenscore.security.principal import Principal
from greenscore.security.rbac import authorize
from greenscore.security.tokens import verify_token
from greenscore.serving.batch_gate import BatchGate
from greenscore.serving.errors import RateLimitedError
from greenscore.serving.model_store import ModelStore
from greenscore.serving.ownership import tenant_of
from greenscore.serving.service import ScoringService
from greenscore.store import Database

NO_CREDENTIALS = "missing credentials: send 'X-API-Key' or 'Authorization: Bearer <token>'"
RATE_LIMITED = (
    "rate limit of {per_minute} applicants per minute exceeded for '{key}' "
    "({cost} asked, a batch counts each applicant, other calls count 1)"
)

api_key_scheme = APIKeyHeader(
    name="X-API-Key",
    auto_error=False,
    scheme_name="ApiKey",
    description="An API key 'gs_<key_id>_<secret>' from 'greenscore keys create'.",
)
bearer_scheme = HTTPBearer(
    auto_error=False,
    scheme_name="BearerJWT",
    bearerFormat="JWT",
    description="A token from 'greenscore tokens issue'.",
)


def authenticate(
    request: Request, api_key: str | None, bearer: HTTPAuthorizationCredentials | None
) -> Principal:
    """The authenticated caller, from the credentials the security schemes read.

    A plain function called by each :func:`permission` dependency rather than a
    dependency of its own: FastAPI solves every level of a dependency tree per request
    (about 20 µs each), and the scoring route is the service's hot path.

    Raises
    ------
    AuthError
        If no credentials were sent, or they are malformed, unknown, revoked or expired.
    """
    settings = request.app.state.settings
    if api_key:
        principal = verify_key(api_key, settings=settings)
    elif bearer is not None and bearer.credentials:
        principal = verify_token(bearer.credentials, settings=settings)
    else:
        raise AuthError(NO_CREDENTIALS)
    request.state.principal = principal
    return principal


async def take_tokens(request: Request, principal: Principal, cost: int = 1) -> None:
    """Take ``cost`` tokens (applicants) from the caller's bucket, all or none.

    Raises
    ------
    RateLimitedError
        If the bucket holds fewer; ``retry_after`` says when it will hold enough.
    """
    state = request.app.state
    # One bucket per tenant: a token named like a key does not share the key's.
    decision = await state.rate_limiter.hit(tenant_of(principal), cost)
    if not decision.allowed:
        state.monitor.rate_limited.inc()
        raise RateLimitedError(
            RATE_LIMITED.format(
                per_minute=state.settings.serving.rate_limit_per_minute,
                key=principal.id,
                cost=cost,
            ),
            retry_after=decision.retry_after,
        )


def permission(action: str, *, counted: bool = True) -> Callable[..., Awaitable[Principal]]:
    """A dependency that authorises ``action`` and, if ``counted``, takes a rate-limit token.

    A route that counts its own cost (a batch: one token per applicant) passes
    ``counted=False`` and calls :func:`take_tokens` itself.

    Raises
    ------
    AuthError
        As :func:`authenticate`.
    PermissionDeniedError
        If the caller's role may not perform the action.
    RateLimitedError
        If the caller is over its rate.
    """

    async def dependency(
        request: Request,
        api_key: Annotated[str | None, Security(api_key_scheme)],
        bearer: Annotated[HTTPAuthorizationCredentials | None, Security(bearer_scheme)],
    ) -> Principal:
        principal = authenticate(request, api_key, bearer)
        authorize(principal, action)
        if counted:
            await take_tokens(request, principal)
        return principal

    suffix = "" if counted else "_uncounted"
    dependency.__name__ = f"permission_{action.replace(':', '_')}{suffix}"
    return dependency


# async on purpose: FastAPI runs a plain-def dependency in its thread pool, a hand-off
# per request on the hot path.
async def get_service(request: Request) -> ScoringService:
    """The app's scoring service."""
    return request.app.state.service


async def get_store(request: Request) -> ModelStore:
    """The app's model store."""
    return request.app.state.store


async def get_settings(request: Request) -> Settings:
    """The app's settings (those it was made with, not the process-wide ones)."""
    return request.app.state.settings


async def get_db(request: Request) -> Database:
    """The app's database (opened, and brought to the newest schema, when the app was made)."""
    return request.app.state.db


async def get_batch_gate(request: Request) -> BatchGate:
    """The app's batch thread pool with its per-tenant limit (made on first use)."""
    state = request.app.state
    gate = getattr(state, "batch_gate", None)
    if gate is None:
        serving = state.settings.serving
        gate = state.batch_gate = BatchGate(
            threads=serving.batch_threads, per_tenant=serving.batch_concurrency_per_key
        )
    return gate


Scorer = Annotated[Principal, Depends(permission("score"))]
BatchScorer = Annotated[Principal, Depends(permission("score", counted=False))]
JobCreator = Annotated[Principal, Depends(permission("jobs:create"))]
JobReader = Annotated[Principal, Depends(permission("jobs:read"))]
Contester = Annotated[Principal, Depends(permission("decisions:contest"))]
OutcomeRecorder = Annotated[Principal, Depends(permission("outcomes:record"))]
ReviewReader = Annotated[Principal, Depends(permission("review:read"))]
ReviewDecider = Annotated[Principal, Depends(permission("review:decide"))]
ModelReader = Annotated[Principal, Depends(permission("models:read"))]
ModelManager = Annotated[Principal, Depends(permission("models:manage"))]
DlqAdmin = Annotated[Principal, Depends(permission("dlq:replay"))]
AuditReader = Annotated[Principal, Depends(permission("audit:read"))]
Service = Annotated[ScoringService, Depends(get_service)]
Store = Annotated[ModelStore, Depends(get_store)]
Gate = Annotated[BatchGate, Depends(get_batch_gate)]
Db = Annotated[Database, Depends(get_db)]
AppSettings = Annotated[Settings, Depends(get_settings)]
