"""Experiments on real databases, through the public library API and the SQL adapter."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
import sqlalchemy as sa

import mlflow_core
from mlflow_core import ErrorCode, ExperimentTag, LifecycleStage, MlflowCoreError, ViewType
from mlflow_core.adapters.sql.database import mlflow_store_uri
from mlflow_core.services.tracking import TrackingService
from tests.support.databases import SharedDatabase


def _error(fn, *args, **kwargs) -> MlflowCoreError:
    with pytest.raises(MlflowCoreError) as info:
        fn(*args, **kwargs)
    return info.value


def test_default_experiment_exists_on_a_new_database(
    tracking: TrackingService, shared_database: SharedDatabase
) -> None:
    default = tracking.get_experiment("0")
    assert default.name == "Default"
    assert default.artifact_location == f"{shared_database.artifacts}/0"
    assert default.workspace == "default"


def test_lifecycle_of_an_experiment(tracking: TrackingService) -> None:
    experiment_id = tracking.create_experiment(
        "lifecycle", tags=[ExperimentTag("a", "1"), ExperimentTag("b", "")]
    )
    assert tracking.get_experiment(experiment_id).tags == {"a": "1", "b": ""}
    by_name = tracking.get_experiment_by_name("lifecycle")
    assert by_name is not None
    assert by_name.experiment_id == experiment_id

    tracking.set_experiment_tag(experiment_id, ExperimentTag("a", "2"))
    tracking.delete_experiment_tag(experiment_id, "b")
    assert tracking.get_experiment(experiment_id).tags == {"a": "2"}

    tracking.rename_experiment(experiment_id, "renamed")
    assert tracking.get_experiment_by_name("lifecycle") is None
    tracking.delete_experiment(experiment_id)
    assert tracking.get_experiment(experiment_id).lifecycle_stage is LifecycleStage.DELETED
    # a deleted experiment's name stays taken, as in MLflow
    assert _error(tracking.create_experiment, "renamed").error_code is (
        ErrorCode.RESOURCE_ALREADY_EXISTS
    )
    tracking.restore_experiment(experiment_id)
    assert tracking.get_experiment(experiment_id).lifecycle_stage is LifecycleStage.ACTIVE


def test_constraint_violations_answer_like_mlflow(tracking: TrackingService) -> None:
    first = tracking.create_experiment("one")
    tracking.create_experiment("two")
    taken = _error(tracking.create_experiment, "one")
    assert taken.message == (
        "Experiment(name=one) already exists. Error: (sqlite3.IntegrityError) UNIQUE "
        "constraint failed: experiments.workspace, experiments.name"
    )
    duplicate_tag = _error(
        tracking.create_experiment, "three", tags=[ExperimentTag("k", "1"), ExperimentTag("k", "2")]
    )
    assert duplicate_tag.error_code is ErrorCode.RESOURCE_ALREADY_EXISTS
    assert tracking.get_experiment_by_name("three") is None  # nothing half-written
    rename = _error(tracking.rename_experiment, first, "two")
    assert rename.error_code is ErrorCode.BAD_REQUEST
    assert tracking.get_experiment(first).name == "one"


def test_delete_marks_runs_and_restore_revives_them(
    tracking: TrackingService, shared_database: SharedDatabase
) -> None:
    from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore

    experiment_id = tracking.create_experiment("with-runs")
    theirs = SqlAlchemyStore(mlflow_store_uri(shared_database.uri), shared_database.artifacts)
    runs = [theirs.create_run(experiment_id, "u", 0, [], f"r{i}") for i in range(3)]
    tracking.delete_experiment(experiment_id)
    for run in runs:
        info = theirs.get_run(run.info.run_id).info
        assert info.lifecycle_stage == "deleted"
    tracking.restore_experiment(experiment_id)
    for run in runs:
        assert theirs.get_run(run.info.run_id).info.lifecycle_stage == "active"
    theirs.engine.dispose()


def test_search_pages_filters_and_orders(tracking: TrackingService) -> None:
    ids = [
        tracking.create_experiment(f"exp-{i:02d}", tags=[ExperimentTag("parity", str(i % 2))])
        for i in range(12)
    ]
    tracking.delete_experiment(ids[0])
    collected: list[str] = []
    token = None
    while True:
        page = tracking.search_experiments(
            max_results=5,
            order_by=["name ASC"],
            filter_string="name LIKE 'exp-%'",
            page_token=token,
        )
        collected += [e.name for e in page]
        if not (token := page.next_page_token):
            break
    assert collected == [f"exp-{i:02d}" for i in range(1, 12)]
    odd = tracking.search_experiments(filter_string="tags.parity = '1'", view_type=ViewType.ALL)
    assert sorted(e.name for e in odd) == [f"exp-{i:02d}" for i in range(1, 12, 2)]
    assert all(e.tags == {"parity": "1"} for e in odd)


def test_concurrent_tag_writers_lose_nothing(
    tracking: TrackingService, shared_database: SharedDatabase
) -> None:
    if shared_database.kind == "sqlite":
        pytest.skip("SQLite serializes writers with a file lock; concurrency is a server-DB matter")
    experiment_id = tracking.create_experiment("contended")
    errors: list[BaseException] = []

    def writer(n: int) -> None:
        try:
            for i in range(10):
                tracking.set_experiment_tag(experiment_id, ExperimentTag(f"k{i}", f"w{n}"))
                tracking.set_experiment_tag(experiment_id, ExperimentTag(f"own{n}", str(i)))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    tags = tracking.get_experiment(experiment_id).tags
    assert {f"own{n}": "9" for n in range(4)}.items() <= tags.items()
    assert all(tags[f"k{i}"].startswith("w") for i in range(10))
    assert len(tags) == 14


def test_database_written_by_us_reads_the_same_in_mlflow(
    tracking: TrackingService, shared_database: SharedDatabase
) -> None:
    from mlflow.entities import ViewType as MlflowViewType
    from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore

    kept = tracking.create_experiment("kept", tags=[ExperimentTag("x", "y")])
    gone = tracking.create_experiment("gone")
    tracking.delete_experiment(gone)
    theirs = SqlAlchemyStore(mlflow_store_uri(shared_database.uri), shared_database.artifacts)
    try:
        for experiment_id in ("0", kept, gone):
            mine = tracking.get_experiment(experiment_id)
            other = theirs.get_experiment(experiment_id)
            assert (other.name, other.artifact_location, other.lifecycle_stage, other.tags) == (
                mine.name,
                mine.artifact_location,
                mine.lifecycle_stage.value,
                dict(mine.tags),
            )
            assert (other.creation_time, other.last_update_time) == (
                mine.creation_time,
                mine.last_update_time,
            )
        listed = theirs.search_experiments(view_type=MlflowViewType.ALL)
        assert sorted(e.name for e in listed) == ["Default", "gone", "kept"]
        # and MLflow can keep writing to it
        theirs.create_experiment("written-by-mlflow")
    finally:
        theirs.engine.dispose()
    assert tracking.get_experiment_by_name("written-by-mlflow") is not None


def test_database_written_by_mlflow_reads_the_same_here(db_kind: str, tmp_path: Path) -> None:
    from mlflow.entities import ExperimentTag as MlflowTag
    from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore

    from tests.support.databases import fresh_database

    with fresh_database(db_kind, tmp_path) as uri:
        theirs = SqlAlchemyStore(mlflow_store_uri(uri), str(tmp_path / "a"))
        made = theirs.create_experiment("theirs", tags=[MlflowTag("t", "v")])
        theirs.set_experiment_tag(made, MlflowTag("u", "w"))
        reference = theirs.get_experiment(made)
        theirs.engine.dispose()

        tracking = mlflow_core.tracking_service(uri, str(tmp_path / "a"))
        try:
            mine = tracking.get_experiment(made)
            assert (mine.name, mine.artifact_location, dict(mine.tags)) == (
                reference.name,
                reference.artifact_location,
                reference.tags,
            )
            assert mine.creation_time == reference.creation_time
            tracking.create_experiment("ours-after-theirs")
        finally:
            tracking.store.close()
        engine = sa.create_engine(mlflow_store_uri(uri))
        with engine.connect() as conn:
            assert conn.execute(sa.text("SELECT COUNT(*) FROM experiments")).scalar() == 3
        engine.dispose()
