"""GDPR operations: the right to erasure, and the public face of consent, lineage and retention.

:func:`erase` removes one subject from every place GreenScore keeps personal data —
each registered dataset file (rewritten, and re-encrypted if it was encrypted), consent
history, lineage, the prediction cache, the token vault and the scoring service's sealed
rows (job inputs and results, dead letters) — and writes exactly **one**
audit event, which names the subject only by ``hash_subject``. Model bundles are not
rewritten: erasure reports which models were trained on the subject (from lineage) so
the operator can retrain them.

Erasure is an administrative action that needs a second factor: :func:`authorize_erasure`
checks the operator's TOTP code and role before the CLI or API calls :func:`erase`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import delete, func, select

from greenscore.privacy.consent import (
    consent_history,
    consent_status,
    grant_consent,
    has_consent,
    require_consent,
    revoke_consent,
)
from greenscore.privacy.lineage import lineage_for, record_lineage
from greenscore.privacy.registry import list_datasets, register_dataset, unregister_dataset
from greenscore.privacy.retention import purge, set_retention
from greenscore.privacy.sealed import erase_subject
from greenscore.security.principal import Principal

__all__ = [
    "ErasureReport",
    "authorize_erasure",
    "consent_history",
    "consent_status",
    "erase",
    "grant_consent",
    "has_consent",
    "lineage_for",
    "list_datasets",
    "purge",
    "record_lineage",
    "register_dataset",
    "require_consent",
    "revoke_consent",
    "set_retention",
    "unregister_dataset",
]


@dataclass
class ErasureReport:
    """What one erasure removed.

    Attributes
    ----------
    datasets : rows removed per registered dataset.
    consent, lineage, predictions, token_vault : rows removed from each table.
    sealed : rows erased per sealed kind (``jobs``: job inputs and results,
        ``dead_letters``: kept requests), replaced by an ``erased`` marker.
    models : model name and version the subject's data trained (retrain candidates).
    audit_event_id : the id of the single audit event recorded.
    """

    datasets: dict[str, int] = field(default_factory=dict)
    consent: int = 0
    lineage: int = 0
    predictions: int = 0
    token_vault: int = 0
    sealed: dict[str, int] = field(default_factory=dict)
    models: list[str] = field(default_factory=list)
    audit_event_id: int = 0

    @property
    def total(self) -> int:
        """Rows removed everywhere."""
        return (
            sum(self.datasets.values())
            + self.consent
            + self.lineage
            + self.predictions
            + self.token_vault
            + sum(self.sealed.values())
        )

    def as_dict(self) -> dict[str, Any]:
        """Plain data for display and for the audit event (contains no subject)."""
        return {
            "datasets": dict(self.datasets),
            "consent": self.consent,
            "lineage": self.lineage,
            "predictions": self.predictions,
            "token_vault": self.token_vault,
            "sealed": dict(self.sealed),
            "models": list(self.models),
        }


def authorize_erasure(user: str, totp: str) -> Principal:
    """Check an operator's TOTP code and that their role may erase personal data.

    Raises
    ------
    AuthError
        If the user is not enrolled or the code is wrong or replayed.
    PermissionDeniedError
        If the user's role may not perform ``gdpr:erase``.
    """
    from greenscore.security.mfa import authenticate_user
    from greenscore.security.rbac import authorize

    principal = authenticate_user(user, totp)
    authorize(principal, "gdpr:erase")
    return principal


def _erase_from_vault(subject: str, url: str | None) -> int:
    from greenscore.privacy.tokens import TokenVaultEntry, forget_value
    from greenscore.store import session_scope

    with session_scope(url) as session:
        if not session.execute(select(func.count()).select_from(TokenVaultEntry)).scalar_one():
            return 0  # an empty vault needs no master key to be searched
    return forget_value(subject, url=url)


def erase(subject: str, *, actor: str, url: str | None = None) -> ErasureReport:
    """Remove a subject's personal data everywhere and record one audit event.

    Parameters
    ----------
    subject : str
        The subject's id, as it appears in the registered datasets' id columns.
    actor : str
        Who requested the erasure (recorded in the audit log).
    url : str, optional
        Database URL (defaults to the settings').

    Returns
    -------
    ErasureReport
        Rows removed per store; all zero when the subject was not found (still audited).

    Raises
    ------
    NotFoundError, DataError
        If a registered dataset's file or id column is gone (nothing is deleted from the
        tables then, so the erasure can be rerun once the registry is fixed).
    """
    from greenscore.privacy.consent import ConsentRecord
    from greenscore.privacy.lineage import delete_lineage
    from greenscore.privacy.registry import remove_rows, rows_of_subject
    from greenscore.security.audit import hash_subject, record_event
    from greenscore.store import session_scope
    from greenscore.store.predictions import delete_for_subject

    subject = str(subject)
    report = ErasureReport()
    report.models = sorted(
        {
            f"{r['model_name']}:{r['model_version']}"
            for r in lineage_for(subject, url=url)
            if r["model_name"] and r["action"] == "trained_on"
        }
    )
    for entry in list_datasets(url=url):
        report.datasets[entry.name] = remove_rows(entry, rows_of_subject(entry, subject), url=url)
    with session_scope(url) as session:
        report.consent = int(
            session.execute(
                delete(ConsentRecord).where(ConsentRecord.subject_hash == hash_subject(subject))
            ).rowcount
            or 0
        )
    report.lineage = delete_lineage(subject, url=url)
    report.predictions = delete_for_subject(subject, url=url)
    report.token_vault = _erase_from_vault(subject, url)
    report.sealed = erase_subject(subject, url=url)
    report.audit_event_id = record_event(
        "gdpr.erase", actor=actor, subject=subject, details=report.as_dict()
    )
    return report
