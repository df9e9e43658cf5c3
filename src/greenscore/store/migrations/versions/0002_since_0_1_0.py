"""Everything added since release 0.1.0 (tenants, sealed rows, lockout, outcomes, ...).

- ``predictions.tenant``, ``serving_review_queue.tenant``: who owns a decision (and may
  contest it); rows of 0.1.0 have none.
- ``privacy_sealed_units`` / ``privacy_sealed_subjects``: encrypted applicant rows of jobs
  and dead letters, indexed by subject hash for erasure.
- ``serving_jobs.callback_next_at``, ``chunk_rows``, ``id_column``: the callback's own
  retry schedule and how a job's sealed input is cut.
- ``security_totp_attempts``: wrong TOTP codes per user (back-off, lockout).
- ``security_audit_keying``: where the audit chain became keyed.
- ``outcomes``, ``training_jobs``: observed defaults per decision; retraining requests.
- ``security_secrets.value``, ``security_signing_keys.secret``, ``security_totp_users.secret``
  widened to TEXT: a sealed value does not fit 0.1.0's ``VARCHAR(256/128/64)``.
- ``uq_serving_review_queue_request_kind``: two contests of one decision sent at once
  cannot make two items. A database that already holds such a pair is refused, naming it:
  both items are records of a person's contest, and which one to keep is the operator's
  call, not the migration's.

Development builds between 0.1.0 and this revision created some of these with
``create_all`` and a column stopgap, so each step is taken only where it is missing.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-03
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

from greenscore.errors import DataError
from greenscore.store.migrations import guard

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

REVIEW_UNIQUE = "uq_serving_review_queue_request_kind"
DUPLICATE_REVIEW_ITEMS = (
    "serving_review_queue holds {n} request(s) with more than one item of the same kind, "
    "e.g. request '{request_id}' kind '{kind}' (items {ids}); close or delete all but one "
    "of each and run 'greenscore db upgrade' again"
)
NEW_TABLES = [
    "outcomes",
    "privacy_sealed_subjects",
    "privacy_sealed_units",
    "security_audit_keying",
    "security_totp_attempts",
    "training_jobs",
]
#: (table, column) of each new column; :func:`_new_column` declares it.
NEW_COLUMNS = [
    ("predictions", "tenant"),
    ("serving_jobs", "callback_next_at"),
    ("serving_jobs", "chunk_rows"),
    ("serving_jobs", "id_column"),
    ("serving_review_queue", "tenant"),
]
#: (table, column, width in 0.1.0, nullable) of the columns that hold sealed secrets.
SECRET_COLUMNS = [
    ("security_secrets", "value", 256, False),
    ("security_signing_keys", "secret", 128, True),
    ("security_totp_users", "secret", 64, False),
]


def _new_column(name: str) -> sa.Column:
    kinds: dict[str, sa.types.TypeEngine[Any]] = {
        "tenant": sa.String(length=200),
        "callback_next_at": sa.DateTime(timezone=True),
        "chunk_rows": sa.Integer(),
        "id_column": sa.String(length=200),
    }
    return sa.Column(name, kinds[name], nullable=True)


def _create_tables(existing: set[str]) -> None:
    if "outcomes" not in existing:
        op.create_table(
            "outcomes",
            sa.Column("request_id", sa.String(length=64), nullable=False),
            sa.Column("subject_hash", sa.String(length=64), nullable=True),
            sa.Column("model_name", sa.String(length=200), nullable=False),
            sa.Column("model_version", sa.String(length=100), nullable=False),
            sa.Column("probability", sa.Float(), nullable=False),
            sa.Column("decision", sa.String(length=20), nullable=False),
            sa.Column("decided_at", sa.DateTime(timezone=True), nullable=False),
            sa.Column("loan_date", sa.DateTime(timezone=True), nullable=False),
            sa.Column("vintage", sa.String(length=7), nullable=False),
            sa.Column("defaulted", sa.Boolean(), nullable=False),
            sa.Column("observed_at", sa.DateTime(timezone=True), nullable=False),
            sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
            sa.Column("source", sa.String(length=300), nullable=True),
            sa.Column("tenant", sa.String(length=200), nullable=True),
            sa.PrimaryKeyConstraint("request_id"),
        )
        op.create_index(op.f("ix_outcomes_model_name"), "outcomes", ["model_name"])
        op.create_index(op.f("ix_outcomes_subject_hash"), "outcomes", ["subject_hash"])
        op.create_index(op.f("ix_outcomes_vintage"), "outcomes", ["vintage"])
    if "privacy_sealed_subjects" not in existing:
        op.create_table(
            "privacy_sealed_subjects",
            sa.Column("kind", sa.String(length=40), nullable=False),
            sa.Column("ref", sa.String(length=200), nullable=False),
            sa.Column("position", sa.Integer(), nullable=False),
            sa.Column("subject_hash", sa.String(length=64), nullable=False),
            sa.PrimaryKeyConstraint("kind", "ref", "position"),
        )
        op.create_index(
            op.f("ix_privacy_sealed_subjects_subject_hash"),
            "privacy_sealed_subjects",
            ["subject_hash"],
        )
    if "privacy_sealed_units" not in existing:
        op.create_table(
            "privacy_sealed_units",
            sa.Column("kind", sa.String(length=40), nullable=False),
            sa.Column("ref", sa.String(length=200), nullable=False),
            sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
            sa.Column("rows", sa.Integer(), nullable=False),
            sa.Column("kek_version", sa.Integer(), nullable=False),
            sa.Column("blob", sa.LargeBinary(), nullable=False),
            sa.PrimaryKeyConstraint("kind", "ref"),
        )
        op.create_index(
            op.f("ix_privacy_sealed_units_created_at"), "privacy_sealed_units", ["created_at"]
        )
        op.create_index(
            op.f("ix_privacy_sealed_units_kek_version"), "privacy_sealed_units", ["kek_version"]
        )
    if "security_audit_keying" not in existing:
        op.create_table(
            "security_audit_keying",
            sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
            sa.Column("keyed_from", sa.Integer(), nullable=False),
            sa.Column("legacy_head", sa.String(length=64), nullable=False),
            sa.Column("mac", sa.String(length=64), nullable=False),
            sa.PrimaryKeyConstraint("id"),
        )
    if "security_totp_attempts" not in existing:
        op.create_table(
            "security_totp_attempts",
            sa.Column("user", sa.String(length=200), nullable=False),
            sa.Column("failures", sa.Integer(), nullable=False),
            sa.Column("last_failure", sa.Float(), nullable=False),
            sa.PrimaryKeyConstraint("user"),
        )
    if "training_jobs" not in existing:
        op.create_table(
            "training_jobs",
            sa.Column("id", sa.String(length=32), nullable=False),
            sa.Column("model", sa.String(length=500), nullable=False),
            sa.Column("status", sa.String(length=20), nullable=False),
            sa.Column("reasons", sa.JSON(), nullable=False),
            sa.Column("dedupe_key", sa.String(length=64), nullable=False),
            sa.Column("requested_by", sa.String(length=200), nullable=False),
            sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
            sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
            sa.Column("result", sa.JSON(), nullable=True),
            sa.Column("error", sa.Text(), nullable=True),
            sa.PrimaryKeyConstraint("id"),
            sa.UniqueConstraint("dedupe_key"),
        )
        op.create_index(op.f("ix_training_jobs_model"), "training_jobs", ["model"])
        op.create_index(op.f("ix_training_jobs_status"), "training_jobs", ["status"])


def _check_review_items() -> None:
    """Refuse (naming one) when two items share a request and kind: the constraint would fail."""
    bind = op.get_bind()
    queue = sa.table(
        "serving_review_queue", sa.column("id"), sa.column("request_id"), sa.column("kind")
    )
    pairs = bind.execute(
        sa.select(queue.c.request_id, queue.c.kind)
        .group_by(queue.c.request_id, queue.c.kind)
        .having(sa.func.count() > 1)
        .order_by(queue.c.request_id, queue.c.kind)
    ).all()
    if pairs:
        request_id, kind = pairs[0]
        ids = bind.execute(
            sa.select(queue.c.id)
            .where(queue.c.request_id == request_id, queue.c.kind == kind)
            .order_by(queue.c.id)
        ).scalars()
        raise DataError(
            DUPLICATE_REVIEW_ITEMS.format(
                n=len(pairs), request_id=request_id, kind=kind, ids=", ".join(ids)
            )
        )


def _has_review_unique() -> bool:
    constraints = sa.inspect(op.get_bind()).get_unique_constraints("serving_review_queue")
    return any(
        c["name"] == REVIEW_UNIQUE or c["column_names"] == ["request_id", "kind"]
        for c in constraints
    )


def upgrade() -> None:
    """Add what 0.1.0 lacks (only where it is missing)."""
    _create_tables(guard.tables())
    for table, name in NEW_COLUMNS:
        if name not in guard.columns(table):
            with op.batch_alter_table(table) as batch:
                batch.add_column(_new_column(name))
    inspector = sa.inspect(op.get_bind())
    for table, name, width, nullable in SECRET_COLUMNS:
        found = next(c for c in inspector.get_columns(table) if c["name"] == name)
        if not isinstance(found["type"], sa.Text):
            with op.batch_alter_table(table) as batch:
                batch.alter_column(
                    name,
                    existing_type=sa.String(length=width),
                    type_=sa.Text(),
                    existing_nullable=nullable,
                )
    if not _has_review_unique():
        _check_review_items()
        with op.batch_alter_table("serving_review_queue") as batch:
            batch.create_unique_constraint(REVIEW_UNIQUE, ["request_id", "kind"])


def downgrade() -> None:
    """Back to 0.1.0's schema — refused, changing nothing, if that would lose data."""
    guard.refuse_rows("0001", NEW_TABLES)
    for table, name in NEW_COLUMNS:
        guard.refuse_values("0001", table, name)
    for table, name, width, _ in SECRET_COLUMNS:
        guard.refuse_longer("0001", table, name, width)
    if _has_review_unique():
        with op.batch_alter_table("serving_review_queue") as batch:
            batch.drop_constraint(REVIEW_UNIQUE, type_="unique")
    for table, name, width, nullable in SECRET_COLUMNS:
        with op.batch_alter_table(table) as batch:
            batch.alter_column(
                name,
                existing_type=sa.Text(),
                type_=sa.String(length=width),
                existing_nullable=nullable,
            )
    for table, name in reversed(NEW_COLUMNS):
        if name in guard.columns(table):
            with op.batch_alter_table(table) as batch:
                batch.drop_column(name)
    present = guard.tables()
    for table in reversed(NEW_TABLES):
        if table in present:
            op.drop_table(table)
