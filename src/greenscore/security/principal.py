"""Who is calling: the one identity type every authenticator returns and RBAC checks."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

PrincipalKind = Literal["api_key", "jwt", "user"]


@dataclass(frozen=True)
class Principal:
    """An authenticated caller.

    Attributes
    ----------
    id : str
        The API key id, the token subject or the operator's user name.
    role : str
        One of :data:`greenscore.security.rbac.ROLES`.
    kind : {"api_key", "jwt", "user"}
        How the caller proved who it is.
    mfa_verified : bool
        True when a second factor (TOTP, or a token issued after one) was checked.
    """

    id: str
    role: str
    kind: PrincipalKind
    mfa_verified: bool = False
