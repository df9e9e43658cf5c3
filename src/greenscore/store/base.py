"""The declarative base every GreenScore table is declared on (:mod:`greenscore.store.tables`)."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from sqlalchemy import Table
from sqlalchemy.orm import DeclarativeBase


class Base(DeclarativeBase):
    """Declarative base of every GreenScore table."""

    if TYPE_CHECKING:
        # SQLAlchemy types ``__table__`` as a FromClause (a mapping may sit on a join or a
        # select); every GreenScore table maps one Table, so its insert/update/delete type.
        __table__: ClassVar[Table]
