"""Parsed experiment search clauses as SQLAlchemy Core WHERE and ORDER BY terms.

Each comparison is the one MLflow's SQL store builds (``SearchUtils.get_sql_comparison_func``),
so results match row for row on every dialect:
 - SQLite and PostgreSQL compare plainly; SQLite's LIKE is case-sensitive only because the
   engine sets ``PRAGMA case_sensitive_like = true`` on connect, as MLflow's does.
 - MySQL's default collations ignore case and trailing spaces, so for string columns MLflow
   pairs ``=``, ``!=`` and ``LIKE`` with the same test on ``BINARY column``; so do we, keeping
   the plain test first so an index on the column still applies.
 - ILIKE is SQLAlchemy's everywhere: native on PostgreSQL, ``lower(x) LIKE lower(y)`` elsewhere.
 - A tag comparison is MLflow's join to the experiment's tag row with that key, written as an
   EXISTS: (experiment_id, key) is the table's primary key, so the join never repeats a row and
   both forms select the same experiments. ``IS [NOT] NULL`` is MLflow's [NOT] EXISTS, whose key
   test is a plain ``=`` even on MySQL.
Every value is a bound parameter.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Sequence
from typing import Any, Final

import sqlalchemy as sa
from sqlalchemy.sql import operators
from sqlalchemy.sql.elements import ColumnElement, UnaryExpression

from mlflow_core.adapters.sql import tables
from mlflow_core.search.experiments import ExperimentOrderKey, FilterClause

_experiments = tables.experiments
_tags = tables.experiment_tags

Comparison = Callable[[Any, Any], ColumnElement[bool]]

_COMPARISONS: Final[dict[str, Comparison]] = {
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
_DIALECTS: Final = frozenset(("sqlite", "postgresql", "mysql"))
_BINARY: Final[operators.custom_op[Any]] = operators.custom_op("BINARY")


def experiment_where(clauses: Sequence[FilterClause], dialect: str) -> list[ColumnElement[bool]]:
    """One WHERE term per clause, for a SELECT over ``experiments``."""
    if dialect not in _DIALECTS:
        raise ValueError(f"Unsupported dialect for experiment search: {dialect!r}")
    return [_term(clause, dialect) for clause in clauses]


def experiment_order_by(keys: Sequence[ExperimentOrderKey]) -> list[UnaryExpression[Any]]:
    """ORDER BY terms; ``keys`` already end with MLflow's experiment_id tie-breaker."""
    return [
        _experiments.c[key.key].asc() if key.ascending else _experiments.c[key.key].desc()
        for key in keys
    ]


def _term(clause: FilterClause, dialect: str) -> ColumnElement[bool]:
    if clause.kind == "attribute":
        return compare(_experiments.c[clause.key], clause.comparator, clause.value, dialect)
    if clause.comparator in ("IS NULL", "IS NOT NULL"):
        exists = (
            sa.select(_tags.c.experiment_id)
            .where(
                _tags.c.experiment_id == _experiments.c.experiment_id,
                _tags.c.key == clause.key,
            )
            .exists()
        )
        return ~exists if clause.comparator == "IS NULL" else exists
    return (
        sa.select(_tags.c.experiment_id)
        .where(
            _tags.c.experiment_id == _experiments.c.experiment_id,
            compare(_tags.c.key, "=", clause.key, dialect),
            compare(_tags.c.value, clause.comparator, clause.value, dialect),
        )
        .exists()
    )


def compare(
    column: sa.Column[Any], comparator: str, value: Any, dialect: str
) -> ColumnElement[bool]:
    test = _COMPARISONS[comparator]
    if dialect == "mysql" and isinstance(column.type, sa.String):
        exact = UnaryExpression(column, operator=_BINARY, type_=column.type)
        if comparator in ("=", "LIKE"):
            return sa.and_(test(column, value), test(exact, value))
        if comparator == "!=":
            return sa.or_(test(column, value), test(exact, value))
    return test(column, value)
