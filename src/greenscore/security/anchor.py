"""Anchors of the audit chain: its head, signed, kept outside the database.

A keyed chain stops anyone without the master key from rewriting entries or forging new
ones, but deleting the newest entries and setting the head back leaves a shorter chain
that is still consistent. An *anchor* taken now and kept elsewhere (a file on another
volume, a write-once bucket, a ticket system behind a URL) catches that later: the entry
it names must still be there with the same MAC, and the log must hold at least as many
entries. ``greenscore audit anchor`` writes one (schedule it); ``greenscore audit verify
--anchor FILE`` checks the chain against it.

Format (JSON, one object)::

    {"format": "greenscore-audit-anchor", "version": 1,
     "count": 42, "last_id": 42, "last_mac": "<64 hex>", "keyed_from": 1,
     "created": "2026-12-03T14:00:00Z", "signature": "<64 hex>"}

``signature`` is an HMAC-SHA256, under a key derived from the keyring (purpose
``"audit-anchor"``), of the canonical JSON of the other fields: whoever can change the
anchor's copy still cannot make a valid one without the master key.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select

from greenscore.config import Settings
from greenscore.errors import ConfigError, DataError
from greenscore.privacy._files import atomic_write
from greenscore.privacy.keys import derived_key
from greenscore.security.audit import (
    GENESIS,
    HEAD_ID,
    KEYING_ID,
    AuditEntry,
    AuditHead,
    AuditKeying,
    AuditVerification,
    canonical_json,
    verify_chain,
)
from greenscore.store import database

ANCHOR_FORMAT = "greenscore-audit-anchor"
ANCHOR_VERSION = 1
ANCHOR_KEY_PURPOSE = "audit-anchor"
UNREADABLE = "audit anchor {where} cannot be read: {why}"
BAD_SIGNATURE = "audit anchor {where} is not signed by this keyring (altered, or another home's)"
BAD_URL = "anchor URL '{url}' must start with http:// or https://"
POST_FAILED = "audit anchor could not be sent to {url}: {why}"
ENTRY_GONE = "the anchored entry {last_id} is missing"
ENTRY_CHANGED = "the anchored entry {last_id} no longer has the anchored MAC"
SHORTER = "the log holds {count} entries, fewer than the {anchored} anchored"
SWITCH_MOVED = "the switch-over is now at entry {now}, the anchor says {anchored}"


@dataclass(frozen=True)
class Anchor:
    """The chain head at one moment, as written to an anchor."""

    count: int
    last_id: int
    last_mac: str
    keyed_from: int | None
    created: str

    def signed(self, settings: Settings) -> dict[str, Any]:
        """The anchor document, with its signature."""
        body = {"format": ANCHOR_FORMAT, "version": ANCHOR_VERSION, **asdict(self)}
        return {**body, "signature": _sign(body, settings)}


def _sign(body: dict[str, Any], settings: Settings) -> str:
    key = derived_key(ANCHOR_KEY_PURPOSE, settings)
    return hmac.new(key, canonical_json(body).encode("utf-8"), hashlib.sha256).hexdigest()


def current_anchor(settings: Settings) -> Anchor:
    """The head of the chain now (count, last id and MAC, switch-over entry)."""
    head_t, keying_t = AuditHead.__table__, AuditKeying.__table__
    with database(settings).connect() as conn:
        head = conn.execute(
            select(head_t.c.count, head_t.c.last_id, head_t.c.head_hash).where(
                head_t.c.id == HEAD_ID
            )
        ).one_or_none()
        keying = conn.execute(select(keying_t).where(keying_t.c.id == KEYING_ID)).one_or_none()
    created = datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
    # Unpacked: on a Row, ``.count`` types as the Sequence method, not the column.
    count, last_id, last_mac = (0, 0, GENESIS) if head is None else head.tuple()
    return Anchor(
        count=count,
        last_id=last_id,
        last_mac=last_mac,
        keyed_from=keying.keyed_from if keying else None,
        created=created,
    )


def write_anchor(document: dict[str, Any], out: Path | str) -> Path:
    """Write an anchor document to a file (atomically)."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(out, (json.dumps(document, indent=1) + "\n").encode("utf-8"), mode=0o644)
    return out


def post_anchor(document: dict[str, Any], url: str, *, timeout: float = 10.0) -> None:
    """POST an anchor document as JSON to ``url`` (an operator's own endpoint).

    Raises
    ------
    ConfigError
        If the URL is not http(s) or the endpoint does not answer 2xx.
    """
    import httpx

    if not url.startswith(("http://", "https://")):
        raise ConfigError(BAD_URL.format(url=url))
    try:
        response = httpx.post(url, json=document, timeout=timeout)
        response.raise_for_status()
    except httpx.HTTPError as exc:
        raise ConfigError(POST_FAILED.format(url=url, why=type(exc).__name__)) from exc


def read_anchor(path: Path | str, settings: Settings) -> Anchor:
    """Read an anchor file and check its signature.

    Raises
    ------
    DataError
        If the file cannot be read, is not an anchor, or its signature does not match.
    """
    where = str(path)
    try:
        doc = json.loads(Path(path).read_text(encoding="utf-8"))
        if doc.get("format") != ANCHOR_FORMAT or doc.get("version") != ANCHOR_VERSION:
            raise ValueError(f"not a {ANCHOR_FORMAT} version {ANCHOR_VERSION} document")
        signature = str(doc.pop("signature"))
        anchor = Anchor(
            count=int(doc["count"]),
            last_id=int(doc["last_id"]),
            last_mac=str(doc["last_mac"]),
            keyed_from=None if doc["keyed_from"] is None else int(doc["keyed_from"]),
            created=str(doc["created"]),
        )
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise DataError(UNREADABLE.format(where=where, why=exc)) from exc
    if not hmac.compare_digest(_sign(doc, settings), signature):
        raise DataError(BAD_SIGNATURE.format(where=where))
    return anchor


def verify_against(anchor: Anchor, settings: Settings) -> AuditVerification:
    """Verify the chain, then that it still reaches the anchored entry unchanged.

    Returns
    -------
    AuditVerification
        Not ``ok`` if the chain fails on its own or the anchored head is gone, changed or
        longer than the log (entries deleted and the head rewritten).
    """
    result = verify_chain(settings=settings)
    if not result.ok:
        return result
    now = current_anchor(settings)
    if now.keyed_from != anchor.keyed_from:
        first = min(x for x in (now.keyed_from, anchor.keyed_from, 1) if x is not None)
        why = SWITCH_MOVED.format(now=now.keyed_from, anchored=anchor.keyed_from)
        return AuditVerification(False, result.checked, first, why)
    if anchor.last_id > 0:
        log = AuditEntry.__table__
        with database(settings).connect() as conn:
            mac = conn.execute(
                select(log.c.hash).where(log.c.id == anchor.last_id)
            ).scalar_one_or_none()
        if mac is None:
            why = ENTRY_GONE.format(last_id=anchor.last_id)
            return AuditVerification(False, result.checked, anchor.last_id, why)
        if not hmac.compare_digest(mac, anchor.last_mac):
            why = ENTRY_CHANGED.format(last_id=anchor.last_id)
            return AuditVerification(False, result.checked, anchor.last_id, why)
    if now.count < anchor.count:
        why = SHORTER.format(count=now.count, anchored=anchor.count)
        return AuditVerification(False, result.checked, now.last_id + 1, why)
    return AuditVerification(
        True,
        result.checked,
        None,
        f"{result.checked} entries verified; anchor of {anchor.created} "
        f"({anchor.count} entries) holds",
    )
