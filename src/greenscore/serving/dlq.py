"""The dead-letter table: every request that no model could answer, kept whole for replay.

When the primary model fails and no fallback can answer, or anything inside the service
breaks, the request (its parsed applicants, or the raw body if it never got that far) is
written here with the error and the model that should have answered, and the caller gets
503 with the request id. ``greenscore dlq list`` shows them; ``greenscore dlq replay``
scores them again (with the recorded model or another one) and records the decisions
under their original request ids, so nothing a caller sent is lost.

What a letter holds of the applicants is kept as sealed rows
(:mod:`greenscore.privacy.sealed`, kind ``dead_letters``): encrypted at rest always,
found by subject for erasure (an erased applicant reads as ``{"erased": true}`` and is
not replayed) and purged under the ``dead_letters`` retention target. The table itself
keeps only what is needed to list letters: ids, route, caller, model, error. Fields the
model never reads are dropped first when the caller says which to keep (``keep``).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Collection, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select, update

from greenscore.errors import GreenScoreError, NotFoundError
from greenscore.logging import get_logger
from greenscore.privacy import sealed
from greenscore.store import Database
from greenscore.store.tables.serving import DeadLetter

PENDING, REPLAYED, FAILED = "pending", "replayed", "failed"
NO_LETTER = "no dead letter with id {id}"
SEALED_KIND = "dead_letters"
# The payload column says how the sealed rows make the payload back (no applicant data).
_APPLICANTS, _RAW = "sealed:applicants", "sealed:raw"
#: The lists of applicants a request body may hold (a batch's, a job's).
APPLICANT_LISTS = ("applicants", "records")


_TABLE = DeadLetter.__table__
log = get_logger(__name__)


def minimise(payload: Any, keep: Collection[str]) -> Any:
    """The payload with only the ``keep`` fields of each applicant (a dict, or a list of
    them under ``applicants``/``records``); anything else is returned as it is."""
    fields = set(keep)

    def cut(item: Any) -> Any:
        return {k: v for k, v in item.items() if k in fields} if isinstance(item, dict) else item

    if isinstance(payload, dict):
        lists = {k: payload[k] for k in APPLICANT_LISTS if isinstance(payload.get(k), list)}
        if lists:
            return {**payload, **{k: [cut(x) for x in v] for k, v in lists.items()}}
        return cut(payload)
    return payload


def record_dead_letter(
    *,
    request_id: str,
    kind: str,
    error: str,
    payload: Any,
    route: str | None = None,
    actor: str | None = None,
    model: str | None = None,
    subject_hashes: Sequence[str | None] | None = None,
    mentions: Callable[[Sequence[Any]], Sequence[sealed.Mention]] | None = None,
    keep: Collection[str] | None = None,
    db: Database,
) -> int:
    """Keep one failed request (its applicant data sealed); returns its dead-letter id.

    Parameters
    ----------
    request_id : str
        The id the caller was given.
    kind : {"score", "batch", "job", "http"}
        ``score``/``batch``/``job``: ``payload`` is ``{"applicants": [...]}``, replayable;
        ``http``: the raw body of a request that failed before it was parsed.
    error : str
        What went wrong (one line).
    payload : JSON-serialisable
    subject_hashes : sequence, optional
        The subject hash of each of ``payload["applicants"]`` (None where there is no id),
        so erasure finds them.
    mentions : callable, optional
        Given the rows to keep, the places in them naming other borrowers (their links;
        :func:`~greenscore.serving.named_subjects.named_subjects`), so erasing one of those
        borrowers reaches this letter too. If it fails for want of a pepper, the letter is
        kept all the same, unindexed: losing the request would be worse.
    keep : collection of str, optional
        Fields to keep of each applicant (the model's inputs and the id); the rest are
        dropped before anything is stored.

    Raises
    ------
    PrivacyError
        If the payload cannot be encrypted (no usable key); nothing is stored then.
    """
    if keep is not None:
        payload = minimise(payload, keep)
    applicants = isinstance(payload, dict) and isinstance(payload.get("applicants"), list)
    rows = payload["applicants"] if applicants else [payload]
    with db.begin() as conn:
        result = conn.execute(
            _TABLE.insert().values(
                request_id=request_id,
                created_at=datetime.now(UTC),
                kind=kind,
                route=route,
                actor=actor,
                model=model,
                error=error[:2000],
                payload=_APPLICANTS if applicants else _RAW,
                status=PENDING,
            )
        )
        # A single-row INSERT always has its key (None is for other statements).
        key = result.inserted_primary_key
        assert key is not None
        letter_id = int(key[0])
    try:
        unit = sealed.Unit(
            ref=str(letter_id),
            rows=rows,
            subject_hashes=subject_hashes,
            mentions=_named(mentions, rows, request_id),
        )
        sealed.seal(SEALED_KIND, [unit], db=db)
    except Exception:
        with db.begin() as conn:  # no letter without its payload
            conn.execute(_TABLE.delete().where(_TABLE.c.id == letter_id))
        raise
    return letter_id


def _named(
    mentions: Callable[[Sequence[Any]], Sequence[sealed.Mention]] | None,
    rows: Sequence[Any],
    request_id: str,
) -> Sequence[sealed.Mention]:
    if mentions is None:
        return ()
    try:
        return mentions(rows)
    except GreenScoreError as exc:
        log.error(
            "dead letter kept without its link index",
            extra={"request_id": request_id, "error": str(exc)},
        )
        return ()


def _out(row: Any) -> dict[str, Any]:
    return {
        "id": row.id,
        "request_id": row.request_id,
        "created_at": row.created_at.isoformat() if row.created_at else None,
        "kind": row.kind,
        "route": row.route,
        "actor": row.actor,
        "model": row.model,
        "error": row.error,
        "status": row.status,
        "note": row.note,
    }


def list_dead_letters(
    *, status: str | None = PENDING, limit: int = 100, db: Database
) -> list[dict[str, Any]]:
    """Dead letters, oldest first (``status=None`` for all)."""
    query = select(_TABLE).order_by(_TABLE.c.id).limit(limit)
    if status is not None:
        query = query.where(_TABLE.c.status == status)
    with db.connect() as conn:
        return [_out(r) for r in conn.execute(query).all()]


def get_dead_letter(letter_id: int, *, db: Database) -> dict[str, Any]:
    """One dead letter with its payload parsed.

    Raises
    ------
    NotFoundError
        If there is none with that id.
    """
    with db.connect() as conn:
        row = conn.execute(select(_TABLE).where(_TABLE.c.id == letter_id)).one_or_none()
    if row is None:
        raise NotFoundError(NO_LETTER.format(id=letter_id))
    return {**_out(row), "payload": _payload(row, db)}


def _payload(row: Any, db: Database) -> Any:
    if row.payload not in (_APPLICANTS, _RAW):
        return json.loads(row.payload)  # a letter from before payloads were sealed
    try:
        rows = sealed.unseal(SEALED_KIND, str(row.id), db=db)
    except NotFoundError:
        return None  # purged under the retention period
    return {"applicants": rows} if row.payload == _APPLICANTS else rows[0]


def mark(letter_id: int, status: str, note: str | None = None, *, db: Database) -> None:
    """Set a dead letter's status after a replay."""
    with db.begin() as conn:
        conn.execute(
            update(_TABLE)
            .where(_TABLE.c.id == letter_id)
            .values(status=status, replayed_at=datetime.now(UTC), note=note)
        )
