"""The opt-in run-search indexes on PostgreSQL: made and removed by command, used by search,
invisible to MLflow (its store opens the database and writes long values as before)."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from click.testing import CliRunner
from mlflow.entities import Param, RunTag
from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore

from mlflow_core.adapters.sql.database import mlflow_store_uri
from mlflow_core.adapters.sql.run_search import run_ids_statement
from mlflow_core.adapters.sql.search_indexes import (
    SEARCH_INDEXES,
    search_indexes_present,
)
from mlflow_core.domain.experiments import ViewType
from mlflow_core.entrypoints.cli.main import cli
from mlflow_core.ports.tracking import RunSearch
from mlflow_core.search.runs import parse_run_search
from tests.support.databases import fresh_database
from tests.support.postgres_plans import plan_on_an_indexed_database

NAMES = {index.name for index in SEARCH_INDEXES}


def _indexes(uri: str) -> set[str]:
    engine = sa.create_engine(mlflow_store_uri(uri))
    try:
        inspector = sa.inspect(engine)
        return {
            index["name"]
            for table in ("params", "tags", "latest_metrics", "runs")
            for index in inspector.get_indexes(table)
            if index["name"]
        }
    finally:
        engine.dispose()


def _revision(uri: str) -> str:
    engine = sa.create_engine(mlflow_store_uri(uri))
    try:
        with engine.connect() as conn:
            return str(conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalar())
    finally:
        engine.dispose()


def _command(*args: str) -> str:
    result = CliRunner().invoke(cli, ["db", *args])
    assert result.exit_code == 0, result.output
    return result.output


def test_made_and_removed_by_command_and_invisible_to_mlflow(tmp_path: Path) -> None:
    with fresh_database("postgresql", tmp_path) as uri:
        SqlAlchemyStore(mlflow_store_uri(uri), str(tmp_path)).engine.dispose()
        before, revision = _indexes(uri), _revision(uri)

        assert _command("create-search-indexes", uri).startswith("built ")
        assert _indexes(uri) == before | NAMES
        assert "were all there" in _command("create-search-indexes", uri)
        assert _revision(uri) == revision

        # MLflow's store opens the database (its schema check) and writes values longer than
        # a btree entry can hold: the long ones go to the key-only partial indexes.
        store = SqlAlchemyStore(mlflow_store_uri(uri), str(tmp_path))
        run = store.create_run("0", "ann", 1, [], "long")
        store.log_batch(
            run.info.run_id,
            metrics=[],
            params=[Param("p", "é" * 6000)],
            tags=[RunTag("t", "x" * 8000)],
        )
        assert store.get_run(run.info.run_id).data.params["p"] == "é" * 6000
        store.engine.dispose()

        assert _command("drop-search-indexes", uri).startswith("dropped ")
        assert _indexes(uri) == before
        assert "no search indexes" in _command("drop-search-indexes", uri)


def test_an_invalid_index_is_not_used_and_is_rebuilt(tmp_path: Path) -> None:
    with fresh_database("postgresql", tmp_path) as uri:
        SqlAlchemyStore(mlflow_store_uri(uri), str(tmp_path)).engine.dispose()
        _command("create-search-indexes", uri)
        engine = sa.create_engine(mlflow_store_uri(uri))
        try:
            with engine.begin() as conn:
                # What a concurrent build that failed leaves behind.
                conn.exec_driver_sql(
                    "UPDATE pg_index SET indisvalid = false "
                    "WHERE indexrelid = 'mlflow_core_params_short_values'::regclass"
                )
            with engine.connect() as conn:
                assert not search_indexes_present(conn)
            assert "mlflow_core_params_short_values" in _command("create-search-indexes", uri)
            with engine.connect() as conn:
                assert search_indexes_present(conn)
        finally:
            engine.dispose()


def test_a_database_indexed_before_the_runs_index_keeps_its_value_indexes_in_use(
    tmp_path: Path,
) -> None:
    with fresh_database("postgresql", tmp_path) as uri:
        SqlAlchemyStore(mlflow_store_uri(uri), str(tmp_path)).engine.dispose()
        _command("create-search-indexes", uri)
        engine = sa.create_engine(mlflow_store_uri(uri))
        try:
            with engine.begin() as conn:
                conn.exec_driver_sql("DROP INDEX mlflow_core_runs_experiment_order")
            with engine.connect() as conn:
                assert search_indexes_present(conn)
            output = _command("create-search-indexes", uri)
            assert "mlflow_core_runs_experiment_order" in output
            assert "mlflow_core_params_short_values" not in output
            assert _indexes(uri) >= NAMES
        finally:
            engine.dispose()


def _plan_on_an_indexed_database(
    tmp_path: Path, filter_string: str | None, order_by: list[str], settings: list[str]
) -> str:
    """The generic plan of a search's run-id statement on a new indexed (empty) database."""
    query = parse_run_search(filter_string, order_by)
    statement = run_ids_statement(
        "default", RunSearch([0], ViewType.ACTIVE_ONLY, query, 0, 100), "postgresql", True
    )
    return plan_on_an_indexed_database(tmp_path, statement, settings)


def test_search_reads_the_indexes(tmp_path: Path) -> None:
    # (The metric index has no predicate; whether it is used is up to statistics.)
    plan = _plan_on_an_indexed_database(
        tmp_path,
        "params.p = 'a' AND tags.t = 'b'",
        ["params.q", "tags.u DESC"],
        ["SET enable_seqscan = off", "SET enable_bitmapscan = off"],
    )
    for name in (
        "mlflow_core_params_short_values",
        "mlflow_core_params_long_values",
        "mlflow_core_tags_short_values",
        "mlflow_core_tags_long_values",
    ):
        assert name in plan, plan


def test_an_unfiltered_page_in_mlflows_default_order_is_read_from_the_runs_index(
    tmp_path: Path,
) -> None:
    # With sorting priced out, a plan without a Sort node reads the runs in MLflow's order
    # from the index and stops after the page.
    plan = _plan_on_an_indexed_database(
        tmp_path, None, [], ["SET enable_seqscan = off", "SET enable_sort = off"]
    )
    assert "mlflow_core_runs_experiment_order" in plan, plan
    assert "Sort" not in plan, plan


@pytest.mark.parametrize("command", ["create-search-indexes", "drop-search-indexes"])
def test_other_databases_are_refused(tmp_path: Path, command: str) -> None:
    result = CliRunner().invoke(cli, ["db", command, f"sqlite:///{tmp_path / 'x.db'}"])
    assert result.exit_code == 2
    assert "PostgreSQL only" in result.output
    assert not (tmp_path / "x.db").exists()
