"""Who owns what the scoring service stores, and who may act on it (object-level authorisation).

A request belongs to its *tenant*: today the principal that made it (an API key's id, or
a token's subject marked as one, ``jwt:<subject>``; :func:`tenant_of`) — the mark keeps a
token whose subject happens to equal a key id (an admin chose it, or an identity provider
names its users so) out of that key's tenant. The tenant is written on the stored prediction and
on any review item made from it, so a later model with several keys per tenant only has
to change :func:`tenant_of`. With the roles of :mod:`greenscore.security.rbac`:

- **contest a decision** (``POST /v1/decisions/{request_id}/contest``): its tenant only,
  whatever the role. A decision stored before tenants were recorded has none; only an
  admin may contest it (on the applicant's behalf).
- **review items** (``GET /v1/review-queue``, ``POST /v1/review-queue/{id}/decision``):
  the review staff, roles with ``review:read`` / ``review:decide`` (analyst, admin), see
  and decide every tenant's items, each showing its tenant; a scorer has neither
  permission (403) and sees its own contest only through the contest answer.
- **batch jobs** (``GET /v1/jobs/{id}``, ``.../results``): the creator; analysts and
  admins read every job (:mod:`greenscore.serving.routers.jobs`).
- **record outcomes** (``POST /v1/outcomes``): of its own decisions only, named by
  request id or by applicant id (then the tenant's latest decision about them); a
  decision without an owner only through ``greenscore outcomes load``.

Anyone else gets exactly the answer of an id that does not exist (404, same body), so an
id can be neither probed nor used by another tenant.
"""

from __future__ import annotations

from greenscore.errors import NotFoundError
from greenscore.security.principal import Principal
from greenscore.store import Database
from greenscore.store.predictions import NO_PREDICTION, PredictionRecord, get_prediction

#: The role that may act on a decision stored before tenants were recorded.
UNOWNED_ROLE = "admin"


def tenant_of(principal: Principal) -> str:
    """The tenant whose requests ``principal`` makes: an API key's id, else the principal's
    kind and id (``jwt:svc-1``), so that no two kinds of caller share a tenant (key ids are
    hex: no colon)."""
    return principal.id if principal.kind == "api_key" else f"{principal.kind}:{principal.id}"


def may_act_on(principal: Principal, tenant: str | None) -> bool:
    """Whether ``principal`` may act on a decision owned by ``tenant`` (None: no owner)."""
    if tenant is None:
        return principal.role == UNOWNED_ROLE
    return tenant == tenant_of(principal)


def owned_prediction(request_id: str, principal: Principal, *, db: Database) -> PredictionRecord:
    """The stored prediction of ``request_id`` if ``principal`` may act on it.

    Raises
    ------
    NotFoundError
        If there is no such prediction, or it is another tenant's (the same error).
    """
    record = get_prediction(request_id, db=db)
    if not may_act_on(principal, record.tenant):
        raise NotFoundError(NO_PREDICTION.format(request_id=request_id))
    return record
