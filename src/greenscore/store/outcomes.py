"""Observed outcomes: whether a decided applicant defaulted, recorded against the decision.

Each row joins one decision of the prediction store (its ``request_id``) with what became
of the loan: ``defaulted``, when that was observed, and the loan date whose month is the
*vintage* performance is measured by. The decision's model, version, PD and date are
copied in when the outcome is recorded, so performance over time can still be measured
after the prediction rows themselves have been purged by retention.

An outcome names its decision by request id, or by the applicant id (matched through the
same keyed subject hash the prediction store keeps, which the caller's ``pseudonym``
function computes: the store never hashes; the latest decision about that applicant made
before the outcome was observed). Everything in a load is checked before
anything is written: an outcome that matches no decision, one observed before its
decision, or two outcomes for one decision refuse the whole load, naming the row. Loading
an outcome again replaces the stored one when it was observed later (a loan that was
current at six months may default by twelve); an older observation changes nothing.

Like the prediction store, a row keeps the subject only as its keyed hash, so erasure
(:func:`delete_outcomes_for_subject`) and retention (:func:`purge_outcomes`) can find it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import delete, select

from greenscore.errors import DataError
from greenscore.store._time import aware, utc
from greenscore.store.database import Database, affected_rows
from greenscore.store.tables.monitoring import OutcomeRecord
from greenscore.store.tables.predictions import PredictionRecord

NO_DECISION = "no decision found for {n} outcome(s), e.g. row {row} ({what})"
BEFORE_DECISION = (
    "row {row}: outcome observed at {observed} is before its decision at {decided} "
    "(request id '{request_id}')"
)
TWICE = "rows {first} and {second} both record an outcome for request id '{request_id}'"
NO_KEY = "row {row}: an outcome needs a request_id or an applicant_id"
NO_PSEUDONYM = "outcomes that name an applicant_id need the pseudonym function to match them"
#: Ids asked of the database per query (well under every backend's parameter limit).
_CHUNK = 500


@dataclass(frozen=True)
class Outcome:
    """One observed outcome to record (a row of a file, an item of an API call).

    Attributes
    ----------
    defaulted : whether the loan defaulted.
    observed_at : when that was observed.
    request_id : the decision's request id; or
    applicant_id : the applicant's id (the latest decision about them before
        ``observed_at`` is used).
    loan_date : when the loan was granted (default: the decision's date); its month is
        the vintage.
    """

    defaulted: bool
    observed_at: datetime
    request_id: str | None = None
    applicant_id: str | None = None
    loan_date: datetime | None = None


@dataclass(frozen=True)
class LoadResult:
    """What a load did: rows inserted, replaced by a later observation, left as they were."""

    inserted: int
    updated: int
    unchanged: int

    def to_dict(self) -> dict[str, int]:
        """Plain data for output and audit."""
        return {"inserted": self.inserted, "updated": self.updated, "unchanged": self.unchanged}


def _chunks(items: list[str]) -> list[list[str]]:
    return [items[i : i + _CHUNK] for i in range(0, len(items), _CHUNK)]


def _decisions(
    session: Any,
    outcomes: Sequence[Outcome],
    tenant: str | None,
    pseudonym: Callable[[str], str] | None,
) -> list[PredictionRecord | None]:
    """The decision each outcome names, or None (one query per chunk of ids)."""
    by_request: dict[str, PredictionRecord] = {}
    ids = sorted({o.request_id for o in outcomes if o.request_id is not None})
    for chunk in _chunks(ids):
        rows = session.execute(
            select(PredictionRecord).where(PredictionRecord.request_id.in_(chunk))
        ).scalars()
        by_request.update({r.request_id: r for r in rows})
    by_applicant = [
        i for i, o in enumerate(outcomes) if o.request_id is None and o.applicant_id is not None
    ]
    hashes: dict[int, str] = {}
    if by_applicant:
        if pseudonym is None:
            raise DataError(NO_PSEUDONYM)
        hashes = {i: pseudonym(str(outcomes[i].applicant_id)) for i in by_applicant}
    by_subject: dict[str, list[PredictionRecord]] = {}
    for chunk in _chunks(sorted({h for h in hashes.values() if h})):
        rows = session.execute(
            select(PredictionRecord).where(PredictionRecord.subject_hash.in_(chunk))
        ).scalars()
        for r in rows:
            by_subject.setdefault(r.subject_hash, []).append(r)
    found: list[PredictionRecord | None] = []
    for i, outcome in enumerate(outcomes):
        if outcome.request_id is not None:
            record = by_request.get(outcome.request_id)
        else:
            observed = utc(outcome.observed_at)
            # The tenant's own latest decision: another tenant's later one must neither
            # hide it nor be chosen.
            earlier = [
                r
                for r in by_subject.get(hashes.get(i) or "", [])
                if utc(r.created_at) <= observed and (tenant is None or r.tenant == tenant)
            ]
            record = max(earlier, key=lambda r: utc(r.created_at)) if earlier else None
        # Another tenant's decision is reported exactly as a missing one.
        if record is not None and tenant is not None and record.tenant != tenant:
            record = None
        found.append(record)
    return found


def _check(outcomes: Sequence[Outcome], decisions: list[PredictionRecord | None]) -> None:
    for i, outcome in enumerate(outcomes):
        if outcome.request_id is None and outcome.applicant_id is None:
            raise DataError(NO_KEY.format(row=i))
    missing = [i for i, d in enumerate(decisions) if d is None]
    if missing:
        first = outcomes[missing[0]]
        what = (
            f"request id '{first.request_id}'"
            if first.request_id is not None
            else "its applicant id has no decision before the outcome was observed"
        )
        raise DataError(NO_DECISION.format(n=len(missing), row=missing[0], what=what))
    seen: dict[str, int] = {}
    for i, (outcome, decision) in enumerate(zip(outcomes, decisions, strict=True)):
        assert decision is not None
        if decision.request_id in seen:
            raise DataError(
                TWICE.format(
                    first=seen[decision.request_id], second=i, request_id=decision.request_id
                )
            )
        seen[decision.request_id] = i
        if utc(outcome.observed_at) < utc(decision.created_at):
            raise DataError(
                BEFORE_DECISION.format(
                    row=i,
                    observed=utc(outcome.observed_at).isoformat(),
                    decided=utc(decision.created_at).isoformat(),
                    request_id=decision.request_id,
                )
            )


def record_outcomes(
    outcomes: Sequence[Outcome],
    *,
    source: str | None = None,
    tenant: str | None = None,
    pseudonym: Callable[[str], str] | None = None,
    db: Database,
) -> LoadResult:
    """Record observed outcomes against their decisions, all or nothing.

    Parameters
    ----------
    outcomes : sequence of Outcome
    source : str, optional
        Where they came from (a file name, ``api``), kept with each row.
    tenant : str, optional
        When given, only this tenant's decisions may be named (an API caller's own);
        another's is reported as not found.
    pseudonym : callable, optional
        An applicant id's subject hash (:func:`greenscore.security.pseudonym.subject_hash`
        with the settings bound); needed when an outcome names an ``applicant_id``.
    db : Database

    Raises
    ------
    DataError
        Naming the row of an outcome without an id, one that matches no decision, one
        observed before its decision, or a second outcome for one decision.
    """
    now = datetime.now(UTC)
    inserted = updated = unchanged = 0
    with db.session() as session:
        decisions = _decisions(session, outcomes, tenant, pseudonym)
        _check(outcomes, decisions)
        ids = [d.request_id for d in decisions if d is not None]
        stored: dict[str, OutcomeRecord] = {}
        for chunk in _chunks(ids):
            rows = session.execute(
                select(OutcomeRecord).where(OutcomeRecord.request_id.in_(chunk))
            ).scalars()
            stored.update({r.request_id: r for r in rows})
        for outcome, decision in zip(outcomes, decisions, strict=True):
            assert decision is not None
            loan_date = aware(outcome.loan_date or decision.created_at)
            values = {
                "defaulted": bool(outcome.defaulted),
                "observed_at": aware(outcome.observed_at),
                "loan_date": loan_date,
                "vintage": f"{utc(loan_date):%Y-%m}",
                "recorded_at": now,
                "source": source,
            }
            row = stored.get(decision.request_id)
            if row is None:
                session.add(
                    OutcomeRecord(
                        request_id=decision.request_id,
                        subject_hash=decision.subject_hash,
                        model_name=decision.model_name,
                        model_version=decision.model_version,
                        probability=decision.probability,
                        decision=decision.decision,
                        decided_at=decision.created_at,
                        tenant=decision.tenant,
                        **values,
                    )
                )
                inserted += 1
            elif utc(outcome.observed_at) > utc(row.observed_at):
                for key, value in values.items():
                    setattr(row, key, value)
                updated += 1
            else:
                unchanged += 1
    return LoadResult(inserted=inserted, updated=updated, unchanged=unchanged)


def outcome_rows(
    *,
    model_name: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    db: Database,
) -> list[dict[str, Any]]:
    """Stored outcomes (optionally of one model, loans granted in ``[since, until)``).

    Returns
    -------
    list of dict
        ``request_id``, ``model_name``, ``model_version``, ``probability``, ``decision``,
        ``decided_at``, ``loan_date``, ``vintage``, ``defaulted``, ``observed_at``, oldest
        loan first.
    """
    query = select(OutcomeRecord).order_by(OutcomeRecord.loan_date, OutcomeRecord.request_id)
    if model_name is not None:
        query = query.where(OutcomeRecord.model_name == model_name)
    if since is not None:
        query = query.where(OutcomeRecord.loan_date >= aware(since))
    if until is not None:
        query = query.where(OutcomeRecord.loan_date < aware(until))
    keys = (
        "request_id",
        "model_name",
        "model_version",
        "probability",
        "decision",
        "decided_at",
        "loan_date",
        "vintage",
        "defaulted",
        "observed_at",
    )
    with db.session() as session:
        return [{k: getattr(r, k) for k in keys} for r in session.execute(query).scalars()]


def delete_outcomes_for_subject(subject_hash: str, *, db: Database) -> int:
    """Delete every outcome about a subject (erasure); returns how many were deleted."""
    with db.session() as session:
        result = session.execute(
            delete(OutcomeRecord).where(OutcomeRecord.subject_hash == subject_hash)
        )
        return affected_rows(result)


def purge_outcomes(before: datetime, *, db: Database) -> int:
    """Delete outcomes of decisions made before ``before`` (retention); returns how many."""
    with db.session() as session:
        result = session.execute(
            delete(OutcomeRecord).where(OutcomeRecord.decided_at < aware(before))
        )
        return affected_rows(result)
