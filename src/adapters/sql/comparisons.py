"""MLflow's SQL comparisons (``SearchUtils.get_sql_comparison_func``) as SQLAlchemy Core terms.

- SQLite and PostgreSQL compare plainly; SQLite's LIKE is case-sensitive only because the
  engine sets ``PRAGMA case_sensitive_like = true`` on connect, as MLflow's does.
- MySQL's default collations ignore case and trailing spaces, so for string columns MLflow
  pairs ``=``, ``!=`` and ``LIKE`` with the same test on ``BINARY column`` (plain test first, so
  an index on the column still applies) and tests ``IN`` / ``NOT IN`` on ``BINARY column`` only.
- ILIKE is SQLAlchemy's everywhere: native on PostgreSQL, ``lower(x) LIKE lower(y)`` elsewhere.
Every value is a bound parameter (an IN list's: one each).
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from typing import Any, Final

import sqlalchemy as sa
from sqlalchemy.sql import operators
from sqlalchemy.sql.elements import ColumnElement, UnaryExpression

Comparison = Callable[[Any, Any], ColumnElement[bool]]

COMPARISONS: Final[dict[str, Comparison]] = {
    "=": operator.eq,
    "!=": operator.ne,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
    "LIKE": lambda column, value: column.like(value),
    "ILIKE": lambda column, value: column.ilike(value),
    "IN": lambda column, values: column.in_(_each_bound(column, values)),
    "NOT IN": lambda column, values: ~column.in_(_each_bound(column, values)),
}
DIALECTS: Final = frozenset(("sqlite", "postgresql", "mysql"))
_BINARY: Final[operators.custom_op[Any]] = operators.custom_op("BINARY")


def _each_bound(column: sa.ColumnElement[Any], values: Any) -> list[Any]:
    """A parameter per value, rendered with the statement (built once per distinct search)
    rather than SQLAlchemy's expanding parameter, whose placeholders are rendered at every
    execution and which a statement run on the driver's connection cannot take."""
    return [sa.bindparam(None, value, type_=column.type) for value in values]


def compare(
    column: sa.ColumnElement[Any], comparator: str, value: Any, dialect: str
) -> ColumnElement[bool]:
    """``column <comparator> value`` as MLflow's store writes it for ``dialect``."""
    compare_plain = COMPARISONS[comparator]
    if dialect == "mysql" and isinstance(column.type, sa.String):
        exact = UnaryExpression(column, operator=_BINARY, type_=column.type)
        if comparator in ("=", "LIKE"):
            return sa.and_(compare_plain(column, value), compare_plain(exact, value))
        if comparator == "!=":
            return sa.or_(compare_plain(column, value), compare_plain(exact, value))
        if comparator in ("IN", "NOT IN"):
            return compare_plain(exact, value)
    return compare_plain(column, value)
