"""SQLAlchemy Core tables mirroring MLflow's ORM models, for the SQL adapter's statements."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa

from tools.codegen.common import REPO, generated_header

TARGET = REPO / "src" / "adapters" / "sql" / "tables.py"


def _mlflow_metadata() -> sa.MetaData:
    # Importing the model modules registers every table on MLflow's declarative Base.
    import mlflow.store.model_registry.dbmodels.models
    import mlflow.store.tracking.dbmodels.models
    import mlflow.store.workspace.dbmodels.models  # noqa: F401
    from mlflow.store.db.base_sql_model import Base

    metadata: sa.MetaData = Base.metadata
    return metadata


def _type_expr(column: sa.Column[object]) -> str:
    col_type = column.type
    if isinstance(col_type, sa.types.TypeDecorator):
        col_type = col_type.impl_instance
    name = type(col_type).__name__
    if isinstance(col_type, sa.String) and col_type.length is not None:
        return f"sa.{name}({col_type.length})"
    if isinstance(col_type, sa.Float) and col_type.precision is not None:
        return f"sa.{name}(precision={col_type.precision})"
    if isinstance(col_type, sa.Enum):
        values = ", ".join(repr(v) for v in col_type.enums)
        return f"sa.Enum({values}, name={col_type.name!r}, native_enum=False)"
    return f"sa.{name}()"


def render() -> str:
    metadata = _mlflow_metadata()
    lines = [
        generated_header("tools/codegen/tables.py").rstrip("\n"),
        '"""MLflow\'s tables as SQLAlchemy Core objects (for statements; DDL is MLflow\'s)."""',
        "",
        "import sqlalchemy as sa",
        "",
        "metadata = sa.MetaData()",
        "",
    ]
    for name in sorted(metadata.tables):
        table = metadata.tables[name]
        lines.append(f"{name} = sa.Table(")
        lines.append(f"    {name!r},")
        lines.append("    metadata,")
        for column in table.columns:
            args = [repr(column.name), _type_expr(column)]
            if column.primary_key:
                args.append("primary_key=True")
            if column.autoincrement is True:
                args.append("autoincrement=True")
            if not column.nullable and not column.primary_key:
                args.append("nullable=False")
            lines.append(f"    sa.Column({', '.join(args)}),")
        lines.append(")")
    lines.append("")
    return "\n".join(lines)


def outputs() -> dict[Path, str]:
    return {TARGET: render()}
