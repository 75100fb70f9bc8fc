"""Constraint-violation messages worded as MLflow's SQLite store words them.

MLflow puts the driver's error text into some messages (a duplicate experiment name, a
rename onto a taken name). That text differs per database and carries the failed statement;
we answer on every database with the first line MLflow answers with on SQLite.
"""

from __future__ import annotations

from collections.abc import Sequence


def unique_violation_message(table: str, columns: Sequence[str]) -> str:
    qualified = ", ".join(f"{table}.{column}" for column in columns)
    return f"(sqlite3.IntegrityError) UNIQUE constraint failed: {qualified}"
