"""MLflow's schema on a database: create it when new, check it when not, upgrade on request.

- A new (empty) database gets MLflow's schema at the pinned alembic head. SQLite replays the
  generated DDL snapshot (one transaction, milliseconds instead of ~70 migrations);
  PostgreSQL and MySQL run MLflow's own migrations, as ``mlflow server`` does.
- A database at the head opens as is. One at an older MLflow revision is refused with an
  error naming ``mlflow-core db upgrade``, which runs MLflow's migrations on it.
"""

from __future__ import annotations

import fcntl
import hashlib
import logging
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from mlflow_core.adapters.sql import sqlite_ddl
from mlflow_core.adapters.sql.database import Database, mlflow_store_uri
from mlflow_core.adapters.sql.schema_revisions import ALEMBIC_HEAD, KNOWN_REVISIONS

_logger = logging.getLogger(__name__)


class SchemaError(RuntimeError):
    """The database's schema is not the one this mlflow-core release reads and writes."""


def _table_names(conn: Connection) -> list[str]:
    if conn.dialect.name == "sqlite":
        # One plain query: the inspector's reflection queries cost more to compile than to run,
        # and opening a new SQLite file through the shim should cost milliseconds.
        names = conn.exec_driver_sql("SELECT name FROM sqlite_master WHERE type = 'table'")
        return [str(name) for name in names.scalars() if not str(name).startswith("sqlite_")]
    return list(sa.inspect(conn).get_table_names())


def _user_tables(conn: Connection) -> list[str]:
    return [t for t in _table_names(conn) if not t.startswith("alembic_")]


def _current_revision(conn: Connection) -> str | None:
    if "alembic_version" not in _table_names(conn):
        return None
    return conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar()


def check_revision(revision: str | None, uri: str) -> None:
    if revision == ALEMBIC_HEAD:
        return
    where = sa.engine.make_url(uri).render_as_string(hide_password=True)
    if revision in KNOWN_REVISIONS:
        raise SchemaError(
            f"The database {where} is at MLflow schema revision {revision}, older than the "
            f"revision {ALEMBIC_HEAD} this release uses. Take a backup, then run "
            f"'mlflow-core db upgrade {where}' (MLflow's own migrations) and start again."
        )
    raise SchemaError(
        f"The database {where} is at schema revision {revision!r}, which the pinned MLflow "
        f"does not know (expected {ALEMBIC_HEAD}); it was probably written by a newer MLflow."
    )


def _create_sqlite_schema(engine: Engine) -> None:
    with engine.connect() as conn:
        # pysqlite runs DDL outside any transaction (its implicit BEGIN precedes DML only), so
        # statement by statement each CREATE would commit, with a disk sync, on its own: one
        # explicit transaction makes the whole schema one commit.
        raw = conn.connection.driver_connection
        assert raw is not None
        try:
            raw.executescript("BEGIN;\n" + ";\n".join(sqlite_ddl.STATEMENTS) + ";")
            # The rows MLflow's migrations insert (the default workspace): part of the schema.
            for table, columns, values in sqlite_ddl.ROWS:
                names = ", ".join(f'"{column}"' for column in columns)
                marks = ", ".join("?" for _ in columns)
                raw.execute(f'INSERT INTO "{table}" ({names}) VALUES ({marks})', values)
            raw.execute(
                "INSERT INTO alembic_version (version_num) VALUES (?)", (sqlite_ddl.REVISION,)
            )
            raw.commit()
        except BaseException:
            raw.rollback()
            raise


def run_mlflow_migrations(uri: str) -> None:
    """Bring the database to MLflow's head with MLflow's own alembic migrations."""
    # Imported here: MLflow's package costs about a second to import and is only needed for
    # migrations, never on the request path.
    from mlflow.store.db.utils import (
        _initialize_tables,
        _upgrade_db,
    )

    engine = sa.create_engine(mlflow_store_uri(uri))
    try:
        with engine.connect() as conn:
            empty = not _user_tables(conn)
        if empty:
            _initialize_tables(engine)  # type: ignore[no-untyped-call]
        else:
            _upgrade_db(engine)  # type: ignore[no-untyped-call]
    finally:
        engine.dispose()


@contextmanager
def _creation_lock(uri: str) -> Iterator[None]:
    # Several processes (server workers, test runners) may open the same new database at once;
    # like MLflow's _safe_initialize_tables, only one of them creates the schema.
    digest = hashlib.sha256(uri.encode()).hexdigest()[:16]
    path = os.path.join(tempfile.gettempdir(), f"mlflow-core-schema-{digest}.lock")
    with open(path, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _inspect(engine: Engine) -> tuple[bool, str | None]:
    with engine.connect() as conn:
        empty = not _user_tables(conn)
        return empty, None if empty else _current_revision(conn)


def prepare_schema(database: Database) -> None:
    """Give a new database MLflow's schema; refuse one at another revision."""
    # Schema work is rare and synchronous; an async engine cannot run outside a greenlet.
    engine = database.engine
    if database.io != "sync":
        engine = sa.create_engine(mlflow_store_uri(database.uri))
    try:
        empty, revision = _inspect(engine)
        if empty:
            with _creation_lock(database.uri):
                empty, revision = _inspect(engine)
                if empty:
                    _logger.info("creating MLflow schema at revision %s", ALEMBIC_HEAD)
                    if database.dialect == "sqlite":
                        _create_sqlite_schema(engine)
                    else:
                        run_mlflow_migrations(database.uri)
                    return
        check_revision(revision, database.uri)
    finally:
        if engine is not database.engine:
            engine.dispose()
