"""Opt-in indexes for run search on PostgreSQL, kept outside MLflow's schema.

MLflow's schema indexes params, tags and latest_metrics by ``(key, run_uuid)`` only, so a filter
on a value, or an order by one, reads that key's row of every run from the table: at 100,000
runs that is most of the time of a filtered search (docs/performance.md). These indexes carry
the values, so those reads become index-only scans. MLflow has no index on ``runs`` that
serves its default order (``start_time DESC, run_uuid``) within an experiment either; one more
index does.

They are not MLflow's: alembic's head stays MLflow's, stock MLflow ignores extra indexes, and a
database with them opens in ``mlflow server`` as before. ``mlflow-core db create-search-indexes``
adds them (``CONCURRENTLY``: writers are not blocked), ``drop-search-indexes`` removes them.

A PostgreSQL btree entry holds at most 2,704 bytes, while a param value may have 6,000
characters and a tag value 8,000: an index on whole values would refuse long writes. So each
table has two partial indexes: values of at most ``SHORT_VALUE`` characters are indexed with the
value, longer ones by key alone. A search reads a key's values as the union of the two, and an
equality filter on a short value names the short index's predicate, which it implies, so the
planner may use it. The predicates in statements must be written as in the index (constants
as literals, not parameters) for PostgreSQL to prove that they imply it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from mlflow_core.adapters.sql import tables
from mlflow_core.adapters.sql.database import dialect_of, normalized_url

# Characters; with a 250-character key (4 bytes each at most) the entry stays under 2,704 bytes.
SHORT_VALUE: Final = 200
_SHORT: Final[sa.ColumnElement[int]] = sa.literal_column(str(SHORT_VALUE), sa.Integer)
_ZERO: Final[sa.ColumnElement[int]] = sa.literal_column("0", sa.Integer)


@dataclass(frozen=True)
class SearchIndex:
    name: str
    table: str
    columns: str
    where: str | None = None

    def create(self) -> str:
        where = f" WHERE {self.where}" if self.where else ""
        return (
            f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {self.name} "
            f"ON {self.table} ({self.columns}){where}"
        )


SEARCH_INDEXES: Final = (
    SearchIndex(
        "mlflow_core_params_short_values",
        "params",
        "key, value, run_uuid",
        f"length(value) <= {SHORT_VALUE}",
    ),
    SearchIndex(
        "mlflow_core_params_long_values",
        "params",
        "key, run_uuid",
        f"length(value) > {SHORT_VALUE}",
    ),
    # Tag values may be NULL: those rows belong to the short index (a NULL is short).
    SearchIndex(
        "mlflow_core_tags_short_values",
        "tags",
        "key, value, run_uuid",
        f"coalesce(length(value), 0) <= {SHORT_VALUE}",
    ),
    SearchIndex(
        "mlflow_core_tags_long_values", "tags", "key, run_uuid", f"length(value) > {SHORT_VALUE}"
    ),
    # Metric values are numbers: one index; is_nan makes metric filters and orders index-only.
    SearchIndex(
        "mlflow_core_latest_metrics_values", "latest_metrics", "key, value, is_nan, run_uuid"
    ),
    # MLflow's default order within an experiment: an unfiltered page (the UI's run list) is
    # the first entries of this index instead of a sort of every run of the experiment.
    SearchIndex(
        "mlflow_core_runs_experiment_order", "runs", "experiment_id, start_time DESC, run_uuid"
    ),
)
_TABLES: Final = ("params", "tags", "latest_metrics", "runs")

_VALID_INDEXES: Final = sa.text(
    "SELECT c.relname FROM pg_index i"
    " JOIN pg_class c ON c.oid = i.indexrelid"
    " JOIN pg_namespace n ON n.oid = c.relnamespace"
    " WHERE n.nspname = current_schema() AND i.indisvalid AND c.relname = ANY(:names)"
)
_ANY_INDEXES: Final = sa.text(
    "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
    " WHERE n.nspname = current_schema() AND c.relkind = 'i' AND c.relname = ANY(:names)"
)
_NAMES: Final = [index.name for index in SEARCH_INDEXES]
# The indexes the statements are shaped for (run_search.py); the runs index changes no
# statement, the planner picks it up by itself, so a database indexed before it was added
# keeps its value-index statements until ``create-search-indexes`` adds it.
_VALUE_INDEX_NAMES: Final = [index.name for index in SEARCH_INDEXES if index.table != "runs"]


def search_indexes_present(conn: Connection) -> bool:
    """Whether the value indexes exist and are valid (a failed concurrent build is not)."""
    if conn.dialect.name != "postgresql":
        return False
    valid = conn.execute(_VALID_INDEXES, {"names": _VALUE_INDEX_NAMES}).all()
    return len(valid) == len(_VALUE_INDEX_NAMES)


def _short(table: sa.Table) -> sa.ColumnElement[bool]:
    if table is tables.tags:
        return sa.func.coalesce(sa.func.length(table.c.value), _ZERO) <= _SHORT
    return sa.func.length(table.c.value) <= _SHORT


def short_value_test(table: sa.Table, comparator: str, value: Any) -> sa.ColumnElement[bool] | None:
    """The short index's predicate for an ``=`` filter on a short value, else None.

    A value equal to one of at most ``SHORT_VALUE`` characters is that short too, so adding
    the predicate changes no answer; it lets the planner use the partial index. (MLflow's
    grammar has no ``IN`` for params and tags.)
    """
    if comparator == "=" and isinstance(value, str) and len(value) <= SHORT_VALUE:
        return _short(table)
    return None


def keyed_values(table: sa.Table, key: str, name: str) -> Any:
    """``(run_uuid, value)`` of one key's rows, as the union of the short and long indexes."""
    branches = [
        sa.select(table.c.run_uuid, table.c.value).where(table.c.key == key, test)
        for test in (_short(table), sa.func.length(table.c.value) > _SHORT)
    ]
    return sa.union_all(*branches).subquery(name)


def _autocommit_engine(uri: str) -> sa.Engine:
    if dialect_of(uri) != "postgresql":
        raise ValueError(
            "search indexes are made for PostgreSQL only; on SQLite and MySQL run search "
            "reads MLflow's own indexes"
        )
    return sa.create_engine(normalized_url(uri, "sync"), isolation_level="AUTOCOMMIT")


def create_search_indexes(uri: str) -> list[str]:
    """Build the missing (or invalid) search indexes without blocking writers; their names."""
    engine = _autocommit_engine(uri)
    try:
        with engine.connect() as conn:
            valid = {row[0] for row in conn.execute(_VALID_INDEXES, {"names": _NAMES})}
            built = []
            for index in SEARCH_INDEXES:
                if index.name in valid:
                    continue
                # A concurrent build that failed leaves an invalid index under the name.
                conn.exec_driver_sql(f"DROP INDEX CONCURRENTLY IF EXISTS {index.name}")
                conn.exec_driver_sql(index.create())
                built.append(index.name)
            if built:
                # Statistics for the planner, and the visibility map index-only scans need.
                conn.exec_driver_sql(f"VACUUM (ANALYZE) {', '.join(_TABLES)}")
            return built
    finally:
        engine.dispose()


def drop_search_indexes(uri: str) -> list[str]:
    """Remove the search indexes there are; their names."""
    engine = _autocommit_engine(uri)
    try:
        with engine.connect() as conn:
            present = {row[0] for row in conn.execute(_ANY_INDEXES, {"names": _NAMES})}
            for name in _NAMES:
                if name in present:
                    conn.exec_driver_sql(f"DROP INDEX CONCURRENTLY IF EXISTS {name}")
            return [name for name in _NAMES if name in present]
    finally:
        engine.dispose()
