"""Tables of the privacy capability: consent, lineage, registered datasets, the DP budget
ledger, retention policies, the token vault and sealed rows (:mod:`greenscore.privacy`).

Subjects appear only as their keyed hash (:mod:`greenscore.security.pseudonym`).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, DateTime, Float, Integer, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from greenscore.store.base import Base


class ConsentRecord(Base):
    """One grant or revocation of consent."""

    __tablename__ = "privacy_consent"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    subject_hash: Mapped[str] = mapped_column(String(64), index=True)
    purpose: Mapped[str] = mapped_column(String(64), index=True)
    granted: Mapped[bool] = mapped_column(Boolean)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    actor: Mapped[str] = mapped_column(String(200))
    source: Mapped[str | None] = mapped_column(String(200), nullable=True)


class LineageRecord(Base):
    """One use of one subject's data."""

    __tablename__ = "privacy_lineage"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    subject_hash: Mapped[str] = mapped_column(String(64), index=True)
    action: Mapped[str] = mapped_column(String(32))
    dataset_sha: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)
    model_name: Mapped[str | None] = mapped_column(String(200), nullable=True)
    model_version: Mapped[str | None] = mapped_column(String(100), nullable=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)


class RegisteredDataset(Base):
    """A stored dataset with personal data."""

    __tablename__ = "privacy_datasets"

    name: Mapped[str] = mapped_column(String(200), primary_key=True)
    path: Mapped[str] = mapped_column(String(1000))
    id_column: Mapped[str] = mapped_column(String(200))
    time_column: Mapped[str | None] = mapped_column(String(200), nullable=True)
    sha256: Mapped[str] = mapped_column(String(64))
    registered_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class PrivacyBudget(Base):
    """Total and spent epsilon of one dataset."""

    __tablename__ = "privacy_budget"

    dataset: Mapped[str] = mapped_column(String(200), primary_key=True)
    budget: Mapped[float] = mapped_column(Float)
    spent: Mapped[float] = mapped_column(Float, default=0.0)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class PrivacySpend(Base):
    """One differentially private release and the epsilon it cost."""

    __tablename__ = "privacy_budget_spend"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    dataset: Mapped[str] = mapped_column(String(200), index=True)
    query: Mapped[str] = mapped_column(String(500))
    epsilon: Mapped[float] = mapped_column(Float)
    actor: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class RetentionPolicy(Base):
    """A retention period that overrides the default for one target."""

    __tablename__ = "privacy_retention"

    target: Mapped[str] = mapped_column(String(250), primary_key=True)
    days: Mapped[int] = mapped_column(Integer)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class TokenVaultEntry(Base):
    """One tokenised value, kept encrypted so a token can be reversed on purpose."""

    __tablename__ = "privacy_token_vault"

    token: Mapped[str] = mapped_column(String(64), primary_key=True)
    column: Mapped[str | None] = mapped_column(String(200), nullable=True)
    ciphertext: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class SealedUnit(Base):
    """One encrypted list of rows."""

    __tablename__ = "privacy_sealed_units"

    kind: Mapped[str] = mapped_column(String(40), primary_key=True)
    ref: Mapped[str] = mapped_column(String(200), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    rows: Mapped[int] = mapped_column(Integer)
    # Which KEK wraps the data key, so rotation can find the units still on an old one.
    kek_version: Mapped[int] = mapped_column(Integer, index=True)
    blob: Mapped[bytes] = mapped_column(LargeBinary)


class SealedSubject(Base):
    """Which row of which unit is about which subject (by keyed hash only)."""

    __tablename__ = "privacy_sealed_subjects"

    kind: Mapped[str] = mapped_column(String(40), primary_key=True)
    ref: Mapped[str] = mapped_column(String(200), primary_key=True)
    position: Mapped[int] = mapped_column(Integer, primary_key=True)
    subject_hash: Mapped[str] = mapped_column(String(64), index=True)


class SealedMention(Base):
    """Where a row of a unit names another subject (a borrower link: the linked borrower's
    id inside an applicant's row), by the named subject's keyed hash only."""

    __tablename__ = "privacy_sealed_mentions"

    kind: Mapped[str] = mapped_column(String(40), primary_key=True)
    ref: Mapped[str] = mapped_column(String(200), primary_key=True)
    position: Mapped[int] = mapped_column(Integer, primary_key=True)
    # A JSON pointer (RFC 6901) into the row: "/links/0", "/records/3/links/1".
    path: Mapped[str] = mapped_column(String(200), primary_key=True)
    subject_hash: Mapped[str] = mapped_column(String(64), index=True)
