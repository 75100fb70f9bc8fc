"""``column IN (a list given at run time)`` whose SQL text does not depend on the list.

SQLAlchemy's expanding ``IN`` renders one placeholder per value at every execution; on
PostgreSQL psycopg then parses each new text and never prepares it. Loading a page of 100 runs
spent most of its CPU there. On PostgreSQL one array parameter does the same
(``column = ANY(%(name)s)``, which uses the column's index as ``IN`` does), so the statement is
rendered once and prepared by the driver. SQLite and MySQL keep the expanding ``IN``: their
drivers do not prepare, and the statement's text for a given list length is cached.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.sql.elements import ColumnElement


def in_list(column: sa.Column[Any], name: str, dialect: str) -> ColumnElement[bool]:
    """``column`` is one of the values bound to ``name`` (a list) at execution."""
    if dialect == "postgresql":
        values = sa.bindparam(name, type_=postgresql.ARRAY(column.type))
        return column == sa.any_(values)
    return column.in_(sa.bindparam(name, expanding=True))
