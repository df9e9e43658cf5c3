"""Consent records: grant and revoke per subject and purpose, with the full history kept.

Every change is a new row (nothing is updated in place), so the history answers "did we
have consent for this purpose on that date?". The subject is known here only by its
pseudonym (:func:`greenscore.security.pseudonym.subject_hash`, computed once by the
caller); each change is also written to the audit log under the same hash.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import func, select

from greenscore.config import Settings
from greenscore.errors import ConfigError, DataError, PrivacyError
from greenscore.security.audit import record_event
from greenscore.store import Database, database
from greenscore.store.tables.privacy import ConsentRecord

_PURPOSE = re.compile(r"^[a-z0-9][a-z0-9_.:-]{0,63}$")
_CHUNK = 500
NO_CONSENT = "no consent from this subject for purpose '{purpose}'"
CONSENT_MISSING = (
    "{who} has not consented to purpose '{purpose}', which scoring requires "
    "(privacy.require_consent); record it with 'greenscore gdpr consent grant'"
)
NO_SUBJECT_ID = (
    "scoring requires consent to purpose '{purpose}' (privacy.require_consent), which is "
    "checked by the applicant's id: send '{id_name}'"
)


class ConsentMissingError(DataError):
    """A subject is to be scored without the consent a setting requires (403, exit 2).

    A :class:`~greenscore.errors.DataError`: it is about what the caller sent (whom they
    asked to score), so the CLI exits 2 and the API answers 4xx; 403 because the request is
    well-formed but may not be carried out for that subject.
    """

    http_status = 403

    def __init__(self, message: str, *, purpose: str) -> None:
        super().__init__(message)
        self.purpose = purpose


@dataclass(frozen=True)
class ConsentEvent:
    """A consent change as shown to users (the subject is implied)."""

    purpose: str
    granted: bool
    at: datetime
    actor: str
    source: str | None


def _check_purpose(purpose: str) -> str:
    if not _PURPOSE.match(purpose or ""):
        raise ConfigError(
            f"consent purpose '{purpose}' must be 1-64 lower-case letters, digits or _.:- "
            "(e.g. 'credit_scoring', 'marketing')"
        )
    return purpose


def _change(
    subject_hash: str,
    purpose: str,
    *,
    granted: bool,
    actor: str,
    source: str | None,
    settings: Settings,
) -> ConsentEvent:
    purpose = _check_purpose(purpose)
    now = datetime.now(UTC)
    with database(settings).session() as session:
        session.add(
            ConsentRecord(
                subject_hash=subject_hash,
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
        subject_hash=subject_hash,
        details={"purpose": purpose, "source": source},
        settings=settings,
    )
    return ConsentEvent(purpose, granted, now, actor, source)


def grant_consent(
    subject_hash: str,
    purpose: str,
    *,
    actor: str,
    source: str | None = None,
    settings: Settings,
) -> ConsentEvent:
    """Record (and audit) that a subject, by pseudonym, consents to ``purpose``."""
    return _change(
        subject_hash, purpose, granted=True, actor=actor, source=source, settings=settings
    )


def revoke_consent(
    subject_hash: str,
    purpose: str,
    *,
    actor: str,
    source: str | None = None,
    settings: Settings,
) -> ConsentEvent:
    """Record (and audit) that a subject, by pseudonym, withdraws consent to ``purpose``."""
    return _change(
        subject_hash, purpose, granted=False, actor=actor, source=source, settings=settings
    )


def consent_history(subject_hash: str, *, db: Database) -> list[ConsentEvent]:
    """Every consent change of a subject, oldest first."""
    with db.session() as session:
        rows = session.execute(
            select(ConsentRecord)
            .where(ConsentRecord.subject_hash == subject_hash)
            .order_by(ConsentRecord.at, ConsentRecord.id)
        ).scalars()
        return [ConsentEvent(r.purpose, r.granted, r.at, r.actor, r.source) for r in rows]


def consent_status(subject_hash: str, *, db: Database) -> dict[str, bool]:
    """The current state per purpose: the latest change wins."""
    state: dict[str, bool] = {}
    for event in consent_history(subject_hash, db=db):
        state[event.purpose] = event.granted
    return state


def has_consent(subject_hash: str, purpose: str, *, db: Database) -> bool:
    """True when the subject's latest change for ``purpose`` is a grant."""
    return consent_status(subject_hash, db=db).get(_check_purpose(purpose), False)


def require_consent(subject_hash: str, purpose: str, *, db: Database) -> None:
    """Raise unless the subject currently consents to ``purpose``.

    Raises
    ------
    PrivacyError
        If consent was never given or was revoked.
    """
    if not has_consent(subject_hash, purpose, db=db):
        raise PrivacyError(NO_CONSENT.format(purpose=purpose))


def without_consent(subject_hashes: Iterable[str], purpose: str, *, db: Database) -> set[str]:
    """The subjects, among ``subject_hashes``, whose latest change for ``purpose`` is not a
    grant (or who never gave one); one query per 500 subjects."""
    wanted = set(subject_hashes)
    if not wanted:
        return set()
    purpose = _check_purpose(purpose)
    ordered = sorted(wanted)
    granted: set[str] = set()
    with db.session() as session:
        # In chunks: a file of many applicants must stay under the database's bound-parameter limit.
        for start in range(0, len(ordered), _CHUNK):
            chunk = ordered[start : start + _CHUNK]
            latest = (
                select(func.max(ConsentRecord.id))
                .where(ConsentRecord.purpose == purpose, ConsentRecord.subject_hash.in_(chunk))
                .group_by(ConsentRecord.subject_hash)
            )
            granted.update(
                session.execute(
                    select(ConsentRecord.subject_hash).where(
                        ConsentRecord.id.in_(latest), ConsentRecord.granted.is_(True)
                    )
                ).scalars()
            )
    return wanted - granted
