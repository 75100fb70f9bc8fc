"""Runs on real databases, through the library API and the SQL adapter, read back by MLflow."""

from __future__ import annotations

import math

import pytest
import sqlalchemy as sa

from mlflow_core import ErrorCode, LifecycleStage, MlflowCoreError
from mlflow_core.adapters.sql.database import mlflow_store_uri
from mlflow_core.domain.runs import (
    Dataset,
    DatasetInput,
    InputTag,
    LoggedModelOutput,
    Metric,
    Param,
    RunStatus,
    RunTag,
)
from mlflow_core.services.tracking import TrackingService
from tests.support.databases import SharedDatabase


def _error(fn, *args, **kwargs) -> MlflowCoreError:
    with pytest.raises(MlflowCoreError) as info:
        fn(*args, **kwargs)
    return info.value


def _count(tracking: TrackingService, table: str, run_id: str) -> int:
    database = tracking.store.database  # type: ignore[attr-defined]
    with database.engine.connect() as conn:
        return int(
            conn.execute(
                sa.text(f"SELECT COUNT(*) FROM {table} WHERE run_uuid = :r"), {"r": run_id}
            ).scalar_one()
        )


def test_create_and_get_a_run(tracking: TrackingService, shared_database: SharedDatabase) -> None:
    experiment_id = tracking.create_experiment("runs")
    run = tracking.create_run(
        experiment_id, user_id="ann", start_time=123, tags=[RunTag("team", "core")]
    )
    info = run.info
    assert info.experiment_id == experiment_id
    assert info.user_id == "ann"
    assert info.start_time == 123
    assert info.status is RunStatus.RUNNING
    assert info.lifecycle_stage is LifecycleStage.ACTIVE
    root = shared_database.artifacts
    assert info.artifact_uri == f"{root}/{experiment_id}/{info.run_id}/artifacts"
    # A generated name, mirrored in the mlflow.runName tag.
    assert info.run_name
    assert run.tags["mlflow.runName"] == info.run_name
    fetched = tracking.get_run(info.run_id)
    assert fetched.info == info
    assert fetched.tags == {"team": "core", "mlflow.runName": info.run_name}
    assert _error(tracking.get_run, "missing").error_code is ErrorCode.RESOURCE_DOES_NOT_EXIST


def test_run_name_and_tag_stay_in_sync(tracking: TrackingService) -> None:
    run_id = tracking.create_run("0", run_name="first").info.run_id
    tracking.set_tag(run_id, RunTag("mlflow.runName", "second"))
    assert tracking.get_run(run_id).info.run_name == "second"
    tracking.update_run(run_id, run_name="third")
    run = tracking.get_run(run_id)
    assert (run.info.run_name, run.tags["mlflow.runName"]) == ("third", "third")
    tracking.log_batch(run_id, tags=[RunTag("mlflow.runName", "fourth")])
    run = tracking.get_run(run_id)
    assert (run.info.run_name, run.tags["mlflow.runName"]) == ("fourth", "fourth")
    conflict = _error(tracking.create_run, "0", run_name="a", tags=[RunTag("mlflow.runName", "b")])
    assert conflict.error_code is ErrorCode.INVALID_PARAMETER_VALUE


def test_latest_metrics_follow_step_then_timestamp_then_value(tracking: TrackingService) -> None:
    run_id = tracking.create_run("0", run_name="m").info.run_id
    tracking.log_metric(run_id, Metric("loss", 0.5, timestamp=10, step=2))
    tracking.log_metric(run_id, Metric("loss", 0.1, timestamp=99, step=1))  # older step
    tracking.log_batch(
        run_id,
        metrics=[
            Metric("acc", 1.0, 5, 3),
            Metric("acc", 0.5, 6, 3),  # same step, later timestamp wins
            Metric("acc", 0.2, 6, 3),  # same step and timestamp, smaller value loses
            Metric("nan", math.nan, 1, 0),
            Metric("inf", math.inf, 1, 0),
            Metric("ninf", -math.inf, 1, 0),
        ],
    )
    latest = {m.key: m for m in tracking.get_run(run_id).metrics}
    assert (latest["loss"].value, latest["loss"].step) == (0.5, 2)
    assert (latest["acc"].value, latest["acc"].timestamp) == (0.5, 6)
    assert math.isnan(latest["nan"].value)
    # MLflow's SQL store keeps +/-inf as the largest finite doubles.
    assert latest["inf"].value == 1.7976931348623157e308
    assert latest["ninf"].value == -1.7976931348623157e308


def test_resent_and_duplicate_metrics_are_stored_once(tracking: TrackingService) -> None:
    run_id = tracking.create_run("0", run_name="dups").info.run_id
    point = Metric("m", 1.5, 7, 1)
    tracking.log_batch(run_id, metrics=[point, point, Metric("n", math.nan, 1, 0)] * 2)
    tracking.log_metric(run_id, point)
    tracking.log_batch(run_id, metrics=[point, Metric("m", 2.5, 8, 2)])
    assert _count(tracking, "metrics", run_id) == 3
    assert _count(tracking, "latest_metrics", run_id) == 2


def test_params_are_write_once(tracking: TrackingService) -> None:
    run_id = tracking.create_run("0", run_name="p").info.run_id
    tracking.log_param(run_id, Param("lr", "0.1"))
    tracking.log_param(run_id, Param("lr", "0.1"))
    tracking.log_batch(run_id, params=[Param("lr", "0.1"), Param("bs", "32")])
    changed = _error(tracking.log_param, run_id, Param("lr", "0.2"))
    assert changed.message == (
        "Changing param values is not allowed. Param with key='lr' was already logged with "
        f"value='0.1' for run ID='{run_id}'. Attempted logging new value '0.2'."
    )
    in_batch = _error(tracking.log_batch, run_id, params=[Param("bs", "64")])
    assert in_batch.message == (
        "Changing param values is not allowed. Params were already logged="
        "'[{'key': 'bs', 'old_value': '32', 'new_value': '64'}]' for run ID="
        f"'{run_id}'."
    )
    assert tracking.get_run(run_id).params == {"lr": "0.1", "bs": "32"}


def test_a_batch_lands_whole_or_not_at_all(tracking: TrackingService) -> None:
    run_id = tracking.create_run("0", run_name="atomic").info.run_id
    tracking.log_param(run_id, Param("fixed", "1"))
    _error(
        tracking.log_batch,
        run_id,
        metrics=[Metric("m", 1.0, 1, 0)],
        params=[Param("new", "x"), Param("fixed", "2")],
        tags=[RunTag("t", "v")],
    )
    run = tracking.get_run(run_id)
    assert run.params == {"fixed": "1"}
    assert run.metrics == []
    assert "t" not in run.tags
    assert _count(tracking, "metrics", run_id) == 0


def test_deleted_runs_refuse_writes_until_restored(tracking: TrackingService) -> None:
    run_id = tracking.create_run("0", run_name="d").info.run_id
    tracking.update_run(run_id, status=RunStatus.FINISHED, end_time=50)
    tracking.log_metric(run_id, Metric("after-finish", 1.0, 1, 0))  # finished runs accept
    tracking.delete_run(run_id)
    assert tracking.get_run(run_id).info.lifecycle_stage is LifecycleStage.DELETED
    for write in (
        lambda: tracking.log_metric(run_id, Metric("m", 1.0, 1, 0)),
        lambda: tracking.log_param(run_id, Param("p", "1")),
        lambda: tracking.set_tag(run_id, RunTag("t", "1")),
        lambda: tracking.update_run(run_id, status=RunStatus.FAILED),
    ):
        error = _error(write)
        assert error.message == (
            f"The run {run_id} must be in the 'active' state. Current state is deleted."
        )
    tracking.restore_run(run_id)
    tracking.set_tag(run_id, RunTag("t", "1"))
    tracking.delete_tag(run_id, "t")
    assert "t" not in tracking.get_run(run_id).tags
    assert _error(tracking.delete_tag, run_id, "t").error_code is ErrorCode.RESOURCE_DOES_NOT_EXIST


def test_mlflow_reads_runs_written_by_us(
    tracking: TrackingService, shared_database: SharedDatabase
) -> None:
    from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore

    run_id = tracking.create_run("0", user_id="ann", start_time=5, run_name="ours").info.run_id
    tracking.log_batch(
        run_id,
        metrics=[Metric("m", 1.0, 1, 0), Metric("m", 2.0, 2, 1), Metric("n", math.nan, 3, 0)],
        params=[Param("p", "v")],
        tags=[RunTag("t", "x")],
    )
    tracking.update_run(run_id, status=RunStatus.FINISHED, end_time=9)
    store = SqlAlchemyStore(mlflow_store_uri(shared_database.uri), shared_database.artifacts)
    try:
        theirs = store.get_run(run_id)
        history = store.get_metric_history(run_id, "m")
    finally:
        store.engine.dispose()
    ours = tracking.get_run(run_id)
    assert theirs.info.run_name == ours.info.run_name == "ours"
    assert theirs.info.status == "FINISHED"
    assert theirs.info.end_time == 9
    assert theirs.info.artifact_uri == ours.info.artifact_uri
    assert theirs.data.params == dict(ours.params)
    assert theirs.data.tags == dict(ours.tags)
    assert theirs.data.metrics["m"] == 2.0
    assert math.isnan(theirs.data.metrics["n"])
    assert [(h.value, h.step) for h in history] == [(1.0, 0), (2.0, 1)]


def test_inputs_and_outputs_read_back_by_mlflow(
    tracking: TrackingService, shared_database: SharedDatabase
) -> None:
    from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore

    run_id = tracking.create_run("0", run_name="io").info.run_id
    train = DatasetInput(
        Dataset("train", "d1", "local", "{}", schema="{}"), [InputTag("mlflow.data.context", "x")]
    )
    tracking.log_inputs(run_id, [train, train], ["model-a"])
    tracking.log_inputs(run_id, [train, DatasetInput(Dataset("eval", "d2", "local", "{}"))])
    tracking.log_outputs(run_id, [LoggedModelOutput("model-b", 4)])
    ours = tracking.get_run(run_id)
    assert sorted(d.dataset.name for d in ours.dataset_inputs) == ["eval", "train"]
    assert list(ours.model_inputs) == ["model-a"]
    assert list(ours.model_outputs) == [LoggedModelOutput("model-b", 4)]
    store = SqlAlchemyStore(mlflow_store_uri(shared_database.uri), shared_database.artifacts)
    try:
        theirs = store.get_run(run_id)
    finally:
        store.engine.dispose()
    by_name = {d.dataset.name: d for d in theirs.inputs.dataset_inputs}
    assert sorted(by_name) == ["eval", "train"]
    assert [(t.key, t.value) for t in by_name["train"].tags] == [("mlflow.data.context", "x")]
    assert [m.model_id for m in theirs.inputs.model_inputs] == ["model-a"]
    assert [(m.model_id, m.step) for m in theirs.outputs.model_outputs] == [("model-b", 4)]
    too_long = DatasetInput(Dataset("x", "d" * 37, "local", "{}"))
    assert _error(tracking.log_inputs, run_id, [too_long]).message == (
        "'digest' exceeds the maximum length of 36 characters"
    )


def test_a_connection_the_server_closed_is_replaced(
    tracking: TrackingService, shared_database: SharedDatabase, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No ping on a busy connection, but one idle past the threshold is checked first."""
    if shared_database.kind != "postgresql":
        pytest.skip("terminating other sessions is done with PostgreSQL's admin function")
    from mlflow_core.adapters.sql import database as database_module

    run_id = tracking.create_run("0", run_name="reconnect").info.run_id
    monkeypatch.setattr(database_module, "PING_AFTER_IDLE_SECONDS", 0.0)
    url = tracking.store.database.engine.url  # type: ignore[attr-defined]
    admin = sa.create_engine(url, poolclass=sa.pool.NullPool)
    try:
        with admin.connect() as conn:
            killed = conn.exec_driver_sql(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                f"WHERE datname = '{url.database}' AND pid <> pg_backend_pid()"
            ).scalar_one()
    finally:
        admin.dispose()
    assert killed >= 1
    # Every pooled connection is dead now; every call must still succeed.
    try:
        for _ in range(3):
            assert tracking.get_run(run_id).info.run_name == "reconnect"
    finally:
        # The module's later tests share this service: they start on a pool without the dead.
        tracking.store.database.engine.dispose()  # type: ignore[attr-defined]
