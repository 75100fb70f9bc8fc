"""A cached database of N runs for the search benchmarks, written with bulk SQL.

Each run has 20 params (``p0``..``p19``), 10 tags (``t0``..``t8`` and ``mlflow.runName``) and
5 metrics (``m0``..``m4``, one value each, in ``metrics`` and ``latest_metrics``), all in one
experiment ``search-bench``. MLflow's own ``SqlAlchemyStore`` creates the schema (its
migrations) and the experiment; the rows go in with COPY (PostgreSQL) or multi-row INSERTs
(SQLite, MySQL): through the API, 100,000 runs would take hours.

The database is kept for the next run (it is made only when a benchmark asks for it):
``mlflow_bench_runs_<N>`` on the PostgreSQL/MySQL server, ``bench/cache/runs-<N>.db`` for
SQLite. A marker table records that the load completed; a half-written one is rebuilt.
Values are a pure function of (run index, key), so every rebuild is identical.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from bench.harness import (
    BENCH_DIR,
    MYSQL_ADMIN_URI,
    POSTGRES_ADMIN_URI,
    DatabaseKind,
    log,
)

PARAMS = 20
TAGS = 9  # plus mlflow.runName: 10 tags per run
METRICS = 5
EXPERIMENT = "search-bench"
_MARKER = "mlflow_core_bench_population"
_CHUNK = 5000
_BASE_TIME = 1_700_000_000_000


def run_uuid(index: int) -> str:
    return uuid.UUID(int=(index * 0x9E3779B97F4A7C15) % (1 << 128)).hex


def param_value(index: int, key: int) -> str:
    return f"v{(index * 31 + key * 17) % 10}"


def tag_value(index: int, key: int) -> str:
    return f"tag-{(index * 13 + key * 7) % 5}"


def metric_value(index: int, key: int) -> float:
    return ((index * 7919 + key * 104729) % 1000) / 1000.0


def database_uri(kind: DatabaseKind, runs: int) -> str:
    name = f"mlflow_bench_runs_{runs}"
    if kind == "sqlite":
        cache = BENCH_DIR / "cache"
        cache.mkdir(exist_ok=True)
        return f"sqlite:///{cache / f'runs-{runs}.db'}"
    admin = sa.engine.make_url(POSTGRES_ADMIN_URI if kind == "postgresql" else MYSQL_ADMIN_URI)
    driver = "postgresql+psycopg" if kind == "postgresql" else "mysql+pymysql"
    return admin.set(drivername=driver, database=name).render_as_string(hide_password=False)


def cached_population(kind: DatabaseKind, runs: int) -> tuple[str, str]:
    """(database URI, experiment id) of a complete population of ``runs`` runs."""
    uri = database_uri(kind, runs)
    experiment_id = _complete(uri)
    if experiment_id is not None:
        log(f"reusing {runs} runs in {sa.engine.make_url(uri).database}")
        return uri, experiment_id
    _recreate(kind, uri)
    return uri, _populate(uri, runs)


def _complete(uri: str) -> str | None:
    try:
        engine = sa.create_engine(uri)
        with engine.connect() as conn:
            row = conn.exec_driver_sql(f"SELECT experiment_id FROM {_MARKER}").first()
        engine.dispose()
    except sa.exc.SQLAlchemyError:
        return None
    return None if row is None else str(row[0])


def _recreate(kind: DatabaseKind, uri: str) -> None:
    url = sa.engine.make_url(uri)
    if kind == "sqlite":
        assert url.database is not None
        Path(url.database).unlink(missing_ok=True)
        return
    admin = sa.create_engine(url.set(database="postgres" if kind == "postgresql" else None))
    with admin.execution_options(isolation_level="AUTOCOMMIT").connect() as conn:
        force = " WITH (FORCE)" if kind == "postgresql" else ""
        conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {url.database}{force}")
        conn.exec_driver_sql(f"CREATE DATABASE {url.database}")
    admin.dispose()


def _populate(uri: str, runs: int) -> str:
    from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore

    started = time.monotonic()
    store = SqlAlchemyStore(uri, "mlflow-artifacts:/")
    experiment_id = str(store.create_experiment(EXPERIMENT))
    store.engine.dispose()
    engine = sa.create_engine(uri)
    tables = sa.MetaData()
    tables.reflect(engine, only=["runs", "params", "tags", "metrics", "latest_metrics"])
    with engine.begin() as conn:
        for start in range(0, runs, _CHUNK):
            indexes = range(start, min(runs, start + _CHUNK))
            _insert(conn, tables.tables["runs"], _runs(indexes, int(experiment_id)))
            _insert(conn, tables.tables["params"], _params(indexes))
            _insert(conn, tables.tables["tags"], _tags(indexes))
            metric_rows = list(_metrics(indexes))
            _insert(conn, tables.tables["metrics"], metric_rows)
            _insert(conn, tables.tables["latest_metrics"], metric_rows)
        conn.exec_driver_sql(f"CREATE TABLE {_MARKER} (experiment_id INTEGER)")
        conn.exec_driver_sql(f"INSERT INTO {_MARKER} VALUES ({int(experiment_id)})")
    _analyze(engine)
    engine.dispose()
    log(f"populated {runs} runs in {time.monotonic() - started:.1f}s")
    return experiment_id


def _runs(indexes: range, experiment_id: int) -> Iterator[dict[str, Any]]:
    for i in indexes:
        yield {
            "run_uuid": run_uuid(i),
            "name": f"run-{i}",
            "source_type": "LOCAL",
            "source_name": "",
            "entry_point_name": "",
            "user_id": f"user-{i % 7}",
            "status": "FINISHED" if i % 10 else "FAILED",
            "start_time": _BASE_TIME + i * 1000,
            "end_time": _BASE_TIME + i * 1000 + 500,
            "deleted_time": None,
            "source_version": "",
            "lifecycle_stage": "active",
            "artifact_uri": f"mlflow-artifacts:/{experiment_id}/{run_uuid(i)}/artifacts",
            "experiment_id": experiment_id,
        }


def _params(indexes: range) -> Iterator[dict[str, Any]]:
    for i in indexes:
        for k in range(PARAMS):
            yield {"key": f"p{k}", "value": param_value(i, k), "run_uuid": run_uuid(i)}


def _tags(indexes: range) -> Iterator[dict[str, Any]]:
    for i in indexes:
        for k in range(TAGS):
            yield {"key": f"t{k}", "value": tag_value(i, k), "run_uuid": run_uuid(i)}
        yield {"key": "mlflow.runName", "value": f"run-{i}", "run_uuid": run_uuid(i)}


def _metrics(indexes: range) -> Iterator[dict[str, Any]]:
    for i in indexes:
        for k in range(METRICS):
            yield {
                "key": f"m{k}",
                "value": metric_value(i, k),
                "timestamp": _BASE_TIME + i * 1000 + 100,
                "step": 0,
                "is_nan": False,
                "run_uuid": run_uuid(i),
            }


def _insert(conn: sa.Connection, table: sa.Table, rows: Any) -> None:
    rows = list(rows)
    if not rows:
        return
    if conn.dialect.name == "postgresql":
        columns = list(rows[0])
        raw = conn.connection.driver_connection
        assert raw is not None
        with raw.cursor() as cursor:
            names = ", ".join(f'"{c}"' for c in columns)
            with cursor.copy(f"COPY {table.name} ({names}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row([row[c] for c in columns])
        return
    conn.execute(table.insert(), rows)


def _analyze(engine: sa.Engine) -> None:
    """Planner statistics, as autovacuum would gather a minute after the load."""
    if engine.dialect.name == "sqlite":
        return
    with engine.execution_options(isolation_level="AUTOCOMMIT").connect() as conn:
        if engine.dialect.name == "postgresql":
            conn.exec_driver_sql("VACUUM ANALYZE")
        else:
            conn.exec_driver_sql("ANALYZE TABLE runs, params, tags, metrics, latest_metrics")
