"""Sealed mentions: where a sealed applicant row names another borrower (its links).

``privacy_sealed_mentions`` indexes, by the named borrower's keyed hash, each borrower
link kept inside a job's input or a dead letter, so that erasing that borrower removes
their id from other applicants' rows too (not only their own rows). Units sealed before
this revision carry no mention index; the service took links only from this revision on.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from greenscore.store.migrations import guard

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

TABLE = "privacy_sealed_mentions"


def upgrade() -> None:
    """Create the mention index (where missing)."""
    if TABLE in guard.tables():
        return
    op.create_table(
        TABLE,
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("ref", sa.String(length=200), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("path", sa.String(length=200), nullable=False),
        sa.Column("subject_hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("kind", "ref", "position", "path"),
    )
    op.create_index(op.f("ix_privacy_sealed_mentions_subject_hash"), TABLE, ["subject_hash"])


def downgrade() -> None:
    """Drop the mention index, if it is empty (it is what lets erasure find links)."""
    guard.refuse_rows("0003", [TABLE])
    if TABLE in guard.tables():
        op.drop_table(TABLE)
