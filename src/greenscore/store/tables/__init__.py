"""Every table of GreenScore, one module per capability that writes it.

The declarations live here, in the bottom layer, so that the whole schema is known without
importing the capabilities (security, privacy, serving, monitoring) that use it: those
import their tables from here. :mod:`greenscore.store.schema` gathers them all; the
migrations in :mod:`greenscore.store.migrations` build them in a database.

A change to a table here needs a migration (``alembic revision --autogenerate``, then
read it): ``tests/integration/test_store_migrations.py`` fails while the two disagree.
"""
