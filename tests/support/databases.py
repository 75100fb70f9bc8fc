"""Throwaway databases for tests: one uniquely named database per use, dropped afterwards.

SQLite always works. PostgreSQL and MySQL are used when MLFLOW_CORE_TEST_POSTGRES_URI /
MLFLOW_CORE_TEST_MYSQL_URI name a server (any database on it; ours are created beside it).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
import sqlalchemy as sa

from mlflow_core.adapters.sql.database import normalized_url

POSTGRES_ENV = "MLFLOW_CORE_TEST_POSTGRES_URI"
MYSQL_ENV = "MLFLOW_CORE_TEST_MYSQL_URI"
KINDS = ("sqlite", "postgresql", "mysql")
_SERVER_ENV = {"postgresql": POSTGRES_ENV, "mysql": MYSQL_ENV}


def server_uri(kind: str) -> str | None:
    return os.environ.get(_SERVER_ENV[kind]) if kind in _SERVER_ENV else None


def skip_unless_available(kind: str) -> None:
    if kind != "sqlite" and not server_uri(kind):
        pytest.skip(f"{kind}: set {_SERVER_ENV[kind]} to run the {kind} part of this test")


def _admin_engine(kind: str) -> sa.Engine:
    uri = server_uri(kind)
    assert uri is not None
    url = sa.engine.make_url(uri)
    if kind == "postgresql":
        url = url.set(drivername="postgresql+psycopg")
    else:
        url = url.set(drivername="mysql+pymysql")
    return sa.create_engine(url, isolation_level="AUTOCOMMIT")


@contextmanager
def fresh_database(kind: str, tmp_path: Path) -> Iterator[str]:
    """The URI of a new, empty database of ``kind``; dropped (or deleted) afterwards."""
    skip_unless_available(kind)
    if kind == "sqlite":
        yield f"sqlite:///{tmp_path / f'mlflow-{uuid.uuid4().hex[:8]}.db'}"
        return
    name = f"mlflow_core_test_{uuid.uuid4().hex[:12]}"
    admin = _admin_engine(kind)
    with admin.connect() as conn:
        conn.exec_driver_sql(f"CREATE DATABASE {name}")
    uri = admin.url.set(database=name).render_as_string(hide_password=False)
    try:
        yield uri
    finally:
        # Close pooled connections others left open, then drop.
        with admin.connect() as conn:
            if kind == "postgresql":
                conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
            else:
                conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {name}")
        admin.dispose()


@dataclass(frozen=True)
class SharedDatabase:
    """A database a test module shares between its tests (tests/integration/conftest.py)."""

    kind: str
    uri: str
    artifacts: str  # the default artifact root of the services opened on it


class DatabaseReset:
    """Puts a database back into the state it had when this was made: the same rows in every
    table, identity counters restarted.

    For a module that shares one database (its schema created once, which costs seconds on
    PostgreSQL and MySQL) between tests that each need the freshly created state: call it before
    each test. Tables that held rows when it was made (the alembic revision, the default
    workspace, the "Default" experiment) get exactly those rows back.
    """

    def __init__(self, uri: str) -> None:
        self.engine = sa.create_engine(normalized_url(uri), poolclass=sa.pool.NullPool)
        self.dialect = self.engine.dialect.name
        metadata = sa.MetaData()
        metadata.reflect(self.engine)
        # Parents before children: the order rows go back in (and children are emptied first).
        self.tables = list(metadata.sorted_tables)
        with self.engine.connect() as conn:
            self.rows = {
                table.name: [dict(row) for row in conn.execute(sa.select(table)).mappings()]
                for table in self.tables
            }
            self.counters = self._auto_increments(conn) if self.dialect == "mysql" else {}

    def __call__(self) -> None:
        truncated: list[sa.Table] | None = None  # None: every table was emptied
        with self.engine.begin() as conn:
            if self.dialect == "postgresql":
                names = ", ".join(f'"{table.name}"' for table in self.tables)
                conn.exec_driver_sql(f"TRUNCATE {names} RESTART IDENTITY")
            elif self.dialect == "mysql":
                # TRUNCATE also restarts AUTO_INCREMENT; each one is DDL (it commits and costs a
                # table rebuild), so only tables that hold rows are truncated.
                truncated = self._tables_not_as_made(conn)
                conn.exec_driver_sql("SET SESSION FOREIGN_KEY_CHECKS = 0")
                for table in truncated:
                    conn.exec_driver_sql(f"TRUNCATE TABLE `{table.name}`")
                conn.exec_driver_sql("SET SESSION FOREIGN_KEY_CHECKS = 1")
                # An explicit 0 (the Default experiment's id) is kept, not "the next id".
                conn.exec_driver_sql(
                    "SET SESSION sql_mode = CONCAT(@@sql_mode, ',NO_AUTO_VALUE_ON_ZERO')"
                )
            else:
                for table in reversed(self.tables):
                    conn.execute(table.delete())
                sequences = "SELECT 1 FROM sqlite_master WHERE name = 'sqlite_sequence'"
                if conn.exec_driver_sql(sequences).first():  # AUTOINCREMENT counters
                    conn.exec_driver_sql("DELETE FROM sqlite_sequence")
            for table in self.tables:
                if self.rows[table.name] and (truncated is None or table in truncated):
                    conn.execute(table.insert(), self.rows[table.name])

    def _as_made(self, conn: sa.Connection, table: sa.Table) -> bool:
        rows = [dict(row) for row in conn.execute(sa.select(table)).mappings()]
        return sorted(rows, key=repr) == sorted(self.rows[table.name], key=repr)

    def _auto_increments(self, conn: sa.Connection) -> dict[str, int | None]:
        query = (
            "SELECT TABLE_NAME, AUTO_INCREMENT FROM information_schema.TABLES"
            " WHERE TABLE_SCHEMA = DATABASE()"
        )
        return {str(name): value for name, value in conn.exec_driver_sql(query)}

    def _tables_not_as_made(self, conn: sa.Connection) -> list[sa.Table]:
        """Tables whose rows (or AUTO_INCREMENT counter) differ from when this was made."""
        counts = sa.union_all(
            *(
                sa.select(
                    sa.literal(table.name).label("name"), sa.func.count().label("n")
                ).select_from(table)
                for table in self.tables
            )
        )
        rows = {str(name): int(n) for name, n in conn.execute(counts)}
        counters = self._auto_increments(conn)
        return [
            table
            for table in self.tables
            if rows[table.name] != len(self.rows[table.name])
            or counters.get(table.name) != self.counters.get(table.name)
            or (self.rows[table.name] and not self._as_made(conn, table))
        ]

    def close(self) -> None:
        self.engine.dispose()
