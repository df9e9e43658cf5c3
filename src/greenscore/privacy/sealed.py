"""Sealed rows: applicant records a capability must keep, encrypted at rest, erasable by subject.

The scoring service keeps some applicant data for a while — a batch job's inputs and
results, the requests in the dead-letter table — and that data must neither sit in clear
on disk nor escape the right to erasure or the retention period. A capability stores it
here as *units*: a list of JSON rows under ``(kind, ref)``, encrypted as one object with
the keyring's envelope encryption (:func:`~greenscore.privacy.crypto.encrypt_bytes`; a
fresh data key per unit), always, whatever ``privacy.encryption_enabled`` says. Each row
may name its subject, kept only as its keyed hash (the caller's
:func:`~greenscore.security.pseudonym.subject_hash`) in a separate index, so
:func:`erase_subject` finds the units to rewrite without decrypting anything else, and
replaces that subject's rows with :data:`ERASED` (the other rows and their positions
stay, so a job still has one result per input). A row may also *name* other subjects — an
applicant's borrower links name the linked borrowers — kept as :class:`Mention` s (where in
the row, and the named subject's hash); :func:`erase_mentions` replaces each place naming
the erased subject with :data:`ERASED` in the same way (a list keeps its length, so the
other mentions' places stay valid). :func:`purge` drops units older than a
cut-off for retention. Units are database rows, not files the keyring tracks: before a
KEK is retired, :func:`rewrap` moves them to the current one and
:func:`kek_versions_in_use` says which versions they still need.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection, Table, delete, func, select

from greenscore.errors import NotFoundError
from greenscore.privacy.crypto import decrypt_bytes, encrypt_bytes
from greenscore.privacy.keys import Keyring
from greenscore.privacy.object_format import parse_header
from greenscore.store import Database, affected_rows
from greenscore.store.tables.privacy import SealedMention, SealedSubject, SealedUnit

ERASED: dict[str, Any] = {"erased": True}
NO_UNIT = "no sealed {kind} data under '{ref}' (never stored, or deleted by retention)"


_UNITS = SealedUnit.__table__
_SUBJECTS = SealedSubject.__table__
_MENTIONS = SealedMention.__table__


@dataclass(frozen=True)
class Mention:
    """Another subject named inside row ``position``, at ``path`` (a JSON pointer, RFC 6901,
    such as ``/links/0``), by that subject's keyed hash."""

    position: int
    path: str
    subject_hash: str


@dataclass(frozen=True)
class Unit:
    """Rows to seal under one reference, with each row's subject hash (or None) and the
    other subjects the rows name."""

    ref: str
    rows: Sequence[Any]
    subject_hashes: Sequence[str | None] | None = None
    mentions: Sequence[Mention] = ()


def _name(kind: str, ref: str) -> str:
    return f"sealed/{kind}/{ref}"


def _encrypt(kind: str, ref: str, rows: Sequence[Any]) -> bytes:
    data = json.dumps(list(rows), separators=(",", ":"), default=str).encode("utf-8")
    return encrypt_bytes(data, name=_name(kind, ref), kind=f"sealed:{kind}")


def _index(kind: str, ref: str, hashes: Sequence[str | None] | None) -> list[dict[str, Any]]:
    return [
        {"kind": kind, "ref": ref, "position": i, "subject_hash": h}
        for i, h in enumerate(hashes or ())
        if h
    ]


@dataclass(frozen=True)
class Prepared:
    """Units encrypted by :func:`prepare`, ready for :func:`write` in a caller's transaction."""

    kind: str
    refs: list[str]
    units: list[dict[str, Any]]
    index: list[dict[str, Any]]
    mentions: list[dict[str, Any]]
    rows: int


def prepare(kind: str, units: Sequence[Unit]) -> Prepared:
    """Encrypt units for :func:`write` (no database work).

    Encrypting happens before any transaction: a key problem stores nothing at all, and a
    caller that writes inside a transaction holding a lock (a job chunk's, with the audit
    chain's) does not hold it while keys are fetched.

    Raises
    ------
    PrivacyError
        If there is no usable master key or keyring.
    """
    now = datetime.now(UTC)
    blobs = [_encrypt(kind, u.ref, u.rows) for u in units]
    return Prepared(
        kind=kind,
        refs=[u.ref for u in units],
        units=[
            {
                "kind": kind,
                "ref": u.ref,
                "created_at": now,
                "rows": len(u.rows),
                "kek_version": parse_header(blob).kek_version,
                "blob": blob,
            }
            for u, blob in zip(units, blobs, strict=True)
        ],
        index=[entry for u in units for entry in _index(kind, u.ref, u.subject_hashes)],
        mentions=[
            {"kind": kind, "ref": u.ref, **vars(m)}
            for u in units
            for m in {(m.position, m.path): m for m in u.mentions}.values()
        ],
        rows=sum(len(u.rows) for u in units),
    )


def write(conn: Connection, prepared: Prepared) -> int:
    """Store prepared units (replacing any under the same refs) on the caller's connection,
    in the caller's transaction: they commit with whatever else it writes, or not at all.

    Returns
    -------
    int
        Rows stored.
    """
    kind, refs = prepared.kind, prepared.refs
    # Core statements, not ORM objects: a 100,000-row job has as many index rows.
    conn.execute(_UNITS.delete().where(_UNITS.c.kind == kind, _UNITS.c.ref.in_(refs)))
    for table in (_SUBJECTS, _MENTIONS):
        conn.execute(table.delete().where(table.c.kind == kind, table.c.ref.in_(refs)))
    if prepared.units:
        conn.execute(_UNITS.insert(), prepared.units)
    if prepared.index:
        conn.execute(_SUBJECTS.insert(), prepared.index)
    if prepared.mentions:
        conn.execute(_MENTIONS.insert(), prepared.mentions)
    return prepared.rows


def seal(kind: str, units: Sequence[Unit], *, db: Database) -> int:
    """Encrypt and store units (replacing any under the same refs) in one transaction.

    Parameters
    ----------
    kind : str
        The capability's store (``jobs``, ``dead_letters``); also its retention target.
    units : sequence of Unit
        Rows (JSON-serialisable) and, per row, its subject's hash or None.
    db : Database

    Returns
    -------
    int
        Rows stored.

    Raises
    ------
    PrivacyError
        If there is no usable master key or keyring (nothing is stored then).
    """
    prepared = prepare(kind, units)
    with db.begin() as conn:
        return write(conn, prepared)


def unseal(kind: str, ref: str, *, db: Database) -> list[Any]:
    """The rows stored under ``(kind, ref)``; an erased row reads as :data:`ERASED`.

    Raises
    ------
    NotFoundError
        If nothing is stored there (never stored, or purged).
    PrivacyError
        If the unit cannot be decrypted (wrong key, tampered).
    """
    with db.session() as session:
        blob = session.execute(
            select(SealedUnit.blob).where(SealedUnit.kind == kind, SealedUnit.ref == ref)
        ).scalar_one_or_none()
    if blob is None:
        raise NotFoundError(NO_UNIT.format(kind=kind, ref=ref))
    return json.loads(decrypt_bytes(bytes(blob), name=_name(kind, ref)))


def _like(prefix: str) -> str:
    return prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def refs(kind: str, prefix: str, *, db: Database) -> list[str]:
    """The refs of every unit of ``kind`` whose ref starts with ``prefix``, oldest first."""
    with db.session() as session:
        return list(
            session.execute(
                select(SealedUnit.ref)
                .where(SealedUnit.kind == kind, SealedUnit.ref.like(_like(prefix), escape="\\"))
                .order_by(SealedUnit.created_at, SealedUnit.ref)
            ).scalars()
        )


def drop(kind: str, prefix: str, *, db: Database) -> int:
    """Delete every unit whose ref starts with ``prefix``; returns how many."""
    like = _like(prefix)
    with db.session() as session:
        for table in (_SUBJECTS, _MENTIONS):
            session.execute(
                table.delete().where(table.c.kind == kind, table.c.ref.like(like, escape="\\"))
            )
        return affected_rows(
            session.execute(
                delete(SealedUnit).where(
                    SealedUnit.kind == kind, SealedUnit.ref.like(like, escape="\\")
                )
            )
        )


def erase_subject(subject_hash: str, *, db: Database) -> dict[str, int]:
    """Replace every row about a subject (by hash) with :data:`ERASED`; rows erased per kind.

    Each affected unit is decrypted, rewritten and encrypted again under a fresh data key;
    its subject index loses the erased rows, and its mention index what those rows named.
    """
    return _erase(_SUBJECTS, subject_hash, db)


def erase_mentions(subject_hash: str, *, db: Database) -> dict[str, int]:
    """Replace every place a row names the subject (by hash) with :data:`ERASED`, leaving
    the row itself; places erased per kind (a place whose whole row was erased already
    counts for nothing)."""
    return _erase(_MENTIONS, subject_hash, db)


def _replace(rows: list[Any], position: int, path: str, value: Any) -> bool:
    """Put ``value`` at ``path`` (a JSON pointer; ``""``: the whole row) inside row
    ``position``, if the place exists."""
    if not path:
        rows[position] = value
        return True
    parts = [p.replace("~1", "/").replace("~0", "~") for p in path.split("/")[1:]]
    parent, node = None, rows[position]
    for part in parts:
        parent = node
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            return False
    if parent is None:
        return False
    parent[int(parts[-1]) if isinstance(parent, list) else parts[-1]] = value
    return True


def _erase(index: Table, subject_hash: str, db: Database) -> dict[str, int]:
    """Erase each place ``index`` (:data:`_SUBJECTS`: whole rows; :data:`_MENTIONS`: places
    inside rows) holds for the subject, unit by unit, and drop those index entries (and,
    for whole rows, what the rows named); places erased per kind."""
    rows_erased = index is _SUBJECTS
    place = sa.literal("") if rows_erased else index.c.path  # "": the whole row
    with db.session() as session:
        hits = session.execute(
            select(index.c.kind, index.c.ref, index.c.position, place).where(
                index.c.subject_hash == subject_hash
            )
        ).all()
    by_unit: dict[tuple[str, str], list[tuple[int, str]]] = {}
    for kind, ref, position, path in hits:
        by_unit.setdefault((kind, ref), []).append((position, path))
    erased: dict[str, int] = {}
    for (kind, ref), places in by_unit.items():
        try:
            rows = unseal(kind, ref, db=db)
        except NotFoundError:
            continue  # purged meanwhile: nothing left to erase
        changed = sum(_replace(rows, position, path, ERASED) for position, path in places)
        blob = _encrypt(kind, ref, rows)
        unit_of = (index.c.kind == kind) & (index.c.ref == ref)
        with db.session() as session:
            unit = session.get(SealedUnit, (kind, ref))
            if unit is None:
                continue
            unit.blob = blob
            unit.kek_version = parse_header(blob).kek_version
            session.execute(index.delete().where(unit_of, index.c.subject_hash == subject_hash))
            if rows_erased:
                session.execute(
                    _MENTIONS.delete().where(
                        _MENTIONS.c.kind == kind,
                        _MENTIONS.c.ref == ref,
                        _MENTIONS.c.position.in_([p for p, _ in places]),
                    )
                )
        erased[kind] = erased.get(kind, 0) + changed
    return erased


def purge(kind: str, before: datetime, *, dry_run: bool = False, db: Database) -> int:
    """Delete (or, in a dry run, count) the rows of units stored before ``before``."""
    old = (SealedUnit.kind == kind) & (SealedUnit.created_at < before)
    with db.session() as session:
        refs = select(SealedUnit.ref).where(old)
        rows = int(
            session.execute(
                select(func.coalesce(func.sum(SealedUnit.rows), 0)).where(old)
            ).scalar_one()
        )
        if not dry_run:
            for table in (_SUBJECTS, _MENTIONS):
                session.execute(table.delete().where(table.c.kind == kind, table.c.ref.in_(refs)))
            session.execute(delete(SealedUnit).where(old))
    return rows


def kek_versions_in_use(*, db: Database) -> dict[int, int]:
    """Units per KEK version (a version still listed here must not be retired)."""
    with db.session() as session:
        counts = session.execute(
            select(SealedUnit.kek_version, func.count()).group_by(SealedUnit.kek_version)
        ).all()
    return {int(version): int(n) for version, n in counts}


def rewrap(*, db: Database) -> int:
    """Encrypt again, under the keyring's current KEK, every unit on an older one.

    Each unit gets a fresh data key (the rows are decrypted and encrypted in memory);
    returns how many units were rewritten.
    """
    current = Keyring.open().current_version
    with db.session() as session:
        stale = session.execute(
            select(SealedUnit.kind, SealedUnit.ref).where(SealedUnit.kek_version != current)
        ).all()
    for kind, ref in stale:
        rows = unseal(kind, ref, db=db)
        blob = _encrypt(kind, ref, rows)
        with db.session() as session:
            session.execute(
                _UNITS.update()
                .where(_UNITS.c.kind == kind, _UNITS.c.ref == ref)
                .values(blob=blob, kek_version=parse_header(blob).kek_version)
            )
    return len(stale)
