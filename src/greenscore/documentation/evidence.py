"""Evidence that compliance documents point at: the run's files with their SHA-256, and
ranges of the hash-chained audit log (ids, times and actions) with the chain's head.

A reviewer checks a file by its hash and an audit range with ``greenscore audit verify``;
the documents never copy evidence, they cite it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from greenscore.config import Settings, get_settings
from greenscore.data.loading import sha256_file
from greenscore.logging import get_logger
from greenscore.store import database
from greenscore.store.tables.security import AuditEntry, AuditHead

log = get_logger(__name__)
#: Run files cited as evidence when present, with what each shows.
RUN_EVIDENCE = {
    "metrics.json": "cross-validated metrics, comparisons, energy, fairness of the served model",
    "report.html": "training report: model comparison, cut-off strategy, scorecard, fairness",
    "performance.json": "out-of-fold AUC with DeLong intervals by segment and protected group; calibration",
    "lineage.json": "data hash, code version, seed, environment, audit head at training",
    "model_card.md": "the model card",
    "model/metadata.json": "the served bundle's metadata (metrics, parameters, ranges, reason codes)",
    "model/spec.yaml": "the dataset spec the model was trained with",
    "model/signature.json": "file hashes of the served bundle",
}
_LOG = AuditEntry.__table__
_HEAD = AuditHead.__table__


def file_evidence(run_dir: Path, extra: list[Path] | None = None) -> list[dict[str, str]]:
    """Each existing evidence file: path, SHA-256 and what it shows."""
    out = []
    for name, what in RUN_EVIDENCE.items():
        path = run_dir / name
        if path.is_file():
            out.append({"file": str(path), "sha256": sha256_file(path), "shows": what})
    for folder in extra or []:
        for path in sorted(p for p in Path(folder).rglob("*") if p.is_file()):
            out.append(
                {"file": str(path), "sha256": sha256_file(path), "shows": f"evidence from {folder}"}
            )
    return out


def audit_head(settings: Settings | None = None) -> dict[str, Any] | None:
    """Entries, last id and head MAC of the audit chain now (None if unreadable)."""
    try:
        with database(settings or get_settings()).connect() as conn:
            row = conn.execute(select(_HEAD.c.count, _HEAD.c.last_id, _HEAD.c.head_hash)).first()
    except Exception as exc:  # noqa: BLE001 - documents are still written, saying so
        log.warning("audit head not readable", extra={"error": str(exc)})
        return None
    if row is None:
        return {"entries": 0, "last_id": 0, "head_hash": "0" * 64}
    return {"entries": int(row[0]), "last_id": int(row[1]), "head_hash": row[2]}


def audit_range(first_id: int, last_id: int, settings: Settings | None = None) -> dict[str, Any]:
    """Entries with ids in ``[first_id, last_id]``: their times and counts by action."""
    if last_id < first_id:
        return {"first_id": first_id, "last_id": last_id, "entries": 0, "actions": {}}
    where = _LOG.c.id.between(first_id, last_id)
    with database(settings or get_settings()).connect() as conn:
        times = conn.execute(select(func.min(_LOG.c.ts), func.max(_LOG.c.ts)).where(where)).one()
        actions = conn.execute(
            select(_LOG.c.action, func.count()).where(where).group_by(_LOG.c.action)
        ).all()
    return {
        "first_id": first_id,
        "last_id": last_id,
        "from": times[0],
        "to": times[1],
        "entries": int(sum(n for _a, n in actions)),
        "actions": {a: int(n) for a, n in sorted(actions)},
    }
