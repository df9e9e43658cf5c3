"""Role-based access: which role may do which action, declared once, and the one check.

Three roles: ``scorer`` (a lending system calling the API), ``analyst`` (credit-risk and
review staff) and ``admin``. Actions that change keys, models or erase personal data
also need a second factor.
"""

from __future__ import annotations

from types import MappingProxyType

from greenscore.errors import AuthError, ConfigError, PermissionDeniedError
from greenscore.security.principal import Principal

ROLES: tuple[str, ...] = ("scorer", "analyst", "admin")

_SCORER, _ANALYST, _ADMIN = ROLES

#: action -> roles allowed to do it. admin may do everything; this is the only table.
PERMISSIONS: MappingProxyType[str, frozenset[str]] = MappingProxyType(
    {
        "score": frozenset({_SCORER, _ADMIN}),
        "jobs:create": frozenset({_SCORER, _ADMIN}),
        # A scorer must be able to fetch the result of the batch job it created.
        "jobs:read": frozenset({_SCORER, _ANALYST, _ADMIN}),
        "review:read": frozenset({_ANALYST, _ADMIN}),
        "review:decide": frozenset({_ANALYST, _ADMIN}),
        "decisions:contest": frozenset({_SCORER, _ADMIN}),
        # Outcomes are attached by the tenant that made the decisions (its lending system).
        "outcomes:record": frozenset({_SCORER, _ADMIN}),
        "models:read": frozenset({_ANALYST, _ADMIN}),
        "models:manage": frozenset({_ADMIN}),
        "keys:manage": frozenset({_ADMIN}),
        "gdpr:erase": frozenset({_ADMIN}),
        "gdpr:manage": frozenset({_ADMIN}),
        "audit:read": frozenset({_ANALYST, _ADMIN}),
        "dlq:replay": frozenset({_ADMIN}),
        "users:manage": frozenset({_ADMIN}),
    }
)

#: Actions that also need ``principal.mfa_verified``.
MFA_ACTIONS: frozenset[str] = frozenset(
    {"models:manage", "keys:manage", "gdpr:erase", "users:manage"}
)

UNKNOWN_ACTION = "unknown action '{action}'; expected one of: {known}"
UNKNOWN_ROLE = "role '{role}' of '{id}' is not one of: {roles}"
DENIED = "role '{role}' may not perform '{action}'"
MFA_REQUIRED = "action '{action}' needs multi-factor authentication; '{id}' has not passed it"


def check_role(role: str) -> str:
    """Return ``role`` if it is a known role.

    Raises
    ------
    ConfigError
        If the role is not one of :data:`ROLES`.
    """
    if role not in ROLES:
        raise ConfigError(f"unknown role '{role}'; expected one of: {', '.join(ROLES)}")
    return role


def allowed_actions(role: str) -> list[str]:
    """The actions a role may perform, sorted (for display and the API's ``/whoami``)."""
    return sorted(action for action, roles in PERMISSIONS.items() if role in roles)


def authorize(principal: Principal, action: str) -> None:
    """Allow ``principal`` to perform ``action`` or raise.

    Parameters
    ----------
    principal : Principal
        The authenticated caller.
    action : str
        A key of :data:`PERMISSIONS`, e.g. ``"score"`` or ``"keys:manage"``.

    Raises
    ------
    ConfigError
        If ``action`` is not in the permission table (a programming error, never allowed).
    PermissionDeniedError
        If the principal's role may not perform the action (or is not a known role).
    AuthError
        If the action needs MFA and the principal has not passed it.
    """
    roles = PERMISSIONS.get(action)
    if roles is None:
        raise ConfigError(UNKNOWN_ACTION.format(action=action, known=", ".join(PERMISSIONS)))
    if principal.role not in ROLES:
        raise PermissionDeniedError(
            UNKNOWN_ROLE.format(role=principal.role, id=principal.id, roles=", ".join(ROLES))
        )
    if principal.role not in roles:
        raise PermissionDeniedError(DENIED.format(role=principal.role, action=action))
    if action in MFA_ACTIONS and not principal.mfa_verified:
        raise AuthError(MFA_REQUIRED.format(action=action, id=principal.id))
