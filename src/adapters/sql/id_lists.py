"""``column IN (a list given at run time)`` whose SQL text does not depend on the list.

SQLAlchemy's expanding ``IN`` renders one placeholder per value at every execution; on
PostgreSQL psycopg then parses each new text and never prepares it. Loading a page of 100 runs
spent most of its CPU there. On PostgreSQL one array parameter does the same
(``column = ANY(%(name)s)``, which uses the column's index as ``IN`` does), so the statement is
rendered once and prepared by the driver. The array travels as its text literal
(``list_value``): psycopg's list dumper, in Python, cost more per call than the rest of the
query's client work. SQLite and MySQL keep the expanding ``IN``: their drivers do not prepare,
and the statement's text for a given list length is cached.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.sql.elements import ColumnElement


def in_list(column: sa.Column[Any], name: str, dialect: str) -> ColumnElement[bool]:
    """``column`` is one of the values bound to ``name`` (a list) at execution."""
    if dialect == "postgresql":
        return column == sa.any_(_array(name, column))
    return column.in_(sa.bindparam(name, expanding=True))


def list_value(values: Iterable[Any], dialect: str) -> Any:
    """The value to bind for an ``in_list`` on ``dialect``."""
    if dialect == "postgresql":
        return _array_literal(values)
    return list(values)


def _array(name: str, column: sa.Column[Any]) -> ColumnElement[Any]:
    return sa.cast(sa.bindparam(name, type_=sa.String()), postgresql.ARRAY(column.type))


def _array_literal(values: Iterable[Any]) -> str:
    """PostgreSQL's text form of a one-dimensional array, every element quoted."""
    quoted = (str(v).replace("\\", "\\\\").replace('"', '\\"') for v in values)
    return "{" + ",".join(f'"{v}"' for v in quoted) + "}"


def in_pairs(
    first: sa.Column[Any], second: sa.Column[Any], name: str, dialect: str
) -> ColumnElement[bool]:
    """``(first, second)`` is one of the pairs bound with ``pair_values(name, ...)``.

    On PostgreSQL the pairs are two parallel arrays zipped by ``unnest``, for the same reason
    as ``in_list``; elsewhere a tuple ``IN``.
    """
    if dialect == "postgresql":
        pairs = (
            sa.func.unnest(_array(f"{name}_first", first), _array(f"{name}_second", second))
            .table_valued("first", "second")
            .render_derived(name="pairs")
        )
        return sa.tuple_(first, second).in_(sa.select(pairs.c.first, pairs.c.second))
    return sa.tuple_(first, second).in_(sa.bindparam(name, expanding=True))


def pair_values(name: str, pairs: list[tuple[Any, Any]], dialect: str) -> dict[str, Any]:
    """The parameters binding ``pairs`` for ``in_pairs(..., name, dialect)``."""
    if dialect == "postgresql":
        return {
            f"{name}_first": _array_literal(p[0] for p in pairs),
            f"{name}_second": _array_literal(p[1] for p in pairs),
        }
    return {name: pairs}
