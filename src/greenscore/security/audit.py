"""Append-only, keyed hash chain of audit events: who did what, when, to whom (hashed).

Each entry's ``hash`` is an HMAC-SHA256, under a key derived from the keyring (purpose
``"audit-chain"``, see :func:`greenscore.privacy.keys.derived_key`), over the canonical
JSON of its fields, including the previous entry's MAC. Editing, inserting or deleting an
entry breaks the chain from that point, and since only a holder of the master key can
compute a MAC, nobody else can rewrite the chain consistently or append a forged entry.
A one-row *head* (entry count, last id, last MAC), updated in the same transaction as
each insert, also exposes deletion of the newest entries unless the head is rewritten too;
a truncation with a head update is caught by comparing with an *anchor*, a signed copy of
the head kept outside the database (:mod:`greenscore.security.anchor`).

Chains started by release 0.1.0 were unkeyed (plain SHA-256 of the same JSON). The first
append by this release records a *switch-over* (``security_audit_keying``): the id of the
first keyed entry and the hash of the last unkeyed one, itself under an HMAC. Verification
checks entries before it as plain SHA-256 and entries from it on as HMACs; a log with
entries but no switch-over record fails, so deleting the record to pass a plain rewrite off
as an old chain does not work. Every writer of one database must run this release (an
older process appending unkeyed entries after the switch-over breaks the chain).

Subjects (applicants, borrowers) are never stored: only their pseudonym
(:func:`greenscore.security.pseudonym.subject_hash`, an HMAC-SHA256 under the audit
pepper), so the log can find a subject's events without naming them.

Writers are serialised by a process lock and, across processes, by the database: SQLite
takes its write lock up front (``BEGIN IMMEDIATE``); PostgreSQL locks the head row
(``SELECT ... FOR UPDATE``). The head read and the insert are one transaction.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Engine, bindparam, func, select
from sqlalchemy.exc import IntegrityError

from greenscore.config import Settings, get_settings
from greenscore.errors import ConfigError, DataError, PrivacyError
from greenscore.privacy.keys import derived_key
from greenscore.security import pseudonym
from greenscore.store import database
from greenscore.store.tables.security import AuditEntry, AuditHead, AuditKeying
from greenscore.store.writer_turn import writer_turn

GENESIS = "0" * 64
HEAD_ID = 1
KEYING_ID = 1
CHAIN_KEY_PURPOSE = "audit-chain"
_CHUNK = 5000
MISSING_HEAD = (
    "audit log head is missing while the log holds {n} entries; "
    "run 'greenscore audit verify' and restore the database"
)
RAW_SUBJECT = (
    "audit details field '{field}' contains the raw subject; pass it as subject= so only "
    "its hash is stored"
)
NOT_JSON = "audit details for action '{action}' are not JSON-serialisable: {error}"
NOT_KEYED = (
    "not keyed: the log holds entries but no switch-over record; either the record was "
    "removed, or the database comes from release 0.1.0 and nothing was audited since "
    "(then run 'greenscore audit anchor' once: its event starts the keyed chain)"
)
SWITCH_ALTERED = "the switch-over record is altered (its MAC does not match)"
LEGACY_REWRITTEN = "the unkeyed entries before the switch-over were rewritten"


@dataclass(frozen=True)
class AuditVerification:
    """Result of :func:`verify_chain`.

    Attributes
    ----------
    ok : bool
        True when every entry and the head agree.
    checked : int
        Entries whose hash and link were checked.
    first_bad_id : int or None
        The first entry that was altered, forged or is missing.
    reason : str
        One line saying what was found.
    """

    ok: bool
    checked: int
    first_bad_id: int | None
    reason: str


_write_lock = threading.Lock()
# Databases whose switch-over record this process has seen or written.
_keyed: set[str] = set()
_LOG = AuditEntry.__table__
_HEAD = AuditHead.__table__
_KEYING = AuditKeying.__table__
_SELECT_KEYING = select(_KEYING.c.keyed_from).where(_KEYING.c.id == KEYING_ID)
# Built once: record_event runs per decision, and building Core statements costs more
# than executing these cached ones.
_SELECT_HEAD = select(_HEAD.c.count, _HEAD.c.last_id, _HEAD.c.head_hash).where(
    _HEAD.c.id == HEAD_ID
)
_SELECT_HEAD_FOR_UPDATE = _SELECT_HEAD.with_for_update()
_INSERT_ENTRY = _LOG.insert()
_INSERT_HEAD = _HEAD.insert()
_UPDATE_HEAD = (
    _HEAD.update()
    .where(_HEAD.c.id == HEAD_ID)
    .values(
        count=bindparam("new_count"),
        last_id=bindparam("new_last_id"),
        head_hash=bindparam("new_hash"),
    )
)


def canonical_json(value: Any) -> str:
    """Sorted-key, compact, UTF-8 JSON: one text per value, so hashes are reproducible."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _entry_payload(
    *,
    id: int,  # noqa: A002 - the column's name
    ts: str,
    action: str,
    actor: str,
    subject_hash: str | None,
    details: str,
    prev_hash: str,
) -> bytes:
    return canonical_json(
        {
            "id": id,
            "ts": ts,
            "action": action,
            "actor": actor,
            "subject_hash": subject_hash,
            "details": details,
            "prev_hash": prev_hash,
        }
    ).encode("utf-8")


def entry_hash(**fields: Any) -> str:
    """Plain SHA-256 (hex) of an entry's canonical JSON: how unkeyed (0.1.0) entries chain.

    Takes the entry's fields as keywords: ``id``, ``ts``, ``action``, ``actor``,
    ``subject_hash``, ``details``, ``prev_hash``.
    """
    return hashlib.sha256(_entry_payload(**fields)).hexdigest()


def entry_mac(key: bytes, **fields: Any) -> str:
    """HMAC-SHA256 (hex) of an entry's canonical JSON under the chain key (keyed entries)."""
    return hmac.new(key, _entry_payload(**fields), hashlib.sha256).hexdigest()


def switch_mac(key: bytes, *, keyed_from: int, legacy_head: str) -> str:
    """HMAC-SHA256 (hex) of the switch-over record."""
    payload = canonical_json(
        {"record": "switch-over", "keyed_from": keyed_from, "legacy_head": legacy_head}
    )
    return hmac.new(key, payload.encode("utf-8"), hashlib.sha256).hexdigest()


def chain_key(settings: Settings | None = None) -> bytes:
    """The HMAC key of the chain (from the keyring; cached per process).

    Raises
    ------
    PrivacyError
        If there is no usable master key (in production it must be configured).
    """
    return derived_key(CHAIN_KEY_PURPOSE, settings or get_settings())


def _leaves(value: Any, path: str) -> list[tuple[str, Any]]:
    if isinstance(value, dict):
        out = []
        for k, v in value.items():
            here = f"{path}.{k}" if path else str(k)
            out.append((here, str(k)))
            out.extend(_leaves(v, here))
        return out
    if isinstance(value, list | tuple):
        return [leaf for i, v in enumerate(value) for leaf in _leaves(v, f"{path}[{i}]")]
    return [(path, value)]


def _check_no_subject(details: dict, subject: str) -> None:
    for field, leaf in _leaves(details, ""):
        text = str(leaf)
        # Short subjects (e.g. id 7) would match unrelated numbers as substrings.
        if text == subject or (len(subject) >= 4 and subject in text):
            raise PrivacyError(RAW_SUBJECT.format(field=field))


def record_event(
    action: str,
    *,
    actor: str,
    subject: str | None = None,
    details: dict | None = None,
    subject_hash: str | None = None,
    settings: Settings | None = None,
) -> int:
    """Append one event to the chain and return its id.

    Parameters
    ----------
    action : str
        What happened (``"score"``, ``"keys.create"``, ``"gdpr.erase"``, ...).
    actor : str
        Who did it (API key id, token subject, operator user name).
    subject : str, optional
        Whom it concerns; stored only as its pseudonym.
    details : dict, optional
        JSON-serialisable context; must not contain the raw subject.
    subject_hash : str, optional
        The subject's pseudonym (:func:`~greenscore.security.pseudonym.subject_hash`), when
        the caller has it already (then it is not hashed again), or instead of ``subject``.
    settings : Settings, optional
        Whose database, keyring and pepper (transitional default: the process-wide ones).

    Returns
    -------
    int
        The new entry's id (1, 2, 3, ... with no gaps).

    Raises
    ------
    PrivacyError
        If ``details`` contains the raw subject.
    DataError
        If ``details`` is not JSON-serialisable, or the chain head is missing.
    ConfigError
        If ``action`` or ``actor`` is empty.
    """
    event = AuditEvent(
        action=action, actor=actor, subject=subject, details=details, subject_hash=subject_hash
    )
    return record_events([event], settings=settings)[0]


@dataclass(frozen=True)
class AuditEvent:
    """One event for :func:`record_events` (fields as :func:`record_event`'s arguments).

    ``subject_hash`` is the subject's pseudonym, for a caller that hashed it
    already (it stores the same hash beside the event): give it with ``subject`` to skip
    a second hash, or alone when the details are built without the raw subject.
    """

    action: str
    actor: str
    subject: str | None = None
    details: dict | None = None
    subject_hash: str | None = None


def record_events(
    events: Sequence[AuditEvent],
    *,
    also: Callable[[Connection], object] | None = None,
    settings: Settings | None = None,
) -> list[int]:
    """Append events to the chain in one transaction and return their ids, in order.

    Parameters
    ----------
    events : sequence of AuditEvent
    also : callable, optional
        ``also(conn)`` runs on the same connection after the events are appended, before
        the commit: rows it writes (the decisions' prediction rows) commit with the events
        or, if anything fails, neither does.

    Raises
    ------
    PrivacyError, DataError, ConfigError
        As :func:`record_event`, for the first event that is refused (nothing is written).
    """
    settings = settings or get_settings()
    entries = [_entry(e, settings) for e in events]
    if not entries:
        return []
    eng = database(settings).engine
    key = chain_key(settings)
    durable = settings.security.audit_durable_commits
    with _write_lock:
        try:
            return _append_once(eng, entries, key, durable, also)
        except IntegrityError:
            # Two processes created the head row at once (PostgreSQL): it exists now.
            return _append_once(eng, entries, key, durable, also)


@dataclass(frozen=True)
class _Entry:
    action: str
    actor: str
    subject_hash: str | None
    details: str


def _entry(event: AuditEvent, settings: Settings) -> _Entry:
    """An event checked (no raw subject in the details) and serialised for the chain."""
    action, actor = event.action, event.actor
    if not action or not actor:
        raise ConfigError("audit events need a non-empty action and actor")
    details = event.details or {}
    if not isinstance(details, dict):
        raise DataError(f"audit details for action '{action}' must be a dict")
    subject_hash = event.subject_hash
    if event.subject is not None:
        subject = str(event.subject)
        _check_no_subject(details, subject)
        subject_hash = subject_hash or pseudonym.subject_hash(subject, settings=settings)
    try:
        details_text = canonical_json(details)
    except (TypeError, ValueError) as exc:
        raise DataError(NOT_JSON.format(action=action, error=exc)) from exc
    return _Entry(action, actor, subject_hash, details_text)


def _append_once(
    eng: Engine,
    entries: list[_Entry],
    key: bytes,
    durable: bool,
    also: Callable[[Connection], object] | None,
) -> list[int]:
    url = str(eng.url)
    # Queue on the file's writer turn before BEGIN IMMEDIATE: a wait ends when the last
    # writer commits, not at the next tick of SQLite's sleeping busy handler.
    with writer_turn(eng), eng.connect() as conn:
        try:
            entry_ids = _append(conn, entries, key, durable, keyed=url in _keyed)
            if also is not None:
                also(conn)
            conn.commit()
        except BaseException:
            conn.rollback()
            raise
        finally:
            if conn.dialect.name == "sqlite" and durable:
                _back_to_normal(conn)
        _keyed.add(url)  # committed: the switch-over record exists now
        return entry_ids


def _back_to_normal(conn: Connection) -> None:
    """Hand a pooled SQLite connection back with the store's setting (NORMAL, see
    store.engine), committed or not: appends that are not durable rely on it. One that
    cannot take it is dropped from the pool rather than left waiting for the disk."""
    try:
        conn.exec_driver_sql("PRAGMA synchronous=NORMAL")
    except Exception:  # noqa: BLE001 - the append's own outcome is what the caller hears
        conn.invalidate()


def _lock_head(conn: Connection, durable: bool):  # noqa: ANN202 - a SQLAlchemy Row or None
    if conn.dialect.name == "sqlite":
        if durable:
            # Per connection and outside a transaction: this commit waits for the disk.
            # (Every pooled connection is NORMAL otherwise: one statement less per commit.)
            conn.exec_driver_sql("PRAGMA synchronous=FULL")
        # Take the write lock before reading the head, so no other process can append
        # between our read and our insert (and WAL never has to refuse a stale upgrade).
        conn.exec_driver_sql("BEGIN IMMEDIATE")
        return conn.execute(_SELECT_HEAD).one_or_none()
    head = conn.execute(_SELECT_HEAD_FOR_UPDATE).one_or_none()
    if conn.dialect.name == "postgresql" and not durable:
        # The head row stays locked until commit: not waiting for the WAL flush shortens
        # that, so appends from many workers do not queue behind each other's fsync.
        conn.exec_driver_sql("SET LOCAL synchronous_commit TO OFF")
    return head


def _append(
    conn: Connection, entries: list[_Entry], key: bytes, durable: bool, *, keyed: bool
) -> list[int]:
    head = _lock_head(conn, durable)
    if head is None:
        existing = conn.execute(select(func.count()).select_from(_LOG)).scalar_one()
        if existing:
            raise DataError(MISSING_HEAD.format(n=existing))
        conn.execute(_INSERT_HEAD, {"id": HEAD_ID, "count": 0, "last_id": 0, "head_hash": GENESIS})
        count, last_id, prev = 0, 0, GENESIS
    else:
        count, last_id, prev = head.count, head.last_id, head.head_hash
    entry_id = last_id + 1
    if not keyed and conn.execute(_SELECT_KEYING).one_or_none() is None:
        # First append since this release: everything from here on is keyed.
        conn.execute(
            _KEYING.insert(),
            {
                "id": KEYING_ID,
                "keyed_from": entry_id,
                "legacy_head": prev,
                "mac": switch_mac(key, keyed_from=entry_id, legacy_head=prev),
            },
        )
    ts = datetime.now(UTC).isoformat(timespec="microseconds")
    rows = []
    for k, entry in enumerate(entries):
        fields = {
            "id": entry_id + k,
            "ts": ts,
            "action": entry.action,
            "actor": entry.actor,
            "subject_hash": entry.subject_hash,
            "details": entry.details,
            "prev_hash": prev,
        }
        prev = entry_mac(key, **fields)
        rows.append({**fields, "hash": prev})
    # One statement for the lot (executemany): a micro-batch of decisions is one round trip.
    conn.execute(_INSERT_ENTRY, rows)
    last = entry_id + len(entries) - 1
    conn.execute(
        _UPDATE_HEAD,
        {"new_count": count + len(entries), "new_last_id": last, "new_hash": prev},
    )
    return list(range(entry_id, last + 1))


def _bad(checked: int, entry_id: int, why: str) -> AuditVerification:
    return AuditVerification(False, checked, entry_id, f"entry {entry_id}: {why}")


def verify_chain(*, settings: Settings | None = None) -> AuditVerification:
    """Recompute every MAC (hash for unkeyed entries) and link, then compare with the head.

    Reads one consistent snapshot, so events appended meanwhile do not disturb it.

    Returns
    -------
    AuditVerification
        ``ok`` with the number of entries, or the first bad entry id and why.

    Raises
    ------
    PrivacyError
        If the chain key cannot be had (no usable master key).
    """
    settings = settings or get_settings()
    key = chain_key(settings)
    with database(settings).connect() as conn:
        if conn.dialect.name == "sqlite":
            conn.exec_driver_sql("BEGIN")
        else:
            conn = conn.execution_options(isolation_level="REPEATABLE READ")
        try:
            return _verify(conn, key)
        finally:
            conn.rollback()


def _check_entry(row: Any, key: bytes, keyed_from: int) -> bool:
    fields = {
        "id": row.id,
        "ts": row.ts,
        "action": row.action,
        "actor": row.actor,
        "subject_hash": row.subject_hash,
        "details": row.details,
        "prev_hash": row.prev_hash,
    }
    recomputed = entry_mac(key, **fields) if row.id >= keyed_from else entry_hash(**fields)
    return hmac.compare_digest(recomputed, row.hash)


def _verify(conn: Connection, key: bytes) -> AuditVerification:
    head = conn.execute(_SELECT_HEAD).one_or_none()
    keying = conn.execute(select(_KEYING).where(_KEYING.c.id == KEYING_ID)).one_or_none()
    if keying is not None:
        expected_mac = switch_mac(key, keyed_from=keying.keyed_from, legacy_head=keying.legacy_head)
        if not hmac.compare_digest(expected_mac, keying.mac):
            return _bad(0, keying.keyed_from, SWITCH_ALTERED)
    keyed_from = keying.keyed_from if keying is not None else None
    expected, prev, checked = 1, GENESIS, 0
    while True:
        rows = conn.execute(
            select(_LOG).where(_LOG.c.id >= expected).order_by(_LOG.c.id).limit(_CHUNK)
        ).all()
        for row in rows:
            if keyed_from is None:
                return _bad(checked, row.id, NOT_KEYED)
            if row.id != expected:
                return _bad(checked, expected, f"missing (the next entry is {row.id})")
            # keyed_from is not None here, so neither is keying.
            if (
                row.id == keyed_from
                and keying is not None
                and not hmac.compare_digest(keying.legacy_head, prev)
            ):
                return _bad(checked, row.id, LEGACY_REWRITTEN)
            if row.prev_hash != prev:
                return _bad(checked, row.id, "does not link to the entry before it")
            if not _check_entry(row, key, keyed_from):
                return _bad(checked, row.id, "altered (its content does not match its MAC)")
            prev, checked, expected = row.hash, checked + 1, expected + 1
        if len(rows) < _CHUNK:
            break
    if keyed_from is not None and checked < keyed_from:
        return _bad(checked, checked + 1, f"missing: the chain is keyed from entry {keyed_from}")
    if head is None:
        if checked == 0:
            return AuditVerification(True, 0, None, "audit log is empty")
        return _bad(checked, 1, "chain head is missing")
    # Unpacked: on a Row, ``.count`` types as the Sequence method, not the column.
    head_count, head_last_id, head_hash = head
    if head_last_id > checked or head_count > checked:
        first_missing = checked + 1
        return _bad(
            checked,
            first_missing,
            f"missing: the head records {head_count} entries up to id {head_last_id}, "
            f"the log ends at id {checked}",
        )
    if head_last_id < checked or head_count < checked:
        return _bad(
            checked,
            head_last_id + 1,
            f"not in the chain head (head records {head_count} entries); appended outside "
            "record_event",
        )
    if not hmac.compare_digest(head_hash, prev):
        return _bad(checked, checked, "its hash does not match the chain head")
    return AuditVerification(True, checked, None, f"{checked} entries verified")


def chain_head(*, settings: Settings) -> tuple[int, str]:
    """(entry count, last hash): publish it elsewhere to anchor the chain against rewrites."""
    with database(settings).connect() as conn:
        head = conn.execute(_SELECT_HEAD).one_or_none()
    if head is None:
        return 0, GENESIS
    count, _last_id, head_hash = head
    return count, head_hash


def find_events(
    *,
    settings: Settings,
    subject: str | None = None,
    action: str | None = None,
    limit: int = 100,
) -> list[dict]:
    """The newest events, optionally for one subject (matched by its hash) or one action.

    Returns
    -------
    list of dict
        ``id``, ``ts``, ``action``, ``actor``, ``subject_hash``, ``details`` (parsed), newest first.
    """
    query = select(_LOG).order_by(_LOG.c.id.desc()).limit(limit)
    if subject is not None:
        query = query.where(
            _LOG.c.subject_hash == pseudonym.subject_hash(subject, settings=settings)
        )
    if action is not None:
        query = query.where(_LOG.c.action == action)
    with database(settings).connect() as conn:
        rows = conn.execute(query).all()
    return [
        {
            "id": r.id,
            "ts": r.ts,
            "action": r.action,
            "actor": r.actor,
            "subject_hash": r.subject_hash,
            "details": json.loads(r.details),
        }
        for r in rows
    ]
