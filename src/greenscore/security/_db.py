"""The database URL, engine and sessions for the current settings, resolved once per settings.

``Settings.db_url`` resolves the home folder on the file system each call (tens of µs);
the per-request paths (API key checks, audit events) look it up here instead. Creating
tables is serialised here too: two threads (or processes) creating the same new SQLite
schema at once otherwise fail with "table already exists".
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from greenscore.config import Settings
from greenscore.errors import ConfigError
from greenscore.store import init_db

_urls: dict[tuple[str | None, str, str], str] = {}
_init_lock = threading.Lock()


def db_url(settings: Settings) -> str:
    """``settings.db_url``, cached on what it depends on (URL, home, cwd if home is relative)."""
    home = settings.home
    key = (settings.database_url, str(home), "" if home.is_absolute() else os.getcwd())
    url = _urls.get(key)
    if url is None:
        url = _urls[key] = settings.db_url
    return url


def engine(settings: Settings) -> Engine:
    """The engine for the current settings, with every declared table created."""
    url = db_url(settings)
    with _init_lock:
        try:
            return init_db(url)
        except ConfigError:
            # Another process may have been creating the same tables: the second
            # create_all sees them and only adds what is still missing.
            return init_db(url)


@contextmanager
def session(settings: Settings) -> Iterator[Session]:
    """An ORM session that commits on success and rolls back on error."""
    with Session(bind=engine(settings), expire_on_commit=False) as s:
        try:
            yield s
            s.commit()
        except BaseException:
            s.rollback()
            raise
