"""Pseudonyms: the one keyed hash under which GreenScore keeps a subject (an applicant).

Every table that must find one person's rows — predictions, outcomes, consent, lineage,
sealed rows — and the audit log keep only :func:`subject_hash` of the subject: an
HMAC-SHA256 under the *audit pepper*, ``security.audit_pepper`` when set (it must be,
outside local and test use), else a secret generated once and kept sealed in the
database. The same subject gets the same hash everywhere, so erasure and subject access
find every row, and without the pepper a hash cannot be recomputed from a guessed id.

Hash once, where the raw subject enters (a request, a command line, a file), and pass the
hash down: the store never hashes, and never imports this module.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable

from greenscore.config import Settings
from greenscore.security._secrets import refuse_generated, stored_secret
from greenscore.store import database_url

_peppers: dict[tuple[str, str | None], bytes] = {}


def pepper(settings: Settings) -> bytes:
    """The HMAC key of subject hashes (configured, else generated and stored; cached).

    Raises
    ------
    ConfigError
        Outside local/test use when ``security.audit_pepper`` is not set.
    """
    configured = settings.security.audit_pepper
    plain = configured.get_secret_value() if configured is not None else None
    key = (database_url(settings), plain)
    cached = _peppers.get(key)
    if cached is not None:
        return cached
    if plain:
        value = plain.encode("utf-8")
    else:
        refuse_generated(settings, "audit_pepper")
        value = stored_secret("audit_pepper", settings=settings).encode("utf-8")
    _peppers[key] = value
    return value


def subject_hash(subject: object, *, settings: Settings) -> str:
    """HMAC-SHA256 (hex) of a subject under the pepper: stable, not reversible.

    Raises
    ------
    ConfigError
        Outside local/test use when ``security.audit_pepper`` is not set.
    """
    return hmac.new(pepper(settings), str(subject).encode("utf-8"), hashlib.sha256).hexdigest()


def subject_hashes(subjects: Iterable[object], *, settings: Settings) -> list[str | None]:
    """:func:`subject_hash` of each subject; None (or an empty id) stays None."""
    key = None
    out: list[str | None] = []
    for subject in subjects:
        if subject is None or str(subject) == "":
            out.append(None)
            continue
        key = key or pepper(settings)
        out.append(hmac.new(key, str(subject).encode("utf-8"), hashlib.sha256).hexdigest())
    return out
