"""Helpers the migration scripts share: what the database holds, and the refusal to lose it.

The databases made before migrations existed (release 0.1.0, and development builds since)
were built by ``create_all`` from whichever tables were imported, then patched by a
stopgap that added missing columns; the first two migrations therefore create or add only
what is missing. A downgrade never deletes data silently: when going down would drop a
table that holds rows, or a column that holds values, or cut a value to fit a narrower
column, it raises :class:`~greenscore.errors.DataError` naming the first such place, and
the whole downgrade (one transaction) changes nothing.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from greenscore.errors import DataError

LOSSY_DOWNGRADE = (
    "going down to schema revision {target} would lose data: {what}; stay at this "
    "revision, or delete that data yourself and run the downgrade again"
)


def tables() -> set[str]:
    """Names of the tables in the database (in the migration's schema)."""
    return set(sa.inspect(op.get_bind()).get_table_names())


def columns(table: str) -> set[str]:
    """Names of a table's columns."""
    return {c["name"] for c in sa.inspect(op.get_bind()).get_columns(table)}


def indexes(table: str) -> set[str]:
    """Names of a table's indexes."""
    return {i["name"] for i in sa.inspect(op.get_bind()).get_indexes(table) if i["name"]}


def _quoted(name: str) -> str:
    return op.get_bind().dialect.identifier_preparer.quote(name)


def refuse_rows(target: str, names: list[str]) -> None:
    """Raise unless each of these tables (those present) is empty."""
    present = tables()
    for name in names:
        if name not in present:
            continue
        n = op.get_bind().exec_driver_sql(f"SELECT COUNT(*) FROM {_quoted(name)}").scalar()
        if n:
            raise DataError(LOSSY_DOWNGRADE.format(target=target, what=f"{n} row(s) of {name}"))


def refuse_values(target: str, table: str, column: str) -> None:
    """Raise if ``table.column`` holds a value (NULL everywhere is nothing to lose)."""
    if table not in tables() or column not in columns(table):
        return
    n = (
        op.get_bind()
        .exec_driver_sql(
            f"SELECT COUNT(*) FROM {_quoted(table)} WHERE {_quoted(column)} IS NOT NULL"
        )
        .scalar()
    )
    if n:
        raise DataError(
            LOSSY_DOWNGRADE.format(target=target, what=f"{n} value(s) in {table}.{column}")
        )


def refuse_longer(target: str, table: str, column: str, length: int) -> None:
    """Raise if ``table.column`` holds a value longer than ``length`` characters."""
    if table not in tables():
        return
    n = (
        op.get_bind()
        .exec_driver_sql(
            f"SELECT COUNT(*) FROM {_quoted(table)} WHERE LENGTH({_quoted(column)}) > {int(length)}"
        )
        .scalar()
    )
    if n:
        raise DataError(
            LOSSY_DOWNGRADE.format(
                target=target,
                what=f"{n} value(s) of {table}.{column} longer than {length} characters",
            )
        )
