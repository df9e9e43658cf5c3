"""The declarative base every GreenScore table is declared on (:mod:`greenscore.store.tables`)."""

from __future__ import annotations

from sqlalchemy.orm import DeclarativeBase


class Base(DeclarativeBase):
    """Declarative base of every GreenScore table."""
