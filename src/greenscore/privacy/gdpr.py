"""GDPR operations: the right to erasure, and the public face of consent, lineage and retention.

:func:`erase` removes one subject from every place GreenScore keeps personal data —
each registered dataset file (rewritten, and re-encrypted if it was encrypted; ``score``'s
outputs and stored-file jobs' inputs register themselves), consent
history, lineage, the prediction cache, observed outcomes, the token vault and the
scoring service's sealed rows (job inputs and results, dead letters; and where another
applicant's sealed row names the subject, as a borrower link, that link) — all in the one
database of the settings it is given, and writes exactly **one** audit event there,
which names the subject only by its pseudonym (hashed once). Model bundles are not
rewritten: erasure reports which models were trained on the subject (from lineage) so
the operator can retrain them.

Erasure is an administrative action that needs a second factor: :func:`authorize_erasure`
checks the operator's TOTP code and role before the CLI or API calls :func:`erase`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import delete, func, select

from greenscore.config import Settings
from greenscore.privacy.consent import (
    consent_history,
    consent_status,
    grant_consent,
    has_consent,
    require_consent,
    revoke_consent,
)
from greenscore.privacy.lineage import delete_lineage, lineage_for, record_lineage
from greenscore.privacy.registry import (
    list_datasets,
    register_dataset,
    remove_rows,
    rows_of_subject,
    unregister_dataset,
)
from greenscore.privacy.retention import purge, set_retention
from greenscore.privacy.sealed import erase_mentions, erase_subject
from greenscore.privacy.tokens import forget_value
from greenscore.security.audit import record_event
from greenscore.security.mfa import authenticate_user
from greenscore.security.principal import Principal
from greenscore.security.pseudonym import subject_hash
from greenscore.security.rbac import authorize
from greenscore.store import Database, affected_rows, database
from greenscore.store.outcomes import delete_outcomes_for_subject
from greenscore.store.predictions import delete_for_subject
from greenscore.store.tables.privacy import ConsentRecord, TokenVaultEntry

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
    consent, lineage, predictions, outcomes, token_vault : rows removed from each table.
    sealed : rows erased per sealed kind (``jobs``: job inputs and results,
        ``dead_letters``: kept requests), replaced by an ``erased`` marker.
    mentions : places per sealed kind where *another* applicant's row named the subject
        (a borrower link to them), each replaced by an ``erased`` marker; the row stays.
    models : model name and version the subject's data trained (retrain candidates).
    audit_event_id : the id of the single audit event recorded.
    """

    datasets: dict[str, int] = field(default_factory=dict)
    consent: int = 0
    lineage: int = 0
    predictions: int = 0
    outcomes: int = 0
    token_vault: int = 0
    sealed: dict[str, int] = field(default_factory=dict)
    mentions: dict[str, int] = field(default_factory=dict)
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
            + self.outcomes
            + self.token_vault
            + sum(self.sealed.values())
            + sum(self.mentions.values())
        )

    def as_dict(self) -> dict[str, Any]:
        """Plain data for display and for the audit event (contains no subject)."""
        return {
            "datasets": dict(self.datasets),
            "consent": self.consent,
            "lineage": self.lineage,
            "predictions": self.predictions,
            "outcomes": self.outcomes,
            "token_vault": self.token_vault,
            "sealed": dict(self.sealed),
            "mentions": dict(self.mentions),
            "models": list(self.models),
        }


def authorize_erasure(user: str, totp: str, *, settings: Settings) -> Principal:
    """Check an operator's TOTP code and that their role may erase personal data.

    Raises
    ------
    AuthError
        If the user is not enrolled or the code is wrong or replayed.
    PermissionDeniedError
        If the user's role may not perform ``gdpr:erase``.
    """
    principal = authenticate_user(user, totp, settings=settings)
    authorize(principal, "gdpr:erase")
    return principal


def _erase_from_vault(subject: str, db: Database) -> int:
    with db.session() as session:
        if not session.execute(select(func.count()).select_from(TokenVaultEntry)).scalar_one():
            return 0  # an empty vault needs no master key to be searched
    return forget_value(subject, db=db)


def erase(subject: str, *, actor: str, settings: Settings) -> ErasureReport:
    """Remove a subject's personal data everywhere and record one audit event.

    Parameters
    ----------
    subject : str
        The subject's id, as it appears in the registered datasets' id columns.
    actor : str
        Who requested the erasure (recorded in the audit log).
    settings : Settings
        Whose database (every table is erased there, and the event audited there), pepper
        and keys.

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
    subject = str(subject)
    db = database(settings)
    hashed = subject_hash(subject, settings=settings)
    report = ErasureReport()
    report.models = sorted(
        {
            f"{r['model_name']}:{r['model_version']}"
            for r in lineage_for(hashed, db=db)
            if r["model_name"] and r["action"] == "trained_on"
        }
    )
    for entry in list_datasets(db=db):
        report.datasets[entry.name] = remove_rows(entry, rows_of_subject(entry, subject), db=db)
    with db.session() as session:
        report.consent = affected_rows(
            session.execute(delete(ConsentRecord).where(ConsentRecord.subject_hash == hashed))
        )
    report.lineage = delete_lineage(hashed, db=db)
    report.predictions = delete_for_subject(hashed, db=db)
    report.outcomes = delete_outcomes_for_subject(hashed, db=db)
    report.token_vault = _erase_from_vault(subject, db)
    report.sealed = erase_subject(hashed, db=db)
    report.mentions = erase_mentions(hashed, db=db)
    report.audit_event_id = record_event(
        "gdpr.erase",
        actor=actor,
        subject=subject,
        subject_hash=hashed,
        details=report.as_dict(),
        settings=settings,
    )
    return report
