"""Alembic's entry point: runs the migrations on the connection GreenScore hands it.

:mod:`greenscore.store.migrate` puts an open connection, inside its transaction and
migration lock, in ``config.attributes["connection"]``; the scripts run on it and the
caller commits. ``render_as_batch`` lets the same scripts alter tables on SQLite (which
copies a table to change it) and on PostgreSQL (plain ``ALTER TABLE``).
"""

from __future__ import annotations

from alembic import context

from greenscore.store.schema import metadata

config = context.config
connection = config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run GreenScore's migrations through greenscore.store.migrate")
context.configure(
    connection=connection,
    target_metadata=metadata,
    render_as_batch=True,
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
