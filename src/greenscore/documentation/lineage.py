"""What a run was made from, captured when it ran: the ``lineage.json`` of a run folder.

Data (file, SHA-256, rows, spec), code (GreenScore version, git commit and whether the tree
was dirty), seed, environment (Python, platform, the library versions that change results)
and the audit chain's head at that moment, so documents written later can cite the audit
entries made since the model was trained.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

LINEAGE_FILE = "lineage.json"


def capture_lineage(
    *, dataset_sha256: str, rows: int, location: str, spec_name: str, seed: int
) -> dict[str, Any]:
    """The lineage record of a run that is finishing now."""
    from greenscore.documentation.evidence import audit_head
    from greenscore.tracking.environment import environment_info

    return {
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "data": {
            "location": location,
            "sha256": dataset_sha256,
            "rows": int(rows),
            "spec": spec_name,
        },
        "seed": int(seed),
        "environment": environment_info(),
        "audit_at_training": audit_head(),
    }
