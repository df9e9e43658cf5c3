"""The retraining trigger: alerts that call for a new model file one training job.

Which alerts do is ``monitoring.retrain_on``: ``auc_drop`` (a vintage's AUC fell, see
:mod:`greenscore.monitoring.performance`) and ``score_psi`` (the PD distribution is in the
act band). The job goes to the training-job table (:mod:`greenscore.store.training_jobs`),
deduplicated on the findings, and the audit log records who filed it and why; running the
monitor again on the same evidence files nothing new. ``greenscore retrain run-pending``
trains the challenger and compares it with the champion before anything is replaced.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from greenscore.config import MonitoringSettings, Settings
from greenscore.monitoring.alerts import CRITICAL, Alert
from greenscore.security.audit import record_event
from greenscore.store import database
from greenscore.store.training_jobs import file_training_job

AUDIT_ACTION = "monitor.retrain.filed"


def triggering(alerts: Sequence[Alert], *, settings: MonitoringSettings) -> list[Alert]:
    """The alerts that ask for retraining under ``monitoring.retrain_on``."""
    chosen = []
    for alert in alerts:
        if alert.kind == "auc_drop" and "auc_drop" in settings.retrain_on:
            chosen.append(alert)
        elif (
            alert.kind == "score_psi"
            and alert.severity == CRITICAL
            and "score_psi" in settings.retrain_on
        ):
            chosen.append(alert)
    return chosen


def request_retraining(
    *,
    model: str,
    alerts: Sequence[Alert],
    settings: Settings,
    actor: str = "monitor",
) -> dict[str, Any] | None:
    """File a training job for ``model`` if any alert calls for one (``monitoring.retrain_on``),
    in the settings' database, and audit it there.

    Returns
    -------
    dict or None
        None when no alert triggers; else ``job_id``, ``status``, ``created`` (False when
        an open job or the same evidence already filed one), ``reasons`` and, for a new
        job, ``audit_event_id``.
    """
    reasons = triggering(alerts, settings=settings.monitoring)
    if not reasons:
        return None
    job, created = file_training_job(
        model=model,
        reasons=[a.to_dict() for a in reasons],
        evidence=[a.evidence for a in reasons],
        requested_by=actor,
        db=database(settings),
    )
    out: dict[str, Any] = {
        "job_id": job.id,
        "status": job.status,
        "created": created,
        "reasons": [a.message for a in reasons],
    }
    if created:
        out["audit_event_id"] = record_event(
            AUDIT_ACTION,
            actor=actor,
            details={"job_id": job.id, "model": model, "reasons": out["reasons"]},
            settings=settings,
        )
    return out
