"""A runs page ordered first by a metric, read from the metric index before ``runs``.

Our usual statement (``run_search``) starts from the runs of the searched experiments, joins
the filters and the order keys to every one of them, and sorts what matches: at 100,000 runs
that reading and its joins are most of a filtered search's time, whatever the page. With the
opt-in search indexes on PostgreSQL, a page ordered first by a metric can start from that
metric's index instead: the runs whose metric is a number and that pass the metric, param and
tag filters come from the value indexes alone (index-only scans joined by hash, or the metric
index read in order when nothing filters), sorted on the metric; ``runs`` is then read by
primary key in that order, checking experiment, stage and the other filters, and PostgreSQL
stops once the page's last group of equal values is complete (an incremental sort on
``start_time DESC, run_uuid`` within a group). The rows and their order are the usual
statement's: MLflow orders the runs whose metric is NaN, then those without it, after all
numbers, so when the page runs past the numbers, the rest is the usual statement's page of the
runs that have no number for the metric.

Where it is not used (the store decides): where the searched experiments hold a small share
of all runs (the value indexes span every experiment), and where many runs share the metric's
first value in the order (a constant metric: the incremental sort would read ``runs`` for all
of them; measured 15-20% slower than the usual statement, docs/performance.md). Params and
tags are not read this way: their few distinct values make groups too large to gain
(measured).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Final

import sqlalchemy as sa
from sqlalchemy.sql import Select

from mlflow_core.adapters.sql import tables
from mlflow_core.adapters.sql.run_search import (
    NO_NUMBER,
    VALUE_KINDS,
    clause_condition,
    hashable,
    in_scope,
    order_terms,
)
from mlflow_core.ports.tracking import RunSearch
from mlflow_core.search.runs import RunFilterClause, RunSearchQuery

# How many runs may share the metric's first value before the usual statement is cheaper
# (each costs a read of ``runs`` by key; the usual statement's reading of 100,000 runs costs
# about as much as 50,000 such reads).
TIE_CAP: Final = 1000

_runs = tables.runs
_metrics = tables.latest_metrics


def orders_first_by_a_metric(search: RunSearch) -> bool:
    """Whether ``metric_first_page`` applies: a bounded page whose first order key is a metric."""
    order_by = search.query.order_by
    return search.limit is not None and bool(order_by) and order_by[0].kind == "metric"


@dataclass(frozen=True)
class MetricFirstPage:
    """The statements of one metric-first page.

    ``top_ties``: how many runs of any experiment (at most its parameter ``cap``) share the
    metric's first value in the order. ``present``: the page's slice of the matching runs whose
    metric is a number. ``present_count``: how many those are. ``rest``: the search of the
    other matching runs (NaN or no metric), whose offset and limit are set from what
    ``present`` returned.
    """

    top_ties: Select[Any]
    present: Select[Any]
    present_count: Select[Any]
    rest: RunSearch


def metric_first_page(workspace: str, search: RunSearch) -> MetricFirstPage:
    """The statements for ``search`` (``orders_first_by_a_metric``); built once per search."""
    return _metric_first_page(workspace, hashable(search))


@lru_cache(maxsize=256)
def _metric_first_page(workspace: str, search: RunSearch) -> MetricFirstPage:
    first = search.query.order_by[0]
    keyed = _metrics.alias("order_1")
    value = keyed.c.value
    clauses = search.query.clauses
    # Numbers only: MLflow orders NaNs and runs without the metric after them, and the metric
    # index gives the numbers in order (without a filter nothing is sorted at all).
    candidates = sa.select(keyed.c.run_uuid, value.label("value_1")).where(
        keyed.c.key == first.key,
        keyed.c.is_nan == sa.false(),
        *(
            clause_condition(clause, "postgresql", True, keyed.c.run_uuid)
            for clause in clauses
            if clause.kind in VALUE_KINDS
        ),
    )
    run_filters = [
        *in_scope(workspace, search),
        *(
            clause_condition(clause, "postgresql", True)
            for clause in clauses
            if clause.kind not in VALUE_KINDS
        ),
    ]
    counted = candidates.offset(0).subquery("candidates")
    present_count = (
        sa.select(sa.func.count())
        .select_from(counted.join(_runs, _runs.c.run_uuid == counted.c.run_uuid))
        .where(*run_filters)
    )
    by_value = value if first.ascending else value.desc()
    found = candidates.order_by(by_value).offset(0).subquery("candidates")
    source: Any = found.join(_runs, _runs.c.run_uuid == found.c.run_uuid)
    # The candidates' own order first, so PostgreSQL sees it as presorted.
    order: list[Any] = [found.c.value_1 if first.ascending else found.c.value_1.desc()]
    for index, key in enumerate(search.query.order_by[1:], start=2):
        key_value, key_flag, source = order_terms(key, index, _runs, source, True)
        order += [key_flag, key_value if key.ascending else key_value.desc()]
    if not search.query.orders_by_start_time:
        order.append(_runs.c.start_time.desc())
    order.append(found.c.run_uuid)
    present = (
        sa.select(found.c.run_uuid)
        .select_from(source)
        .where(*run_filters)
        .order_by(*order)
        .offset(search.offset)
        .limit(search.limit)
    )
    no_number = RunFilterClause(first.kind, first.key, NO_NUMBER, None)
    rest = RunSearch(
        search.experiment_ids,
        search.view_type,
        RunSearchQuery((*clauses, no_number), search.query.order_by),
        search.offset,
        search.limit,
    )
    return MetricFirstPage(_top_ties(first.key, first.ascending), present, present_count, rest)


def _top_ties(key: str, ascending: bool) -> Select[Any]:
    """Counts up to the bound ``cap``."""
    numbers = (_metrics.c.key == key, _metrics.c.is_nan == sa.false())
    extreme = sa.func.min(_metrics.c.value) if ascending else sa.func.max(_metrics.c.value)
    top = sa.select(extreme).where(*numbers).scalar_subquery()
    tied = (
        sa.select(_metrics.c.run_uuid)
        .where(*numbers, _metrics.c.value == top)
        .limit(sa.bindparam("cap", type_=sa.Integer))
    )
    return sa.select(sa.func.count()).select_from(tied.subquery("tied"))
