"""Transitional: a session from a URL or the process-wide settings, for the carbon ledger
(:mod:`greenscore.store.sustainability`) whose functions still take ``url=``. Every other
reader and writer takes a :class:`~greenscore.store.database.Database`; remove this when
the ledger does too.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy.orm import Session

from greenscore.store.database import database_url, open_database


@contextmanager
def session_scope(url: str | None = None) -> Iterator[Session]:
    """A session on ``url`` (default: the process-wide settings' database)."""
    if url is None:
        from greenscore.config import get_settings

        url = database_url(get_settings())
    with open_database(url).session() as session:
        yield session
