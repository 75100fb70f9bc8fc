"""Hot write statements as driver SQL, built once per dialect and row count.

SQLAlchemy compiles a multi-row ``insert().values([...])`` on every call and ``executemany``
sends one INSERT per row on psycopg; both cost more than the database does for our small
writes (design notes). So the statements the write path runs on every request are plain
strings in the driver's parameter style, cached by shape, and run with ``exec_driver_sql``.
"""

from __future__ import annotations

from functools import lru_cache

from sqlalchemy.engine import Dialect as SaDialect

from mlflow_core.adapters.sql.database import Dialect

_METRIC_COLUMNS = ("key", "value", "timestamp", "step", "is_nan", "run_uuid")
_TAG_COLUMNS = ("key", "value", "run_uuid")
_PARAM_COLUMNS = ("key", "value", "run_uuid")
# Rows per statement at most; longer batches are split (psycopg re-parses long statements).
MAX_ROWS_PER_STATEMENT = 200


class WriteStatements:
    """The write path's statements for one dialect."""

    def __init__(self, dialect: Dialect, sa_dialect: SaDialect) -> None:
        self.dialect = dialect
        self._quote = sa_dialect.identifier_preparer.quote
        self._mark = "?" if dialect == "sqlite" else "%s"
        self.select_run = (
            f"SELECT {self._cols(('lifecycle_stage', 'experiment_id'))} FROM runs "
            f"WHERE run_uuid = {self._mark}"
        )

    def _cols(self, names: tuple[str, ...]) -> str:
        return ", ".join(self._quote(n) for n in names)

    def _values(self, width: int, rows: int) -> str:
        row = "(" + ", ".join([self._mark] * width) + ")"
        return ", ".join([row] * rows)

    def _insert_ignoring_duplicates(self, table: str, columns: tuple[str, ...], rows: int) -> str:
        verb = "INSERT IGNORE" if self.dialect == "mysql" else "INSERT"
        sql = (
            f"{verb} INTO {table} ({self._cols(columns)}) VALUES {self._values(len(columns), rows)}"
        )
        return sql if self.dialect == "mysql" else sql + " ON CONFLICT DO NOTHING"

    @lru_cache(maxsize=256)  # noqa: B019 - one instance per dialect, lives as long as the process
    def insert_metrics(self, rows: int) -> str:
        """Metric history rows; a row already stored (same primary key) is skipped."""
        return self._insert_ignoring_duplicates("metrics", _METRIC_COLUMNS, rows)

    @lru_cache(maxsize=256)  # noqa: B019
    def insert_params(self, rows: int) -> str:
        """Params; a key already logged is skipped (the caller compares values)."""
        return self._insert_ignoring_duplicates("params", _PARAM_COLUMNS, rows)

    @lru_cache(maxsize=256)  # noqa: B019
    def upsert_latest_metrics(self, rows: int) -> str:
        """Keep per key the value with the greatest (step, timestamp, value), as MLflow does.

        Rows must come sorted by key with one row per key: the database then locks the
        existing rows in key order in every transaction, so concurrent writers never deadlock.
        """
        q = self._quote
        columns = self._cols(_METRIC_COLUMNS)
        values = self._values(len(_METRIC_COLUMNS), rows)
        step, ts, value, is_nan = q("step"), q("timestamp"), q("value"), q("is_nan")
        if self.dialect == "mysql":
            newer = f"(VALUES({step}), VALUES({ts}), VALUES({value})) > ({step}, {ts}, {value})"
            # MySQL applies the assignments left to right, each seeing the ones before it.
            # In this order every condition still decides as it would on the old row: is_nan
            # and value are not compared before step and timestamp, and a later condition
            # can only flip to false where the column it sets already holds the new value.
            sets = ", ".join(
                f"{c} = IF({newer}, VALUES({c}), {c})" for c in (is_nan, value, ts, step)
            )
            return (
                f"INSERT INTO latest_metrics ({columns}) VALUES {values} "
                f"ON DUPLICATE KEY UPDATE {sets}"
            )
        sets = ", ".join(f"{c} = excluded.{c}" for c in (value, ts, step, is_nan))
        return (
            f"INSERT INTO latest_metrics ({columns}) VALUES {values} "
            f"ON CONFLICT ({q('key')}, run_uuid) DO UPDATE SET {sets} "
            f"WHERE (excluded.{step}, excluded.{ts}, excluded.{value}) > "
            f"(latest_metrics.{step}, latest_metrics.{ts}, latest_metrics.{value})"
        )

    @lru_cache(maxsize=256)  # noqa: B019
    def upsert_tags(self, rows: int) -> str:
        """Insert or overwrite tags; rows sorted by key, one per key."""
        columns = self._cols(_TAG_COLUMNS)
        values = self._values(len(_TAG_COLUMNS), rows)
        value = self._quote("value")
        if self.dialect == "mysql":
            return (
                f"INSERT INTO tags ({columns}) VALUES {values} "
                f"ON DUPLICATE KEY UPDATE {value} = VALUES({value})"
            )
        return (
            f"INSERT INTO tags ({columns}) VALUES {values} "
            f"ON CONFLICT ({self._quote('key')}, run_uuid) DO UPDATE SET {value} = excluded.{value}"
        )
