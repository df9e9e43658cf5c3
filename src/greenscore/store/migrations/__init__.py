"""Alembic migration scripts of GreenScore's database (run by :mod:`greenscore.store.migrate`).

``versions/0001`` is the schema of release 0.1.0; each later script changes it, and the
head equals :data:`greenscore.store.schema.metadata` (a test compares them on SQLite and
PostgreSQL). To write a migration after changing a table in :mod:`greenscore.store.tables`,
let Alembic draft it against a database at the current head and read every line::

    from alembic import command
    from greenscore.store import migrate
    from greenscore.store.engine import engine_for

    engine = engine_for("sqlite:////tmp/draft.db")
    migrate.upgrade(engine)
    with engine.begin() as conn:
        command.revision(migrate._config(conn), "what changed", autogenerate=True,
                         rev_id="0003")

Keep both directions in one transaction's worth of work, ``batch_alter_table`` for
anything SQLite cannot ``ALTER`` in place, and a downgrade that refuses rather than lose
data.
"""
