"""A parsed runs search as one SQLAlchemy Core SELECT of the page's run ids.

The rows and their order are exactly those of MLflow's ``_search_runs`` (``SqlAlchemyStore``),
which joins one subquery per filter and per order key and de-duplicates with ``DISTINCT``;
ours selects only ``run_uuid`` and the order columns:
 - attribute clauses compare ``runs`` columns; ``run_name`` compares the ``mlflow.runName``
   tag, as MLflow does (the column is empty for runs logged by MLflow <= 1.29);
 - metric, param and tag clauses are ``EXISTS`` on the row with that key (the key is in the
   table's primary key with ``run_uuid``, so MLflow's inner join never repeats a run and both
   forms select the same runs); a metric clause never matches a NaN's placeholder 0, except
   ``!=``, which every NaN matches; ``IS [NOT] NULL`` tests the key with a plain ``=``;
 - dataset clauses are ``EXISTS`` over ``inputs`` joined to ``datasets`` (and ``input_tags``'
   ``mlflow.data.context`` row for ``context``), where MLflow joins and then de-duplicates;
 - each order key sorts first on MLflow's presence flag (metrics: value 0, NaN 1, absent 2;
   others: present 0, absent 1), ascending whatever the direction, then on the value; then
   ``start_time DESC`` unless it was a key, then ``run_uuid``. The key's row is an outer join
   on (run_uuid, key) with a plain ``=``: on MySQL, whose collations ignore case, two keys
   differing only in case both join, as in MLflow, which there returns the run twice; only
   there do we keep MLflow's ``DISTINCT``, which elsewhere is a no-op that costs a full sort.
With the opt-in search indexes on PostgreSQL (``search_indexes``), a param or tag order key
joins the union of its short and long values, and ``=`` on a short value names the short
index's predicate: the same rows, read from the indexes. There, a page ordered first by a
metric may instead be read from the metric index first (``metric_first_page``).
Every value is a bound parameter; only the shape of the statement depends on the filter.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any, Final

import sqlalchemy as sa
from sqlalchemy.sql import Select
from sqlalchemy.sql.elements import ColumnElement

from mlflow_core.adapters.sql import tables
from mlflow_core.adapters.sql.comparisons import DIALECTS, compare
from mlflow_core.adapters.sql.search_indexes import keyed_values, short_value_test
from mlflow_core.errors import MlflowCoreError
from mlflow_core.ports.tracking import RunSearch
from mlflow_core.search.runs import RunFilterClause, RunOrderKey

_runs = tables.runs
_experiments = tables.experiments
_tags = tables.tags
_params = tables.params
_metrics = tables.latest_metrics
_datasets = tables.datasets
_inputs = tables.inputs
_input_tags = tables.input_tags

RUN_NAME_TAG: Final = "mlflow.runName"
# Not MLflow's grammar: a metric clause with this comparator (and no value) holds for the runs
# whose metric is NaN or absent, which MLflow orders after every number (metric_first_page).
NO_NUMBER: Final = "HAS NO NUMBER"
DATASET_CONTEXT_TAG: Final = "mlflow.data.context"
# MLflow's attribute names to ``runs`` columns (``SqlRun.get_attribute_name``).
_ATTRIBUTE_COLUMNS: Final = {
    "run_id": _runs.c.run_uuid,
    "run_name": _runs.c.name,
    "status": _runs.c.status,
    "user_id": _runs.c.user_id,
    "start_time": _runs.c.start_time,
    "end_time": _runs.c.end_time,
    "artifact_uri": _runs.c.artifact_uri,
}
_KEYED_TABLES: Final = {"metric": _metrics, "param": _params, "tag": _tags}
# The clause and order kinds that compare a key's value in its own table.
VALUE_KINDS: Final = frozenset(_KEYED_TABLES)


def run_ids_statement(
    workspace: str, search: RunSearch, dialect: str, indexed: bool = False
) -> Select[Any]:
    """The page's statement; built once per distinct search (clients repeat theirs).

    ``indexed``: the database has the search indexes (PostgreSQL only).
    """
    return _statement(workspace, hashable(search), dialect, indexed and dialect == "postgresql")


def hashable(search: RunSearch) -> RunSearch:
    """``search`` with its experiment ids as a tuple, to key a cache of statements."""
    return RunSearch(
        tuple(search.experiment_ids), search.view_type, search.query, search.offset, search.limit
    )


@lru_cache(maxsize=256)
def _statement(workspace: str, search: RunSearch, dialect: str, indexed: bool) -> Select[Any]:
    return _build(workspace, search, dialect, indexed)


def _build(workspace: str, search: RunSearch, dialect: str, indexed: bool) -> Select[Any]:
    """SELECT run_uuid, <order columns> ... ORDER BY ... LIMIT/OFFSET for one page.

    The matching runs are a derived table that the order keys' rows are joined to. On
    PostgreSQL it is fenced (``OFFSET 0``) when there are filters: no index serves MLflow's
    order, so every matching run is sorted anyway, and filtering first lets the sort under the
    LIMIT be a top-N heapsort of the matches. Unfenced, the planner sorts every run of the
    experiments (on disk at 100,000 runs) hoping to stop filtering after one page.
    """
    if dialect not in DIALECTS:
        raise ValueError(f"Unsupported dialect for run search: {dialect!r}")
    attributes = {"run_id", "start_time"} | {
        key.key for key in search.query.order_by if key.kind == "attribute"
    }
    matching = sa.select(*(_ATTRIBUTE_COLUMNS[name] for name in sorted(attributes))).where(
        *in_scope(workspace, search),
        *(clause_condition(clause, dialect, indexed) for clause in search.query.clauses),
    )
    if dialect == "postgresql" and search.query.clauses:
        matching = matching.offset(0)
    matched = matching.subquery("matched")
    run_uuid = matched.c.run_uuid
    columns: list[Any] = [run_uuid]
    order: list[Any] = []
    source: Any = matched
    for index, key in enumerate(search.query.order_by, start=1):
        value, flag, source = order_terms(key, index, matched, source, indexed)
        columns += [flag, value]
        order += [flag, value if key.ascending else value.desc()]
    if not search.query.orders_by_start_time:
        order.append(matched.c.start_time.desc())
    order.append(run_uuid)
    statement = sa.select(*columns).select_from(source).order_by(*order).offset(search.offset)
    if dialect == "mysql" and search.query.order_by:
        statement = statement.distinct()
    if search.limit is not None:
        statement = statement.limit(search.limit)
    return statement


def in_scope(workspace: str, search: RunSearch) -> list[ColumnElement[bool]]:
    """The run is in one of the searched experiments of the workspace, in a searched stage."""
    in_workspace = sa.select(_experiments.c.experiment_id).where(
        _experiments.c.experiment_id.in_(search.experiment_ids),
        _experiments.c.workspace == workspace,
    )
    return [
        _runs.c.experiment_id.in_(in_workspace),
        _runs.c.lifecycle_stage.in_([stage.value for stage in search.view_type.stages()]),
    ]


def order_terms(
    key: RunOrderKey, index: int, matched: Any, source: Any, indexed: bool
) -> tuple[Any, Any, Any]:
    """(value, presence flag, source with the key's outer join) for one order key."""
    if key.kind == "attribute":
        value = matched.c[_ATTRIBUTE_COLUMNS[key.key].name]
        flag = sa.case((value.is_(None), 1), else_=0).label(f"clause_{index}")
        return value, flag, source
    table = _KEYED_TABLES[key.kind]
    if indexed and key.kind != "metric":
        values = keyed_values(table, key.key, f"order_{index}")
        source = source.outerjoin(values, values.c.run_uuid == matched.c.run_uuid)
        value = values.c.value
    else:
        keyed = table.alias(f"order_{index}")
        source = source.outerjoin(
            keyed, sa.and_(keyed.c.run_uuid == matched.c.run_uuid, keyed.c.key == key.key)
        )
        value = keyed.c.value
    if key.kind == "metric":
        presence = sa.case((keyed.c.is_nan == sa.true(), 1), (value.is_(None), 2), else_=0)
    else:
        presence = sa.case((value.is_(None), 1), else_=0)
    return value.label(f"value_{index}"), presence.label(f"clause_{index}"), source


def clause_condition(
    clause: RunFilterClause,
    dialect: str,
    indexed: bool,
    run_uuid: ColumnElement[str] = _runs.c.run_uuid,
) -> ColumnElement[bool]:
    """The clause as a condition on the run whose id is ``run_uuid``."""
    comparator, value = clause.comparator, clause.value
    if isinstance(value, tuple) and comparator not in ("IN", "NOT IN"):
        # MLflow hands the tuple to the database, which fails (a 500); it is bad input.
        raise MlflowCoreError.invalid_parameter_value(
            f"Invalid value {value!r} for comparator '{comparator}'"
        )
    if clause.kind == "attribute":
        if clause.key == "run_name":
            return _keyed_exists(_tags, RUN_NAME_TAG, comparator, value, dialect, indexed, run_uuid)
        return compare(_ATTRIBUTE_COLUMNS[clause.key], comparator, value, dialect)
    if clause.kind == "dataset":
        return _dataset_exists(clause.key, comparator, value, dialect)
    table = _KEYED_TABLES[clause.kind]
    if comparator == NO_NUMBER:
        number = sa.select(table.c.run_uuid).where(
            table.c.run_uuid == run_uuid, table.c.key == clause.key, table.c.is_nan == sa.false()
        )
        return ~number.exists()
    if comparator in ("IS NULL", "IS NOT NULL"):
        exists = (
            sa.select(table.c.run_uuid)
            .where(table.c.run_uuid == run_uuid, table.c.key == clause.key)
            .exists()
        )
        return ~exists if comparator == "IS NULL" else exists
    return _keyed_exists(table, clause.key, comparator, value, dialect, indexed, run_uuid)


def _keyed_exists(
    table: sa.Table,
    key: str,
    comparator: str,
    value: Any,
    dialect: str,
    indexed: bool,
    run_uuid: ColumnElement[str],
) -> ColumnElement[bool]:
    test = compare(table.c.value, comparator, value, dialect)
    short = None if not indexed or table is _metrics else short_value_test(table, comparator, value)
    if short is not None:
        test = sa.and_(test, short)
    if table is _metrics:
        # NaN is stored as value 0 with is_nan set: only "!=" holds for it.
        if comparator == "!=":
            test = sa.or_(test, table.c.is_nan == sa.true())
        else:
            test = sa.and_(test, table.c.is_nan == sa.false())
    return (
        sa.select(table.c.run_uuid)
        .where(
            table.c.run_uuid == run_uuid,
            compare(table.c.key, "=", key, dialect),
            test,
        )
        .exists()
    )


def _dataset_exists(key: str, comparator: str, value: Any, dialect: str) -> ColumnElement[bool]:
    linked = sa.select(_inputs.c.destination_id).select_from(
        _datasets.join(_inputs, _inputs.c.source_id == _datasets.c.dataset_uuid)
    )
    if key == "context":
        linked = linked.join(
            _input_tags,
            sa.and_(
                _input_tags.c.input_uuid == _inputs.c.input_uuid,
                _input_tags.c.name == DATASET_CONTEXT_TAG,
                compare(_input_tags.c.value, comparator, value, dialect),
            ),
        )
    else:
        linked = linked.where(compare(_datasets.c[key], comparator, value, dialect))
    return linked.where(_inputs.c.destination_id == _runs.c.run_uuid).exists()
