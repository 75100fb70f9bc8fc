"""MLflow's schema: ours is MLflow's, old schemas are refused with a way forward."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from mlflow_core.adapters.sql.database import Database, mlflow_store_uri
from mlflow_core.adapters.sql.schema import SchemaError, prepare_schema, run_mlflow_migrations
from mlflow_core.adapters.sql.schema_revisions import ALEMBIC_HEAD, KNOWN_REVISIONS
from mlflow_core.adapters.sql.sqlite_ddl_text import canonical_statement
from mlflow_core.entrypoints.cli.main import cli
from tests.support.databases import fresh_database


def _sqlite_schema(path: str) -> set[tuple[str, str, str]]:
    with sqlite3.connect(path) as conn:
        rows = conn.execute(
            "SELECT type, name, sql FROM sqlite_master "
            "WHERE sql IS NOT NULL AND name NOT LIKE 'sqlite_%'"
        ).fetchall()
    return {(kind, name, canonical_statement(sql)) for kind, name, sql in rows}


def _reflected(uri: str) -> dict[str, Any]:
    """Everything SQLAlchemy can reflect of a schema, in comparable form."""
    engine = sa.create_engine(mlflow_store_uri(uri))
    try:
        inspector = sa.inspect(engine)
        schema: dict[str, Any] = {}
        for table in sorted(inspector.get_table_names()):
            columns = [
                (c["name"], str(c["type"]), c["nullable"], str(c.get("default")))
                for c in inspector.get_columns(table)
            ]
            schema[table] = {
                "columns": columns,
                "pk": inspector.get_pk_constraint(table)["constrained_columns"],
                "fks": sorted(
                    (tuple(fk["constrained_columns"]), fk["referred_table"], str(fk.get("options")))
                    for fk in inspector.get_foreign_keys(table)
                ),
                "indexes": sorted(
                    (i["name"], tuple(i["column_names"]), bool(i["unique"]))
                    for i in inspector.get_indexes(table)
                ),
                "uniques": sorted(
                    (u["name"], tuple(u["column_names"]))
                    for u in inspector.get_unique_constraints(table)
                ),
            }
        with engine.connect() as conn:
            schema["alembic_version"]["rows"] = conn.execute(
                sa.text("SELECT version_num FROM alembic_version")
            ).all()
        return schema
    finally:
        engine.dispose()


def _sqlite_rows(path: str) -> dict[str, list[tuple[Any, ...]]]:
    """Every data row, per table: migrations insert some (the default workspace)."""
    with sqlite3.connect(path) as conn:
        tables = [
            name
            for (name,) in conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
            )
        ]
        return {
            table: sorted(conn.execute(f'SELECT * FROM "{table}"').fetchall(), key=repr)
            for table in sorted(tables)
        }


def test_sqlite_snapshot_equals_mlflow_migrations(tmp_path: Path) -> None:
    ours = str(tmp_path / "ours.db")
    theirs = str(tmp_path / "theirs.db")
    database = Database(f"sqlite:///{ours}")
    prepare_schema(database)
    database.dispose()
    run_mlflow_migrations(f"sqlite:///{theirs}")
    assert _sqlite_schema(ours) == _sqlite_schema(theirs)
    assert _sqlite_rows(ours) == _sqlite_rows(theirs)
    assert _sqlite_rows(ours)["workspaces"]  # the rows are really compared
    assert _reflected(f"sqlite:///{ours}") == _reflected(f"sqlite:///{theirs}")


@pytest.mark.parametrize("kind", ["postgresql", "mysql"])
def test_server_schema_equals_mlflows_own_store(kind: str, tmp_path: Path) -> None:
    from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore

    with fresh_database(kind, tmp_path) as ours, fresh_database(kind, tmp_path) as theirs:
        database = Database(ours)
        prepare_schema(database)
        database.dispose()
        store = SqlAlchemyStore(mlflow_store_uri(theirs), str(tmp_path / "artifacts"))
        store.engine.dispose()
        assert _reflected(ours) == _reflected(theirs)


def _old_sqlite_database(path: Path) -> str:
    """A SQLite database at MLflow's schema of a few releases ago."""
    from alembic import command
    from mlflow.store.db.utils import _get_alembic_config
    from mlflow.store.tracking.dbmodels.initial_models import Base as InitialBase

    uri = f"sqlite:///{path}"
    engine = sa.create_engine(uri)

    InitialBase.metadata.create_all(engine)
    engine.dispose()
    command.upgrade(_get_alembic_config(uri), KNOWN_REVISIONS[5])
    return uri


def test_old_schema_is_refused_then_upgraded(tmp_path: Path) -> None:
    uri = _old_sqlite_database(tmp_path / "old.db")
    database = Database(uri)
    with pytest.raises(SchemaError) as info:
        prepare_schema(database)
    assert KNOWN_REVISIONS[5] in str(info.value)
    assert "mlflow-core db upgrade" in str(info.value)

    result = CliRunner().invoke(cli, ["db", "upgrade", uri])
    assert result.exit_code == 0, result.output
    prepare_schema(database)  # now at the head: opens as is
    with database.connect() as conn:
        assert conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar() == (
            ALEMBIC_HEAD
        )
    database.dispose()


def test_unknown_revision_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "future.db"
    database = Database(f"sqlite:///{path}")
    prepare_schema(database)
    with database.begin() as conn:
        conn.execute(sa.text("UPDATE alembic_version SET version_num = 'fromthefuture'"))
    with pytest.raises(SchemaError, match="does not know"):
        prepare_schema(database)
    database.dispose()
