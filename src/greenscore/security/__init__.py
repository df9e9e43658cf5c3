"""Security core: who is calling (API keys, JWTs, TOTP with lockout), what they may do
(RBAC), what they did (keyed hash-chained audit log, anchored outside the database), the
secrets it keeps (sealed under the keyring), and TLS 1.3 for the service. See
``docs/security.md``.
"""

from greenscore.security.api_keys import create_key, list_keys, revoke_key, verify_key
from greenscore.security.audit import (
    AuditVerification,
    chain_head,
    find_events,
    record_event,
    verify_chain,
)
from greenscore.security.mfa import authenticate_user, enroll, is_enrolled, verify_totp
from greenscore.security.principal import Principal
from greenscore.security.pseudonym import subject_hash
from greenscore.security.rbac import MFA_ACTIONS, PERMISSIONS, ROLES, allowed_actions, authorize
from greenscore.security.tls import generate_self_signed, server_ssl_context, uvicorn_ssl_kwargs
from greenscore.security.tokens import (
    issue_token,
    retire_signing_key,
    rotate_signing_key,
    verify_token,
)

__all__ = [
    "MFA_ACTIONS",
    "PERMISSIONS",
    "ROLES",
    "AuditVerification",
    "Principal",
    "allowed_actions",
    "authenticate_user",
    "authorize",
    "chain_head",
    "create_key",
    "enroll",
    "find_events",
    "generate_self_signed",
    "is_enrolled",
    "issue_token",
    "list_keys",
    "record_event",
    "retire_signing_key",
    "revoke_key",
    "rotate_signing_key",
    "server_ssl_context",
    "subject_hash",
    "uvicorn_ssl_kwargs",
    "verify_chain",
    "verify_key",
    "verify_token",
    "verify_totp",
]
