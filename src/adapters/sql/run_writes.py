"""What one write request does to a run's params, tags and metrics, inside its transaction.

Each function takes the open connection; the store method around it owns the transaction, so a
log_batch's params, metrics and tags land together or not at all. Rows are written sorted by
key (one row per key for upserts), which makes every transaction lock rows in the same order.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from mlflow_core.adapters.sql import tables
from mlflow_core.adapters.sql.driver_sql import MAX_ROWS_PER_STATEMENT, WriteStatements
from mlflow_core.domain.runs import RUN_NAME_TAG, Metric, Param, RunTag, StoredMetricValue
from mlflow_core.errors import MlflowCoreError

T = TypeVar("T")

_params = tables.params
_runs = tables.runs
_PARAMS_OF_RUN = sa.select(_params.c.key, _params.c.value).where(
    _params.c.run_uuid == sa.bindparam("run_id"),
    _params.c.key.in_(sa.bindparam("keys", expanding=True)),
)
_RENAME_RUN = (
    sa.update(_runs)
    .where(_runs.c.run_uuid == sa.bindparam("run_id"))
    .values(name=sa.bindparam("run_name"))
)

MetricRow = tuple[str, float, int, int, bool, str]


def _chunks(rows: Sequence[T]) -> Iterator[Sequence[T]]:
    for start in range(0, len(rows), MAX_ROWS_PER_STATEMENT):
        yield rows[start : start + MAX_ROWS_PER_STATEMENT]


def _flat(rows: Iterable[tuple[Any, ...]]) -> tuple[Any, ...]:
    return tuple(value for row in rows for value in row)


def metric_rows(run_id: str, metrics: Sequence[Metric]) -> list[MetricRow]:
    """The distinct ``metrics`` rows to store, sorted by their primary key."""
    rows: dict[MetricRow, None] = {}
    for metric in metrics:
        stored = StoredMetricValue.of(metric.value)
        row = (metric.key, stored.value, metric.timestamp, metric.step, stored.is_nan, run_id)
        rows[row] = None
    return sorted(rows, key=lambda r: (r[0], r[2], r[3], r[1], r[4]))


def latest_rows(rows: Sequence[MetricRow]) -> list[MetricRow]:
    """Per key, the row MLflow's latest_metrics keeps: the first with max (step, ts, value)."""
    best: dict[str, MetricRow] = {}
    for row in rows:
        current = best.get(row[0])
        if current is None or (row[3], row[2], row[1]) > (current[3], current[2], current[1]):
            best[row[0]] = row
    return [best[key] for key in sorted(best)]


def write_metrics(conn: Connection, sql: WriteStatements, rows: Sequence[MetricRow]) -> None:
    """Insert history rows (skipping stored duplicates) and move latest_metrics forward."""
    for chunk in _chunks(rows):
        conn.exec_driver_sql(sql.insert_metrics(len(chunk)), _flat(chunk))
    latest = latest_rows(rows)
    for chunk in _chunks(latest):
        conn.exec_driver_sql(sql.upsert_latest_metrics(len(chunk)), _flat(chunk))


def write_params(
    conn: Connection,
    sql: WriteStatements,
    run_id: str,
    params: Sequence[Param],
    *,
    single: bool = False,
) -> None:
    """Params are write-once: the same value again is accepted, another is refused.

    ``single`` words the refusal as MLflow's log_param does; otherwise as its log_batch.
    """
    if not params:
        return
    keys = [p.key for p in params]
    existing = dict(conn.execute(_PARAMS_OF_RUN, {"run_id": run_id, "keys": keys}).all())
    _refuse_changes(run_id, params, existing, single)
    new = sorted((p.key, p.value, run_id) for p in params if p.key not in existing)
    inserted = 0
    for chunk in _chunks(new):
        inserted += conn.exec_driver_sql(sql.insert_params(len(chunk)), _flat(chunk)).rowcount
    if inserted < len(new):
        # Another writer logged some of these keys since we looked: compare with its values.
        existing = dict(conn.execute(_PARAMS_OF_RUN, {"run_id": run_id, "keys": keys}).all())
        _refuse_changes(run_id, params, existing, single)


def _refuse_changes(
    run_id: str, params: Sequence[Param], existing: dict[str, str], single: bool
) -> None:
    changed = [
        {"key": p.key, "old_value": existing[p.key], "new_value": p.value}
        for p in params
        if p.key in existing and existing[p.key] != p.value
    ]
    if not changed:
        return
    if single:
        first = changed[0]
        raise MlflowCoreError.invalid_parameter_value(
            f"Changing param values is not allowed. Param with key='{first['key']}' was already"
            f" logged with value='{first['old_value']}' for run ID='{run_id}'. Attempted logging"
            f" new value '{first['new_value']}'."
        )
    raise MlflowCoreError.invalid_parameter_value(
        f"Changing param values is not allowed. Params were already logged='{changed}' for"
        f" run ID='{run_id}'."
    )


def write_tags(conn: Connection, sql: WriteStatements, run_id: str, tags: Sequence[RunTag]) -> None:
    """Insert or overwrite tags (the last value of a key given twice wins).

    ``mlflow.runName`` renames the run too; an empty name changes nothing, as in MLflow.
    """
    values: dict[str, str] = {}
    for tag in tags:
        if tag.key == RUN_NAME_TAG and not tag.value:
            continue
        values[tag.key] = tag.value
    if RUN_NAME_TAG in values:
        conn.execute(_RENAME_RUN, {"run_id": run_id, "run_name": values[RUN_NAME_TAG]})
    rows = [(key, values[key], run_id) for key in sorted(values)]
    for chunk in _chunks(rows):
        conn.exec_driver_sql(sql.upsert_tags(len(chunk)), _flat(chunk))
