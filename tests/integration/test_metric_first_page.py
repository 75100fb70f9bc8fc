"""A runs page ordered first by a metric, read from the metric index (``metric_first_page``,
PostgreSQL with the search indexes): the plan it lets PostgreSQL choose, when the store uses
it, and the pages that run past the runs with the metric. That its pages are MLflow's for any
search is the differential test's ``postgresql-indexed-metricfirst`` target."""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from mlflow.entities import Metric
from mlflow.entities import ViewType as MlflowViewType
from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore

from mlflow_core.adapters.sql.database import Database, mlflow_store_uri
from mlflow_core.adapters.sql.metric_first_page import metric_first_page
from mlflow_core.adapters.sql.search_indexes import create_search_indexes
from mlflow_core.adapters.sql.tracking_store import SqlTrackingStore
from mlflow_core.domain.experiments import ViewType
from mlflow_core.ports.tracking import RunSearch
from mlflow_core.search.runs import parse_run_search
from tests.support.databases import fresh_database
from tests.support.postgres_plans import plan_on_an_indexed_database
from tests.support.sql_statements import recorded_statements


def _search(
    experiment_id: int, filter_string: str | None, order_by: list[str], offset: int = 0
) -> RunSearch:
    query = parse_run_search(filter_string, order_by)
    return RunSearch([experiment_id], ViewType.ACTIVE_ONLY, query, offset, 20)


@pytest.mark.parametrize(
    ("filter_string", "order_by"),
    [
        ("metrics.m > 0.5 AND params.p = 'a'", ["metrics.n DESC"]),
        ("tags.t = 'b' AND attributes.status = 'FINISHED'", ["metrics.n", "params.q DESC"]),
    ],
)
def test_the_runs_are_read_in_the_sorted_candidates_order(
    tmp_path: Path, filter_string: str, order_by: list[str]
) -> None:
    # With a full sort priced out, the page's order must come from the candidates' own: an
    # Incremental Sort presorted on the metric's value, whose runs rows are read as PostgreSQL
    # goes and not all before the sort.
    page = metric_first_page("default", _search(0, filter_string, order_by))
    plan = plan_on_an_indexed_database(tmp_path, page.present, ["SET enable_sort = off"])
    top = [line.strip() for line in plan.splitlines()[:4]]
    assert top[0].startswith("Limit"), plan
    assert top[1].startswith("->  Incremental Sort"), plan
    assert top[3] == "Presorted Key: order_1.value", plan


def test_without_a_filter_the_numbers_are_read_in_order_from_the_metric_index(
    tmp_path: Path,
) -> None:
    # The UI's sort on a metric column: no sort of the candidates, the index read backwards;
    # only the ties within one value are sorted, as PostgreSQL reads them.
    page = metric_first_page("default", _search(0, None, ["metrics.n DESC"]))
    plan = plan_on_an_indexed_database(tmp_path, page.present, ["SET enable_sort = off"])
    assert "Index Only Scan Backward using mlflow_core_latest_metrics_values" in plan, plan
    assert not [line for line in plan.splitlines() if line.strip().startswith("->  Sort")], plan


@pytest.fixture
def experiments(tmp_path: Path) -> Iterator[tuple[str, int, int]]:
    """An indexed database where experiment "big" holds 45 runs and "small" 5, each run with
    a metric ``m`` (7 values) and ``c`` (the same value for all), and fresh statistics: its
    URI and the two experiment ids."""
    with fresh_database("postgresql", tmp_path) as uri:
        mlflow_store = SqlAlchemyStore(mlflow_store_uri(uri), str(tmp_path / "artifacts"))
        try:
            ids = []
            for name, runs in (("big", 45), ("small", 5)):
                experiment_id = mlflow_store.create_experiment(name)
                for index in range(runs):
                    run = mlflow_store.create_run(experiment_id, "u", index, [], None)
                    metrics = [Metric("m", index % 7, 0, 0), Metric("c", 1.0, 0, 0)]
                    mlflow_store.log_batch(run.info.run_id, metrics, [], [])
                ids.append(int(experiment_id))
        finally:
            mlflow_store.engine.dispose()
        assert create_search_indexes(uri)
        engine = sa.create_engine(mlflow_store_uri(uri), isolation_level="AUTOCOMMIT")
        with engine.connect() as conn:
            conn.exec_driver_sql("ANALYZE runs")
        engine.dispose()
        yield uri, ids[0], ids[1]


def _statements_of(store: SqlTrackingStore, search: RunSearch) -> list[str]:
    with recorded_statements(store.database.engine) as seen:
        store.search_run_ids("default", search)
    assert seen
    return seen


def _read_by_metric(statements: list[str]) -> bool:
    return any("candidates" in statement for statement in statements)


def test_used_where_the_searched_experiments_hold_most_runs_and_few_share_the_top_value(
    experiments: tuple[str, int, int],
) -> None:
    uri, big, small = experiments
    store = SqlTrackingStore(Database(uri))
    store.metric_first_tie_cap = 10
    try:
        # The value indexes hold the metrics of every experiment: 90% of the runs are the big
        # one's, 10% the small one's (PostgreSQL's statistics say so after ANALYZE).
        assert _read_by_metric(_statements_of(store, _search(big, None, ["metrics.m DESC"])))
        assert not _read_by_metric(_statements_of(store, _search(small, None, ["metrics.m"])))
        # 50 runs share c's only value (more than the cap of 10); m's top value, 7 or 8.
        assert not _read_by_metric(_statements_of(store, _search(big, None, ["metrics.c"])))
        # Ordered first by a param, or in MLflow's default order: the usual statement.
        assert not _read_by_metric(_statements_of(store, _search(big, None, ["params.p"])))
        assert not _read_by_metric(_statements_of(store, _search(big, None, [])))
    finally:
        store.close()


def test_pages_past_the_numbers_come_from_the_runs_with_nan_then_without_the_metric(
    experiments: tuple[str, int, int], tmp_path: Path
) -> None:
    # 45 runs have a number for m; 2 more have NaN and 3 none: MLflow puts them last, NaNs
    # first, each group in its default order.
    uri, big, _ = experiments
    mlflow_store = SqlAlchemyStore(mlflow_store_uri(uri), str(tmp_path / "artifacts"))
    store = SqlTrackingStore(Database(uri))
    store.metric_first_min_share = 0.0
    try:
        for start_time in (100, 200, 300, 400, 500):
            run = mlflow_store.create_run(str(big), "u", start_time, [], None)
            if start_time > 300:
                mlflow_store.log_metric(run.info.run_id, Metric("m", math.nan, 0, 0))
        everything = mlflow_store.search_runs(
            [str(big)], None, MlflowViewType.ACTIVE_ONLY, 100, ["metrics.m DESC"]
        )
        expected = [run.info.run_id for run in everything]
        assert len(expected) == 50
        # From 46 and 60 on the page starts past the numbers: how many they are is counted.
        for offset in (0, 20, 40, 46, 60):
            search = _search(big, None, ["metrics.m DESC"], offset)
            assert _read_by_metric(_statements_of(store, search))
            assert store.search_run_ids("default", search) == expected[offset : offset + 20]
    finally:
        store.close()
        mlflow_store.engine.dispose()


def test_the_serial_setting_ends_with_the_read(experiments: tuple[str, int, int]) -> None:
    # SET LOCAL in a transaction that is rolled back at once: the rest of the read scope (the
    # page's runs are loaded next on the same connection) and whoever uses the connection
    # next (a pooler's next client) see no transaction and PostgreSQL's own setting.
    uri, big, _ = experiments
    store = SqlTrackingStore(Database(uri))
    during: list[str] = []

    def note_setting(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if "candidates" in statement:
            shown = cursor.connection.execute("SHOW max_parallel_workers_per_gather")
            during.append(shown.fetchone()[0])

    sa.event.listen(store.database.engine, "after_cursor_execute", note_setting)
    try:
        with store.database.connect() as conn:
            default = conn.exec_driver_sql("SHOW max_parallel_workers_per_gather").scalar()
            page = store._page_run_ids(conn, "default", _search(big, None, ["metrics.m DESC"]))
            assert during == ["0"]
            assert len(page) == 20
            driver = conn.connection.driver_connection
            assert driver is not None
            assert driver.info.transaction_status.name == "IDLE"
            setting = conn.exec_driver_sql("SHOW max_parallel_workers_per_gather").scalar()
        assert setting == default
    finally:
        store.close()


def test_in_a_scope_that_is_already_a_transaction_the_setting_lasts_until_it_ends(
    experiments: tuple[str, int, int],
) -> None:
    # Under the in-process shim the store reads through MLflow's engine, whose connections
    # are not in autocommit: the page is read inside the scope's own transaction, which the
    # scope rolls back at its end.
    uri, big, _ = experiments
    engine = sa.create_engine(mlflow_store_uri(uri))
    store = SqlTrackingStore(Database.wrapping(engine, uri))
    try:
        search = _search(big, None, ["metrics.m DESC"])
        assert _read_by_metric(_statements_of(store, search))
        with store.database.connect() as conn:
            page = store._page_run_ids(conn, "default", search)
            setting = conn.exec_driver_sql("SHOW max_parallel_workers_per_gather").scalar()
            driver = conn.connection.driver_connection
            assert driver is not None
            assert driver.info.transaction_status.name == "INTRANS"
        assert setting == "0"
        assert len(page) == 20
        with engine.connect() as conn:
            assert conn.exec_driver_sql("SHOW max_parallel_workers_per_gather").scalar() != "0"
    finally:
        engine.dispose()
