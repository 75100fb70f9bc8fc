"""Throwaway databases for tests: one uniquely named database per use, dropped afterwards.

SQLite always works. PostgreSQL and MySQL are used when MLFLOW_CORE_TEST_POSTGRES_URI /
MLFLOW_CORE_TEST_MYSQL_URI name a server (any database on it; ours are created beside it).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import sqlalchemy as sa

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
