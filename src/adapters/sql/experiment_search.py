"""Parsed experiment search clauses as SQLAlchemy Core WHERE and ORDER BY terms.

Each comparison is the one MLflow's SQL store builds (``comparisons.compare``, MLflow's
``SearchUtils.get_sql_comparison_func``), so results match row for row on every dialect.
A tag comparison is MLflow's join to the experiment's tag row with that key, written as an
EXISTS: (experiment_id, key) is the table's primary key, so the join never repeats a row and
both forms select the same experiments. ``IS [NOT] NULL`` is MLflow's [NOT] EXISTS, whose key
test is a plain ``=`` even on MySQL.
Every value is a bound parameter.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.sql.elements import ColumnElement, UnaryExpression

from mlflow_core.adapters.sql import tables
from mlflow_core.adapters.sql.comparisons import DIALECTS, compare
from mlflow_core.search.experiments import ExperimentOrderKey, FilterClause

_experiments = tables.experiments
_tags = tables.experiment_tags


def experiment_where(clauses: Sequence[FilterClause], dialect: str) -> list[ColumnElement[bool]]:
    """One WHERE term per clause, for a SELECT over ``experiments``."""
    if dialect not in DIALECTS:
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
