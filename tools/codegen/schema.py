"""MLflow's schema at the pinned alembic head: its revision ids and a SQLite DDL snapshot.

The snapshot is what MLflow's own migrations leave in ``sqlite_master``, plus the data rows
they insert (the default workspace), replayed on a new SQLite database in one step instead of
~70 migrations (tests/integration/test_schema.py proves the two identical, rows included).
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import tempfile
from pathlib import Path

from mlflow_core.adapters.sql.sqlite_ddl_text import canonical_statement
from tools.codegen.common import REPO, generated_header

HEAD_TARGET = REPO / "src" / "adapters" / "sql" / "schema_revisions.py"
SQLITE_TARGET = REPO / "src" / "adapters" / "sql" / "sqlite_ddl.py"


def _migrations_dir() -> str:
    import mlflow

    return os.path.join(os.path.dirname(mlflow.__file__), "store", "db_migrations")


def _revisions() -> tuple[str, list[str]]:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    config = Config()
    config.set_main_option("script_location", _migrations_dir())
    script = ScriptDirectory.from_config(config)
    head = script.get_current_head()
    assert head is not None
    ordered = [rev.revision for rev in script.walk_revisions()]  # head first
    return head, ordered


_MIGRATE = """
import sys
import sqlalchemy as sa
from mlflow.store.db.utils import _initialize_tables
engine = sa.create_engine("sqlite:///" + sys.argv[1])
_initialize_tables(engine)
engine.dispose()
"""
_KIND_ORDER = {"table": 0, "index": 1, "trigger": 2, "view": 3}


def migrated_sqlite_master(path: str) -> list[tuple[str, str, str, str]]:
    """Run MLflow's own migrations on a new SQLite file; return its schema rows.

    The migration runs in a child process (it configures logging and global alembic state);
    rows are sorted tables first, so the snapshot replays in a valid order.
    """
    subprocess.run([sys.executable, "-c", _MIGRATE, path], check=True, capture_output=True)
    with sqlite3.connect(path) as conn:
        rows = conn.execute(
            "SELECT type, name, tbl_name, sql FROM sqlite_master "
            "WHERE sql IS NOT NULL AND name NOT LIKE 'sqlite_%'"
        ).fetchall()
    typed = [(str(a), str(b), str(c), str(d)) for a, b, c, d in rows]
    return sorted(typed, key=lambda row: (_KIND_ORDER.get(row[0], 9), row[1]))


def migrated_sqlite_rows(path: str) -> list[tuple[str, tuple[str, ...], tuple[object, ...]]]:
    """The data rows MLflow's migrations insert (the default workspace, ...), per table.

    ``alembic_version`` is left out: the snapshot writes its own revision row.
    """
    found: list[tuple[str, tuple[str, ...], tuple[object, ...]]] = []
    with sqlite3.connect(path) as conn:
        tables = conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' "
            "AND name != 'alembic_version' ORDER BY name"
        ).fetchall()
        for (table,) in tables:
            cursor = conn.execute(f'SELECT * FROM "{table}" ORDER BY 1')
            columns = tuple(str(d[0]) for d in cursor.description)
            found.extend((str(table), columns, tuple(row)) for row in cursor.fetchall())
    return found


def render_revisions() -> str:
    head, ordered = _revisions()
    body = "\n".join(f"    {rev!r}," for rev in ordered)
    return (
        generated_header("tools/codegen/schema.py")
        + '"""Alembic revisions of MLflow\'s schema, newest first."""\n\n'
        + f"ALEMBIC_HEAD = {head!r}\n\n"
        + "KNOWN_REVISIONS: tuple[str, ...] = (\n"
        + body
        + "\n)\n"
    )


def render_sqlite_ddl() -> str:
    head, _ = _revisions()
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "schema.db")
        rows = migrated_sqlite_master(path)
        data = migrated_sqlite_rows(path)
    statements = "\n".join(f"    {canonical_statement(sql)!r}," for _type, _name, _tbl, sql in rows)
    data_rows = "".join(f"    {row!r},\n" for row in data)
    return (
        generated_header("tools/codegen/schema.py")
        + '"""The schema MLflow\'s migrations leave in a SQLite database, in creation order."""\n\n'
        + f"REVISION = {head!r}\n\n"
        + "STATEMENTS: tuple[str, ...] = (\n"
        + statements
        + "\n)\n\n"
        + "# Data rows MLflow's migrations insert: (table, columns, values).\n"
        + "ROWS: tuple[tuple[str, tuple[str, ...], tuple[object, ...]], ...] = (\n"
        + data_rows
        + ")\n"
    )


def outputs() -> dict[Path, str]:
    return {HEAD_TARGET: render_revisions(), SQLITE_TARGET: render_sqlite_ddl()}
