"""Querying and exporting the audit log: by time range, actor, action and subject.

What ``greenscore audit search|export`` and ``GET /v1/audit`` (permission ``audit:read``)
run. A subject is searched by its pseudonym only (:func:`greenscore.security.pseudonym.subject_hash`):
the log never held the raw id. Events come newest first in pages (``before_id`` continues
a page); an export walks the whole selection oldest first in chunks, so a log of millions
of events is written without being held in memory. Each export row carries the entry's
``hash`` and ``prev_hash``, so a copy can be checked link by link against the chain.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from sqlalchemy import Select, select

from greenscore.config import Settings
from greenscore.errors import ConfigError
from greenscore.security import pseudonym
from greenscore.store import database
from greenscore.store.tables.security import AuditEntry

_LOG = AuditEntry.__table__
_CHUNK = 2000
MAX_PAGE = 1000
EXPORT_FORMATS = (".jsonl", ".csv")
COLUMNS = ("id", "ts", "action", "actor", "subject_hash", "details", "prev_hash", "hash")
BAD_TIME = (
    "{name} '{value}' is not a date or time (use ISO 8601, e.g. 2026-12-03 or 2026-12-03T21:00Z)"
)
OUT_OF_RANGE = "{name} '{value}' is outside the years 1 to 9999 once converted to UTC"
BAD_RANGE = "--since {since} is after --until {until}"
BAD_FORMAT = "audit export writes .jsonl or .csv, not '{suffix}'"
BAD_LIMIT = "limit must be 1 to {most}, got {limit}"


def parse_time(value: str | datetime | None, *, name: str) -> datetime | None:
    """A bound as an aware UTC datetime (a date means its midnight UTC; naive means UTC).

    Raises
    ------
    ConfigError
        If the text is not an ISO 8601 date or time.
    """
    if value is None or isinstance(value, datetime):
        moment = value
    else:
        try:
            moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError as exc:
            raise ConfigError(BAD_TIME.format(name=name, value=value)) from exc
    if moment is None:
        return None
    try:
        return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    except OverflowError as exc:  # year 1 or 9999 with an offset leaves the calendar in UTC
        raise ConfigError(OUT_OF_RANGE.format(name=name, value=value)) from exc


def _stamp(moment: datetime) -> str:
    # The log's own format (record_event): fixed width, so text order is time order.
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


@dataclass(frozen=True)
class AuditQuery:
    """Which events: every given filter must hold.

    Attributes
    ----------
    since, until : events at or after ``since`` and before ``until`` (UTC).
    actor : exact actor (an API key id, ``user:NAME``, ``os:NAME``).
    action : exact action, or a prefix ending in ``*`` (``gdpr.*``).
    subject : a subject's raw id, hashed here (never stored, never sent to the database).
    subject_hash : a subject's pseudonym, when the caller has it already.
    """

    since: datetime | None = None
    until: datetime | None = None
    actor: str | None = None
    action: str | None = None
    subject: str | None = None
    subject_hash: str | None = None

    @classmethod
    def parse(
        cls,
        *,
        since: str | datetime | None = None,
        until: str | datetime | None = None,
        actor: str | None = None,
        action: str | None = None,
        subject: str | None = None,
        subject_hash: str | None = None,
    ) -> AuditQuery:
        """A query from user text, the times parsed and checked.

        Raises
        ------
        ConfigError
            If a time is unreadable or the range is empty.
        """
        start, end = parse_time(since, name="since"), parse_time(until, name="until")
        if start is not None and end is not None and start > end:
            raise ConfigError(BAD_RANGE.format(since=_stamp(start), until=_stamp(end)))
        return cls(start, end, actor or None, action or None, subject or None, subject_hash or None)

    def filters(self) -> dict[str, Any]:
        """The filters as plain data for the audit event of a search (the subject hashed)."""
        return {
            "since": None if self.since is None else _stamp(self.since),
            "until": None if self.until is None else _stamp(self.until),
            "actor": self.actor,
            "action": self.action,
            "subject": self.subject is not None or self.subject_hash is not None,
        }

    def _where(self, query: Select, settings: Settings) -> Select:
        if self.since is not None:
            query = query.where(_LOG.c.ts >= _stamp(self.since))
        if self.until is not None:
            query = query.where(_LOG.c.ts < _stamp(self.until))
        if self.actor is not None:
            query = query.where(_LOG.c.actor == self.actor)
        if self.action is not None:
            if self.action.endswith("*"):
                prefix = self.action[:-1].replace("\\", "\\\\").replace("%", r"\%")
                query = query.where(
                    _LOG.c.action.like(prefix.replace("_", r"\_") + "%", escape="\\")
                )
            else:
                query = query.where(_LOG.c.action == self.action)
        hashes = {h for h in (self.subject_hash,) if h}
        if self.subject is not None:
            hashes.add(pseudonym.subject_hash(self.subject, settings=settings))
        for hashed in hashes:
            query = query.where(_LOG.c.subject_hash == hashed)
        return query


def _row(r: Any) -> dict[str, Any]:
    return {
        "id": r.id,
        "ts": r.ts,
        "action": r.action,
        "actor": r.actor,
        "subject_hash": r.subject_hash,
        "details": json.loads(r.details),
        "prev_hash": r.prev_hash,
        "hash": r.hash,
    }


def search_events(
    query: AuditQuery, *, settings: Settings, limit: int = 100, before_id: int | None = None
) -> list[dict[str, Any]]:
    """One page of matching events, newest first (``before_id``: the page after the one
    that ended at that id).

    Raises
    ------
    ConfigError
        If ``limit`` is not 1 to :data:`MAX_PAGE`.
    """
    if not 1 <= limit <= MAX_PAGE:
        raise ConfigError(BAD_LIMIT.format(most=MAX_PAGE, limit=limit))
    statement = query._where(select(_LOG), settings).order_by(_LOG.c.id.desc()).limit(limit)
    if before_id is not None:
        statement = statement.where(_LOG.c.id < before_id)
    with database(settings).connect() as conn:
        return [_row(r) for r in conn.execute(statement)]


def iter_events(query: AuditQuery, *, settings: Settings) -> Iterator[dict[str, Any]]:
    """Every matching event, oldest first, read in chunks of 2,000."""
    last = 0
    base = query._where(select(_LOG), settings).order_by(_LOG.c.id)
    db = database(settings)
    while True:
        with db.connect() as conn:
            rows = [_row(r) for r in conn.execute(base.where(_LOG.c.id > last).limit(_CHUNK))]
        yield from rows
        if len(rows) < _CHUNK:
            return
        last = rows[-1]["id"]


def write_events(events: Iterator[dict[str, Any]], out: TextIO, *, fmt: str) -> int:
    """Write events as JSON Lines (``.jsonl``) or CSV (``.csv``, details as JSON text)."""
    count = 0
    if fmt == ".csv":
        writer = csv.DictWriter(out, fieldnames=COLUMNS)
        writer.writeheader()
        for event in events:
            writer.writerow({**event, "details": json.dumps(event["details"], sort_keys=True)})
            count += 1
        return count
    for event in events:
        out.write(json.dumps(event, sort_keys=True, ensure_ascii=False) + "\n")
        count += 1
    return count


def export_events(query: AuditQuery, out: Path | str, *, settings: Settings) -> int:
    """Write every matching event to ``out`` (format from its suffix); returns how many.

    Raises
    ------
    ConfigError
        If the suffix is not ``.jsonl`` or ``.csv``.
    """
    out = Path(out)
    fmt = out.suffix.lower()
    if fmt not in EXPORT_FORMATS:
        raise ConfigError(BAD_FORMAT.format(suffix=out.suffix or "(none)"))
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("w", encoding="utf-8", newline="") as fh:
        return write_events(iter_events(query, settings=settings), fh, fmt=fmt)
