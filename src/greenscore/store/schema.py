"""The whole schema: every table of every capability, declared in :mod:`greenscore.store.tables`.

Import :data:`metadata` (not a capability module) wherever the complete set of tables is
needed — the migrations' autogenerate, schema comparisons in tests — so that no table's
existence depends on which modules happened to be imported first.
"""

from __future__ import annotations

from greenscore.store.base import Base
from greenscore.store.tables import (
    monitoring,
    predictions,
    privacy,
    security,
    serving,
    sustainability,
)

#: Every table GreenScore keeps.
metadata = Base.metadata

__all__ = [
    "metadata",
    "monitoring",
    "predictions",
    "privacy",
    "security",
    "serving",
    "sustainability",
]
