"""MLflow's SQL comparisons (``SearchUtils.get_sql_comparison_func``) as SQLAlchemy Core terms.

- SQLite and PostgreSQL compare plainly; SQLite's LIKE is case-sensitive only because the
  engine sets ``PRAGMA case_sensitive_like = true`` on connect, as MLflow's does.
- MySQL's default collations ignore case and trailing spaces, so for string columns MLflow
  pairs ``=``, ``!=`` and ``LIKE`` with the same test on ``BINARY column`` (plain test first, so
  an index on the column still applies) and tests ``IN`` / ``NOT IN`` on ``BINARY column`` only.
- ILIKE is SQLAlchemy's everywhere: native on PostgreSQL, ``lower(x) LIKE lower(y)`` elsewhere.
Every value is a bound parameter.
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
    "IN": lambda column, value: column.in_(value),
    "NOT IN": lambda column, value: ~column.in_(value),
}
DIALECTS: Final = frozenset(("sqlite", "postgresql", "mysql"))
_BINARY: Final[operators.custom_op[Any]] = operators.custom_op("BINARY")


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
