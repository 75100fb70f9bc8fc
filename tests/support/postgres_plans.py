"""PostgreSQL plans of SQLAlchemy statements, as the server's prepared statements get them."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore

from mlflow_core.adapters.sql.database import mlflow_store_uri
from mlflow_core.adapters.sql.search_indexes import create_search_indexes
from tests.support.databases import fresh_database


def generic_plan(conn: sa.Connection, statement: Any) -> str:
    """EXPLAIN of ``statement`` prepared with its parameters as ``$n``.

    Run ``SET plan_cache_mode = force_generic_plan`` on ``conn`` first for the plan that knows
    no parameter value.
    """
    compiled = statement.compile(dialect=conn.dialect, compile_kwargs={"render_postcompile": True})
    order: list[str] = []

    def placeholder(match: re.Match[str]) -> str:
        if match.group(1) not in order:
            order.append(match.group(1))
        return f"${order.index(match.group(1)) + 1}"

    sql = re.sub(r"%\((\w+)\)s", placeholder, str(compiled))
    values = ", ".join(
        "'" + value.replace("'", "''") + "'" if isinstance(value, str) else str(value)
        for value in (compiled.params[name] for name in order)
    )
    conn.exec_driver_sql(f"PREPARE search_plan AS {sql}")
    rows = conn.exec_driver_sql(f"EXPLAIN EXECUTE search_plan({values})")
    return "\n".join(row[0] for row in rows)


def plan_on_an_indexed_database(tmp_path: Path, statement: Any, settings: list[str]) -> str:
    """The generic plan of ``statement`` on a new (empty) database with the search indexes.

    ``settings`` (``SET`` statements) forbid what the planner would rather do on empty tables,
    so the plan shows what the statement lets it do. A generic plan knows no parameter: the
    predicates must imply the partial indexes' own on their constants alone (the server's
    prepared statements).
    """
    with fresh_database("postgresql", tmp_path) as uri:
        SqlAlchemyStore(mlflow_store_uri(uri), str(tmp_path)).engine.dispose()
        assert create_search_indexes(uri)
        engine = sa.create_engine(mlflow_store_uri(uri))
        try:
            with engine.connect() as conn:
                for setting in [*settings, "SET plan_cache_mode = force_generic_plan"]:
                    conn.exec_driver_sql(setting)
                return generic_plan(conn, statement)
        finally:
            engine.dispose()
