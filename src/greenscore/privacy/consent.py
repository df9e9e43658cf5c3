"""Consent records: grant and revoke per subject and purpose, with the full history kept.

Every change is a new row (nothing is updated in place), so the history answers "did we
have consent for this purpose on that date?". The subject is stored only as
``hash_subject(subject)``; each change is also written to the audit log.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import select

from greenscore.errors import ConfigError, PrivacyError
from greenscore.store import session_scope
from greenscore.store.tables.privacy import ConsentRecord

_PURPOSE = re.compile(r"^[a-z0-9][a-z0-9_.:-]{0,63}$")
NO_CONSENT = "no consent from this subject for purpose '{purpose}'"


@dataclass(frozen=True)
class ConsentEvent:
    """A consent change as shown to users (the subject is implied)."""

    purpose: str
    granted: bool
    at: datetime
    actor: str
    source: str | None


def _hash(subject: str) -> str:
    from greenscore.security.audit import hash_subject

    return hash_subject(str(subject))


def _check_purpose(purpose: str) -> str:
    if not _PURPOSE.match(purpose or ""):
        raise ConfigError(
            f"consent purpose '{purpose}' must be 1-64 lower-case letters, digits or _.:- "
            "(e.g. 'credit_scoring', 'marketing')"
        )
    return purpose


def _change(
    subject: str, purpose: str, *, granted: bool, actor: str, source: str | None, url: str | None
) -> ConsentEvent:
    from greenscore.security.audit import record_event

    purpose = _check_purpose(purpose)
    now = datetime.now(UTC)
    with session_scope(url) as session:
        session.add(
            ConsentRecord(
                subject_hash=_hash(subject),
                purpose=purpose,
                granted=granted,
                at=now,
                actor=actor,
                source=source,
            )
        )
    record_event(
        "gdpr.consent.grant" if granted else "gdpr.consent.revoke",
        actor=actor,
        subject=str(subject),
        details={"purpose": purpose, "source": source},
    )
    return ConsentEvent(purpose, granted, now, actor, source)


def grant_consent(
    subject: str, purpose: str, *, actor: str, source: str | None = None, url: str | None = None
) -> ConsentEvent:
    """Record that ``subject`` consents to ``purpose``."""
    return _change(subject, purpose, granted=True, actor=actor, source=source, url=url)


def revoke_consent(
    subject: str, purpose: str, *, actor: str, source: str | None = None, url: str | None = None
) -> ConsentEvent:
    """Record that ``subject`` withdraws consent to ``purpose``."""
    return _change(subject, purpose, granted=False, actor=actor, source=source, url=url)


def consent_history(subject: str, *, url: str | None = None) -> list[ConsentEvent]:
    """Every consent change of a subject, oldest first."""
    with session_scope(url) as session:
        rows = session.execute(
            select(ConsentRecord)
            .where(ConsentRecord.subject_hash == _hash(subject))
            .order_by(ConsentRecord.at, ConsentRecord.id)
        ).scalars()
        return [ConsentEvent(r.purpose, r.granted, r.at, r.actor, r.source) for r in rows]


def consent_status(subject: str, *, url: str | None = None) -> dict[str, bool]:
    """The current state per purpose: the latest change wins."""
    state: dict[str, bool] = {}
    for event in consent_history(subject, url=url):
        state[event.purpose] = event.granted
    return state


def has_consent(subject: str, purpose: str, *, url: str | None = None) -> bool:
    """True when the subject's latest change for ``purpose`` is a grant."""
    return consent_status(subject, url=url).get(_check_purpose(purpose), False)


def require_consent(subject: str, purpose: str, *, url: str | None = None) -> None:
    """Raise unless the subject currently consents to ``purpose``.

    Raises
    ------
    PrivacyError
        If consent was never given or was revoked.
    """
    if not has_consent(subject, purpose, url=url):
        raise PrivacyError(NO_CONSENT.format(purpose=purpose))
