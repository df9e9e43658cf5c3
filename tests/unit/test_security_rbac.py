"""RBAC: the permission table, role denials, MFA-gated actions and unknown actions."""

from __future__ import annotations

import pytest

from greenscore.errors import AuthError, ConfigError, PermissionDeniedError
from greenscore.security import MFA_ACTIONS, PERMISSIONS, ROLES, Principal, authorize
from greenscore.security.rbac import allowed_actions

REQUIRED = {
    "score",
    "jobs:create",
    "jobs:read",
    "review:read",
    "review:decide",
    "decisions:contest",
    "models:read",
    "models:manage",
    "keys:manage",
    "gdpr:erase",
    "gdpr:manage",
    "audit:read",
    "dlq:replay",
}


def p(role: str, mfa: bool = False) -> Principal:
    return Principal(id=f"{role}-1", role=role, kind="api_key", mfa_verified=mfa)


def test_table_covers_required_actions_and_admin_has_all() -> None:
    assert REQUIRED <= set(PERMISSIONS)
    assert set(ROLES) == {"scorer", "analyst", "admin"}
    assert allowed_actions("admin") == sorted(PERMISSIONS)
    assert {"models:manage", "keys:manage", "gdpr:erase"} <= MFA_ACTIONS


@pytest.mark.parametrize(
    ("role", "allowed", "denied"),
    [
        ("scorer", {"score", "jobs:create", "decisions:contest"}, {"review:decide", "audit:read"}),
        (
            "analyst",
            {"jobs:read", "review:read", "review:decide", "models:read", "audit:read"},
            {"score", "models:manage", "keys:manage", "gdpr:erase", "dlq:replay"},
        ),
    ],
)
def test_role_permissions(role: str, allowed: set[str], denied: set[str]) -> None:
    for action in allowed:
        authorize(p(role), action)
    for action in denied:
        with pytest.raises(PermissionDeniedError) as err:
            authorize(p(role, mfa=True), action)
        assert err.value.message == f"role '{role}' may not perform '{action}'"


def test_mfa_actions_need_mfa_even_for_admin() -> None:
    for action in MFA_ACTIONS:
        with pytest.raises(AuthError) as err:
            authorize(p("admin"), action)
        assert not isinstance(err.value, PermissionDeniedError)
        assert "multi-factor" in err.value.message
        authorize(p("admin", mfa=True), action)
    authorize(p("admin"), "dlq:replay")  # not MFA-gated


def test_unknown_action_is_config_error_and_unknown_role_denied() -> None:
    with pytest.raises(ConfigError, match="unknown action 'score:all'"):
        authorize(p("admin", mfa=True), "score:all")
    with pytest.raises(PermissionDeniedError, match="role 'root'"):
        authorize(Principal(id="x", role="root", kind="jwt"), "score")


def test_principal_is_frozen() -> None:
    principal = p("scorer")
    with pytest.raises(AttributeError):
        principal.role = "admin"  # type: ignore[misc]
