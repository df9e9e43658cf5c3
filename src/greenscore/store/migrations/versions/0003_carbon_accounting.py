"""Carbon accounting: budgets, the usage ledger, budget alerts, scheduled jobs.

Development builds made these tables with ``create_all`` before this migration existed,
so each is created only where it is missing.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from greenscore.store.migrations import guard

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

TABLES = ["carbon_budget_alerts", "carbon_budgets", "carbon_schedule", "carbon_usage"]


def upgrade() -> None:
    """Create the carbon accounting tables (those missing)."""
    existing = guard.tables()
    if "carbon_budget_alerts" not in existing:
        op.create_table(
            "carbon_budget_alerts",
            sa.Column("id", sa.String(length=32), nullable=False),
            sa.Column("budget_id", sa.String(length=32), nullable=False),
            sa.Column("period_key", sa.String(length=10), nullable=False),
            sa.Column("threshold", sa.Float(), nullable=False),
            sa.Column("fired_at", sa.DateTime(timezone=True), nullable=False),
            sa.Column("used_kg", sa.Float(), nullable=False),
            sa.Column("limit_kg", sa.Float(), nullable=False),
            sa.Column("usage_id", sa.String(length=32), nullable=True),
            sa.Column("message", sa.Text(), nullable=False),
            sa.PrimaryKeyConstraint("id"),
            sa.UniqueConstraint(
                "budget_id", "period_key", "threshold", name="uq_carbon_budget_alert"
            ),
        )
        op.create_index(
            op.f("ix_carbon_budget_alerts_budget_id"), "carbon_budget_alerts", ["budget_id"]
        )
        op.create_index(
            op.f("ix_carbon_budget_alerts_fired_at"), "carbon_budget_alerts", ["fired_at"]
        )
    if "carbon_budgets" not in existing:
        op.create_table(
            "carbon_budgets",
            sa.Column("id", sa.String(length=32), nullable=False),
            sa.Column("scope", sa.String(length=20), nullable=False),
            sa.Column("name", sa.String(length=200), nullable=False),
            sa.Column("period", sa.String(length=10), nullable=False),
            sa.Column("limit_kg", sa.Float(), nullable=False),
            sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
            sa.PrimaryKeyConstraint("id"),
            sa.UniqueConstraint("scope", "name", "period", name="uq_carbon_budget"),
        )
    if "carbon_schedule" not in existing:
        op.create_table(
            "carbon_schedule",
            sa.Column("id", sa.String(length=32), nullable=False),
            sa.Column("job", sa.String(length=200), nullable=False),
            sa.Column("kind", sa.String(length=40), nullable=False),
            sa.Column("country", sa.String(length=3), nullable=False),
            sa.Column("region", sa.String(length=100), nullable=True),
            sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
            sa.Column("deadline", sa.DateTime(timezone=True), nullable=False),
            sa.Column("duration_hours", sa.Float(), nullable=False),
            sa.Column("planned_start", sa.DateTime(timezone=True), nullable=False),
            sa.Column("kwh", sa.Float(), nullable=True),
            sa.Column("intensity_now", sa.Float(), nullable=False),
            sa.Column("intensity_planned", sa.Float(), nullable=False),
            sa.Column("saving_kg", sa.Float(), nullable=True),
            sa.Column("source", sa.Text(), nullable=False),
            sa.Column("status", sa.String(length=20), nullable=False),
            sa.PrimaryKeyConstraint("id"),
        )
        op.create_index(
            op.f("ix_carbon_schedule_planned_start"), "carbon_schedule", ["planned_start"]
        )
    if "carbon_usage" not in existing:
        op.create_table(
            "carbon_usage",
            sa.Column("id", sa.String(length=32), nullable=False),
            sa.Column("source_key", sa.String(length=300), nullable=False),
            sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
            sa.Column("kind", sa.String(length=40), nullable=False),
            sa.Column("project", sa.String(length=200), nullable=False),
            sa.Column("team", sa.String(length=200), nullable=True),
            sa.Column("model", sa.String(length=200), nullable=True),
            sa.Column("run_id", sa.String(length=64), nullable=True),
            sa.Column("kwh", sa.Float(), nullable=False),
            sa.Column("co2_kg", sa.Float(), nullable=False),
            sa.Column("g_co2e_per_kwh", sa.Float(), nullable=False),
            sa.Column("factor_source", sa.Text(), nullable=False),
            sa.Column("rows", sa.Integer(), nullable=True),
            sa.Column("fits", sa.Integer(), nullable=True),
            sa.PrimaryKeyConstraint("id"),
            sa.UniqueConstraint("source_key"),
        )
        op.create_index(op.f("ix_carbon_usage_model"), "carbon_usage", ["model"])
        op.create_index(op.f("ix_carbon_usage_project"), "carbon_usage", ["project"])
        op.create_index(op.f("ix_carbon_usage_recorded_at"), "carbon_usage", ["recorded_at"])


def downgrade() -> None:
    """Drop the carbon accounting tables, if they are all empty."""
    guard.refuse_rows("0002", TABLES)
    present = guard.tables()
    for name in TABLES:
        if name in present:
            op.drop_table(name)
