"""The schema of release 0.1.0 (the baseline: that release made its tables without migrations).

A database made by 0.1.0 is stamped at this revision without running it
(:func:`greenscore.store.migrate.upgrade`); on an empty database it creates the 17 tables
as 0.1.0 did, and on a partial one (a development build created only the tables whose
modules it had imported) it creates those that are missing.

Revision ID: 0001
Revises:
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from greenscore.store.migrations import guard

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

TABLES = [
    "predictions",
    "privacy_budget",
    "privacy_budget_spend",
    "privacy_consent",
    "privacy_datasets",
    "privacy_lineage",
    "privacy_retention",
    "privacy_token_vault",
    "security_api_keys",
    "security_audit_head",
    "security_audit_log",
    "security_secrets",
    "security_signing_keys",
    "security_totp_users",
    "serving_dead_letters",
    "serving_jobs",
    "serving_review_queue",
]


#: (table, index, columns) of every index 0.1.0 made.
INDEXES = [
    ("predictions", "ix_predictions_created_at", ["created_at"]),
    ("predictions", "ix_predictions_subject_hash", ["subject_hash"]),
    ("privacy_budget_spend", "ix_privacy_budget_spend_dataset", ["dataset"]),
    ("privacy_consent", "ix_privacy_consent_at", ["at"]),
    ("privacy_consent", "ix_privacy_consent_purpose", ["purpose"]),
    ("privacy_consent", "ix_privacy_consent_subject_hash", ["subject_hash"]),
    ("privacy_lineage", "ix_privacy_lineage_at", ["at"]),
    ("privacy_lineage", "ix_privacy_lineage_dataset_sha", ["dataset_sha"]),
    ("privacy_lineage", "ix_privacy_lineage_subject_hash", ["subject_hash"]),
    ("security_audit_log", "ix_security_audit_log_action", ["action"]),
    ("security_audit_log", "ix_security_audit_log_subject_hash", ["subject_hash"]),
    ("serving_dead_letters", "ix_serving_dead_letters_request_id", ["request_id"]),
    ("serving_dead_letters", "ix_serving_dead_letters_status", ["status"]),
    ("serving_jobs", "ix_serving_jobs_created_at", ["created_at"]),
    ("serving_jobs", "ix_serving_jobs_status", ["status"]),
    ("serving_review_queue", "ix_serving_review_queue_request_id", ["request_id"]),
    ("serving_review_queue", "ix_serving_review_queue_status", ["status"]),
]


def upgrade() -> None:
    """Create release 0.1.0's tables and indexes (those missing)."""
    existing = guard.tables()
    if "predictions" not in existing:
        op.create_table(
            "predictions",
            sa.Column("request_id", sa.String(length=64), nullable=False),
            sa.Column("subject_hash", sa.String(length=64), nullable=True),
            sa.Column("model_name", sa.String(length=200), nullable=False),
            sa.Column("model_version", sa.String(length=100), nullable=False),
            sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
            sa.Column("input_hash", sa.String(length=64), nullable=False),
            sa.Column("decision", sa.String(length=20), nullable=False),
            sa.Column("probability", sa.Float(), nullable=False),
            sa.Column("payload", sa.JSON(), nullable=True),
            sa.PrimaryKeyConstraint("request_id"),
        )
    if "privacy_budget" not in existing:
        op.create_table(
            "privacy_budget",
            sa.Column("dataset", sa.String(length=200), nullable=False),
            sa.Column("budget", sa.Float(), nullable=False),
            sa.Column("spent", sa.Float(), nullable=False),
            sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
            sa.PrimaryKeyConstraint("dataset"),
        )
    if "privacy_budget_spend" not in existing:
        op.create_table(
            "privacy_budget_spend",
            sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
            sa.Column("dataset", sa.String(length=200), nullable=False),
            sa.Column("query", sa.String(length=500), nullable=False),
            sa.Column("epsilon", sa.Float(), nullable=False),
            sa.Column("actor", sa.String(length=200), nullable=False),
            sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
            sa.PrimaryKeyConstraint("id"),
        )
    if "privacy_consent" not in existing:
        op.create_table(
            "privacy_consent",
            sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
            sa.Column("subject_hash", sa.String(length=64), nullable=False),
            sa.Column("purpose", sa.String(length=64), nullable=False),
            sa.Column("granted", sa.Boolean(), nullable=False),
            sa.Column("at", sa.DateTime(timezone=True), nullable=False),
            sa.Column("actor", sa.String(length=200), nullable=False),
            sa.Column("source", sa.String(length=200), nullable=True),
            sa.PrimaryKeyConstraint("id"),
        )
    if "privacy_datasets" not in existing:
        op.create_table(
            "privacy_datasets",
            sa.Column("name", sa.String(length=200), nullable=False),
            sa.Column("path", sa.String(length=1000), nullable=False),
            sa.Column("id_column", sa.String(length=200), nullable=False),
            sa.Column("time_column", sa.String(length=200), nullable=True),
            sa.Column("sha256", sa.String(length=64), nullable=False),
            sa.Column("registered_at", sa.DateTime(timezone=True), nullable=False),
            sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
            sa.PrimaryKeyConstraint("name"),
        )
    if "privacy_lineage" not in existing:
        op.create_table(
            "privacy_lineage",
            sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
            sa.Column("subject_hash", sa.String(length=64), nullable=False),
            sa.Column("action", sa.String(length=32), nullable=False),
            sa.Column("dataset_sha", sa.String(length=64), nullable=True),
            sa.Column("model_name", sa.String(length=200), nullable=True),
            sa.Column("model_version", sa.String(length=100), nullable=True),
            sa.Column("at", sa.DateTime(timezone=True), nullable=False),
            sa.PrimaryKeyConstraint("id"),
        )
    if "privacy_retention" not in existing:
        op.create_table(
            "privacy_retention",
            sa.Column("target", sa.String(length=250), nullable=False),
            sa.Column("days", sa.Integer(), nullable=False),
            sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
            sa.PrimaryKeyConstraint("target"),
        )
    if "privacy_token_vault" not in existing:
        op.create_table(
            "privacy_token_vault",
            sa.Column("token", sa.String(length=64), nullable=False),
            sa.Column("column", sa.String(length=200), nullable=True),
            sa.Column("ciphertext", sa.LargeBinary(), nullable=False),
            sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
            sa.PrimaryKeyConstraint("token"),
        )
    if "security_api_keys" not in existing:
        op.create_table(
            "security_api_keys",
            sa.Column("key_id", sa.String(length=32), nullable=False),
            sa.Column("name", sa.String(length=200), nullable=False),
            sa.Column("role", sa.String(length=32), nullable=False),
            sa.Column("secret_sha256", sa.String(length=64), nullable=False),
            sa.Column("created_at", sa.DateTime(), nullable=False),
            sa.Column("expires_at", sa.DateTime(), nullable=True),
            sa.Column("revoked_at", sa.DateTime(), nullable=True),
            sa.PrimaryKeyConstraint("key_id"),
        )
    if "security_audit_head" not in existing:
        op.create_table(
            "security_audit_head",
            sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
            sa.Column("count", sa.Integer(), nullable=False),
            sa.Column("last_id", sa.Integer(), nullable=False),
            sa.Column("head_hash", sa.String(length=64), nullable=False),
            sa.PrimaryKeyConstraint("id"),
        )
    if "security_audit_log" not in existing:
        op.create_table(
            "security_audit_log",
            sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
            sa.Column("ts", sa.String(length=40), nullable=False),
            sa.Column("action", sa.String(length=100), nullable=False),
            sa.Column("actor", sa.String(length=200), nullable=False),
            sa.Column("subject_hash", sa.String(length=64), nullable=True),
            sa.Column("details", sa.Text(), nullable=False),
            sa.Column("prev_hash", sa.String(length=64), nullable=False),
            sa.Column("hash", sa.String(length=64), nullable=False),
            sa.PrimaryKeyConstraint("id"),
        )
    if "security_secrets" not in existing:
        op.create_table(
            "security_secrets",
            sa.Column("name", sa.String(length=64), nullable=False),
            sa.Column("value", sa.String(length=256), nullable=False),
            sa.Column("created_at", sa.DateTime(), nullable=False),
            sa.PrimaryKeyConstraint("name"),
        )
    if "security_signing_keys" not in existing:
        op.create_table(
            "security_signing_keys",
            sa.Column("kid", sa.String(length=40), nullable=False),
            sa.Column("secret", sa.String(length=128), nullable=True),
            sa.Column("activated_at", sa.DateTime(), nullable=False),
            sa.Column("retired_at", sa.DateTime(), nullable=True),
            sa.PrimaryKeyConstraint("kid"),
        )
    if "security_totp_users" not in existing:
        op.create_table(
            "security_totp_users",
            sa.Column("user", sa.String(length=200), nullable=False),
            sa.Column("role", sa.String(length=32), nullable=False),
            sa.Column("secret", sa.String(length=64), nullable=False),
            sa.Column("enrolled_at", sa.DateTime(), nullable=False),
            sa.Column("last_step", sa.Integer(), nullable=True),
            sa.PrimaryKeyConstraint("user"),
        )
    if "serving_dead_letters" not in existing:
        op.create_table(
            "serving_dead_letters",
            sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
            sa.Column("request_id", sa.String(length=64), nullable=False),
            sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
            sa.Column("kind", sa.String(length=20), nullable=False),
            sa.Column("route", sa.String(length=200), nullable=True),
            sa.Column("actor", sa.String(length=200), nullable=True),
            sa.Column("model", sa.String(length=500), nullable=True),
            sa.Column("error", sa.Text(), nullable=False),
            sa.Column("payload", sa.Text(), nullable=False),
            sa.Column("status", sa.String(length=20), nullable=False),
            sa.Column("replayed_at", sa.DateTime(timezone=True), nullable=True),
            sa.Column("note", sa.Text(), nullable=True),
            sa.PrimaryKeyConstraint("id"),
        )
    if "serving_jobs" not in existing:
        op.create_table(
            "serving_jobs",
            sa.Column("id", sa.String(length=32), nullable=False),
            sa.Column("status", sa.String(length=20), nullable=False),
            sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
            sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
            sa.Column("actor", sa.String(length=200), nullable=False),
            sa.Column("source", sa.String(length=20), nullable=False),
            sa.Column("input_path", sa.Text(), nullable=False),
            sa.Column("total", sa.Integer(), nullable=False),
            sa.Column("done", sa.Integer(), nullable=False),
            sa.Column("errors", sa.Integer(), nullable=False),
            sa.Column("error", sa.Text(), nullable=True),
            sa.Column("callback_url", sa.Text(), nullable=True),
            sa.Column("callback_status", sa.String(length=20), nullable=False),
            sa.Column("callback_attempts", sa.Integer(), nullable=False),
            sa.Column("callback_error", sa.Text(), nullable=True),
            sa.Column("worker", sa.String(length=64), nullable=True),
            sa.Column("heartbeat_at", sa.DateTime(timezone=True), nullable=True),
            sa.PrimaryKeyConstraint("id"),
        )
    if "serving_review_queue" not in existing:
        op.create_table(
            "serving_review_queue",
            sa.Column("id", sa.String(length=32), nullable=False),
            sa.Column("request_id", sa.String(length=64), nullable=False),
            sa.Column("kind", sa.String(length=20), nullable=False),
            sa.Column("status", sa.String(length=20), nullable=False),
            sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
            sa.Column("comment", sa.Text(), nullable=True),
            sa.Column("model", sa.String(length=300), nullable=False),
            sa.Column("decision", sa.String(length=20), nullable=False),
            sa.Column("probability", sa.Float(), nullable=False),
            sa.Column("outcome", sa.String(length=20), nullable=True),
            sa.Column("note", sa.Text(), nullable=True),
            sa.Column("decided_by", sa.String(length=200), nullable=True),
            sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
            sa.PrimaryKeyConstraint("id"),
        )

    for table, name, columns in INDEXES:
        if name not in guard.indexes(table):
            op.create_index(name, table, columns)


def downgrade() -> None:
    """Drop release 0.1.0's tables, if they are all empty."""
    guard.refuse_rows("base", TABLES)
    present = guard.tables()
    for name in reversed(TABLES):
        if name in present:
            op.drop_table(name)
