"""Reading metric histories: keyset-paged full histories and MLflow's sampled bulk interval.

A history of a million points must not be held at once (MLflow issue #23702: a server killed
by one get-history), so ``history_chunks`` reads a bounded chunk per short read scope and
continues after the last point seen, on the metrics primary key's own order.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from mlflow_core.adapters.sql import tables
from mlflow_core.adapters.sql.database import Database
from mlflow_core.ports.runs import MetricPoint

_m = tables.metrics
_COLUMNS = (_m.c.value, _m.c.timestamp, _m.c.step, _m.c.is_nan)
_OF_KEY = (_m.c.run_uuid == sa.bindparam("run_id"), _m.c.key == sa.bindparam("key"))
# MLflow orders by (timestamp, step, value); is_nan completes the primary key so the order is
# total and a chunk can continue exactly after the previous one.
_ORDER = (_m.c.timestamp, _m.c.step, _m.c.value, _m.c.is_nan)
_FIRST_CHUNK = (
    sa.select(*_COLUMNS)
    .where(*_OF_KEY)
    .order_by(*_ORDER)
    .limit(sa.bindparam("n"))
    .offset(sa.bindparam("skip"))
)
_NEXT_CHUNK = (
    sa.select(*_COLUMNS)
    .where(*_OF_KEY)
    .where(
        sa.tuple_(*_ORDER)
        > sa.tuple_(
            sa.bindparam("ts"), sa.bindparam("st"), sa.bindparam("val"), sa.bindparam("nan")
        )
    )
    .order_by(*_ORDER)
    .limit(sa.bindparam("n"))
)


def _point(key: str, row: Any) -> MetricPoint:
    return MetricPoint(key, math.nan if row.is_nan else row.value, row.timestamp, row.step)


class _HistorySql:
    """The two chunk reads as driver SQL for one dialect (the history's hot loop: rows come
    back as plain tuples, without per-row result processing). Parameters are positional:
    run id, key, then (first chunk) limit and offset, or (next chunk) the last point's
    timestamp, step, value and is_nan, then the limit."""

    def __init__(self, database: Database) -> None:
        q = database.engine.dialect.identifier_preparer.quote
        mark = "?" if database.dialect == "sqlite" else "%s"
        order = ", ".join(q(c) for c in ("timestamp", "step", "value", "is_nan"))
        head = (
            f"SELECT {q('value')}, {q('timestamp')}, {q('step')}, {q('is_nan')} FROM metrics "
            f"WHERE run_uuid = {mark} AND {q('key')} = {mark}"
        )
        self.first = f"{head} ORDER BY {order} LIMIT {mark} OFFSET {mark}"
        self.next = (
            f"{head} AND ({order}) > ({mark}, {mark}, {mark}, {mark}) ORDER BY {order} LIMIT {mark}"
        )


# By (dialect, driver): the compiled text depends on nothing else.
_HISTORY_SQL: dict[tuple[str, str], _HistorySql] = {}


def history_chunks(
    database: Database, run_id: str, key: str, offset: int, limit: int | None, chunk_size: int
) -> Iterator[list[MetricPoint]]:
    flavour = (database.engine.dialect.name, database.engine.dialect.driver)
    sql = _HISTORY_SQL.get(flavour)
    if sql is None:
        sql = _HISTORY_SQL[flavour] = _HistorySql(database)
    remaining = limit
    last: Any = None
    nan = math.nan
    while remaining is None or remaining > 0:
        n = chunk_size if remaining is None else min(chunk_size, remaining)
        params: tuple[Any, ...]
        with database.connect() as conn:
            if last is None:
                statement, params = sql.first, (run_id, key, n, offset)
            else:
                value, timestamp, step, is_nan = last
                statement = sql.next
                params = (run_id, key, timestamp, step, value, bool(is_nan), n)
            rows = conn.exec_driver_sql(statement, params).fetchall()
        if not rows:
            return
        yield [
            MetricPoint(key, nan if is_nan else value, timestamp, step)
            for value, timestamp, step, is_nan in rows
        ]
        if len(rows) < n:
            return
        last = rows[-1]
        if remaining is not None:
            remaining -= len(rows)


_SAMPLE_ORDER = (_m.c.step, _m.c.timestamp, _m.c.value, _m.c.is_nan)


def _sample_statements(with_steps: bool) -> tuple[sa.Select[Any], sa.Select[Any]]:
    where = [*_OF_KEY]
    if with_steps:
        where += [_m.c.step >= sa.bindparam("start"), _m.c.step <= sa.bindparam("end")]
    bucketed = (
        sa.select(
            *_COLUMNS,
            sa.func.ntile(sa.bindparam("buckets", type_=sa.Integer))
            .over(order_by=_SAMPLE_ORDER)
            .label("bucket"),
        )
        .where(*where)
        .subquery()
    )
    b = bucketed.c
    ranked = sa.select(
        b.value,
        b.timestamp,
        b.step,
        b.is_nan,
        sa.func.row_number()
        .over(partition_by=b.bucket, order_by=(b.step, b.timestamp, b.value, b.is_nan))
        .label("rn"),
    ).subquery()
    r = ranked.c
    firsts = (
        sa.select(r.value, r.timestamp, r.step, r.is_nan)
        .where(r.rn == 1)
        .order_by(r.step, r.timestamp, r.value, r.is_nan)
    )
    last = sa.select(*_COLUMNS).where(*where).order_by(*(c.desc() for c in _SAMPLE_ORDER)).limit(1)
    return firsts, last


_SAMPLES = {with_steps: _sample_statements(with_steps) for with_steps in (False, True)}


def _row_key(row: Any) -> tuple[Any, ...]:
    return (row.step, row.timestamp, None if row.is_nan else row.value, row.is_nan)


def sample_history(
    conn: Connection,
    run_id: str,
    key: str,
    max_results: int,
    steps: tuple[int, int] | None,
) -> list[MetricPoint]:
    firsts, last_statement = _SAMPLES[steps is not None]
    params: dict[str, Any] = {"run_id": run_id, "key": key, "buckets": max_results}
    if steps is not None:
        params.update(start=steps[0], end=steps[1])
    rows = list(conn.execute(firsts, params).all())
    last = conn.execute(last_statement, params).first()
    if last is not None and (not rows or _row_key(rows[-1]) != _row_key(last)):
        if len(rows) >= max_results:
            rows[-1] = last
        else:
            rows.append(last)
    return [_point(key, row) for row in rows]


def sampled_histories(
    database: Database,
    run_ids: Sequence[str],
    key: str,
    max_results: int,
    steps: tuple[int, int] | None,
) -> list[tuple[str, MetricPoint]]:
    out: list[tuple[str, MetricPoint]] = []
    with database.connect() as conn:
        for run_id in run_ids:
            out.extend((run_id, p) for p in sample_history(conn, run_id, key, max_results, steps))
    return out
